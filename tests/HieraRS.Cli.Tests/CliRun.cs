using HieraRS.Cli;

namespace HieraRS.Cli.Tests;

/// <summary>A run of the <c>hierars</c> command in this process: exit code and what it wrote.</summary>
public sealed record CliRun(int Code, string Out, string Err)
{
    public static CliRun Of(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try { return new CliRun(Program.Main(args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
    }

    /// <summary>The repository root (where scripts/ is), found upward from the test's directory.</summary>
    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "scripts", "setup.sh"))) return d.FullName;
        throw new DirectoryNotFoundException("scripts/setup.sh not found above " + AppContext.BaseDirectory);
    }
}
