namespace HieraRS.Cli;

/// <summary>Counted nouns in messages.</summary>
static class Words
{
    /// <summary>"1 window", "2 windows".</summary>
    public static string Count(long n, string noun) => n == 1 ? $"{n} {noun}" : $"{n} {noun}s";
}
