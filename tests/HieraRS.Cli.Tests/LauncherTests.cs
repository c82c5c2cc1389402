using System.Diagnostics;
using HieraRS.Testing;

namespace HieraRS.Cli.Tests;

/// <summary>The `hierars` command that setup installs (issue 12, item 10): scripts/install-launcher.sh run for real.</summary>
public class LauncherTests
{
    static (int Code, string Output) Run(string file, string args, string binDir, string path)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = CliRun.RepoRoot() };
        psi.Environment["HIERARS_BIN_DIR"] = binDir;
        psi.Environment["PATH"] = path;
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    static string SystemPath => Environment.GetEnvironmentVariable("PATH")!;

    [Fact]
    public void InstallsALauncherThatRunsTheBuildAndSaysWhenItsFolderIsNotOnThePath()
    {
        string bin = Path.Combine(SharedData.TempDir(), "bin"); // created by the script
        var (code, output) = Run("bash", "scripts/install-launcher.sh", bin, SystemPath);
        Assert.Equal(0, code);
        Assert.Contains($"installed {bin}/hierars, but {bin} is not on your PATH", output);
        var (runCode, listed) = Run(Path.Combine(bin, "hierars"), "hierarchy list", bin, SystemPath);
        Assert.Equal(0, runCode);
        Assert.Contains("mm5b       4/9/18", listed);

        // again, with the folder on the PATH: replaces its own launcher, and the bare name works
        (code, output) = Run("bash", "scripts/install-launcher.sh", bin, $"{bin}:{SystemPath}");
        Assert.Equal((0, $"installed the hierars command: {bin}/hierars\n"), (code, output));
        (runCode, listed) = Run("sh", "-c \"hierars hierarchy list\"", bin, $"{bin}:{SystemPath}");
        Assert.Equal(0, runCode);
        Assert.Contains("gid        3/5/15", listed);
    }

    [Fact]
    public void LeavesAnotherProgramOfThatNameAlone()
    {
        string bin = SharedData.TempDir();
        string other = Path.Combine(bin, "hierars");
        File.WriteAllText(other, "#!/bin/sh\necho someone else's\n");
        var (code, output) = Run("bash", "scripts/install-launcher.sh", bin, SystemPath);
        Assert.Equal(0, code);
        Assert.Contains("is not a HieraRS launcher; left as it is", output);
        Assert.Equal("#!/bin/sh\necho someone else's\n", File.ReadAllText(other));
    }
}
