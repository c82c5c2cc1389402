using HieraRS.Domain.Config;
using HieraRS.Geo;

namespace HieraRS.Cli;

/// <summary>Runs a command, turning the errors a user can fix (bad files, configs, values) into one clear line and exit code 1.</summary>
static class Guard
{
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (e is ConfigException or GdalException or InvalidDataException or FileNotFoundException
            or DirectoryNotFoundException or ArgumentException or KeyNotFoundException or UnauthorizedAccessException or NotSupportedException)
        {
            Fail(e.Message);
            return 1;
        }
    }

    /// <summary>The one form of every error the command prints: <c>error: </c> and the message, on a line of its own.</summary>
    public static void Fail(string message)
    {
        ConsoleProgress.EndLine();
        Console.Error.WriteLine($"error: {message}");
    }
}
