using System.Diagnostics;
using System.Globalization;

namespace HieraRS.Cli;

/// <summary>
/// A progress bar on stderr with rate and ETA. On a terminal it redraws one line; in logs (CI,
/// redirected output) it prints a line at every tenth of the work instead. The rate is measured from
/// the first report on, so a resumed run (starting at iteration k) shows its own speed.
/// </summary>
/// <param name="divisor">counts are shown divided by this (1e6 with unit "Mpx" for pixels).</param>
public sealed class ConsoleProgress(string label, long total, string unit = "it", double divisor = 1)
{
    readonly Stopwatch clock = Stopwatch.StartNew();
    readonly bool tty = !Console.IsErrorRedirected;
    static bool lineOpen; // a bar is drawn on a terminal line that nothing has ended yet
    long lastDecile = -1, firstDone = -1;
    double firstSecs;

    public void Report(long done, string extra = "")
    {
        double secs = clock.Elapsed.TotalSeconds;
        if (firstDone < 0) (firstDone, firstSecs) = (done, secs);
        double rate = done > firstDone && secs > firstSecs ? (done - firstDone) / (secs - firstSecs) / divisor : double.NaN;
        double eta = rate > 0 ? (total - done) / divisor / rate : double.NaN;
        const int Width = 28;
        int fill = total > 0 ? (int)(Width * Math.Min(done, total) / total) : 0;
        string rateText = double.IsNaN(rate) ? "?" : rate.ToString("F2", CultureInfo.InvariantCulture);
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{label} [{new string('#', fill)}{new string('.', Width - fill)}] {Count(done)}/{Count(total)} {rateText} {unit}/s ETA {Format(eta)} {extra}");
        if (tty) Console.Error.Write("\r" + line.PadRight(Console.WindowWidth > 0 ? Math.Min(Console.WindowWidth - 1, 160) : 0));
        else
        {
            long decile = total > 0 ? 10 * done / total : 0;
            if (decile != lastDecile) { lastDecile = decile; Console.Error.WriteLine(line); }
        }
        if (tty && done >= total) Console.Error.WriteLine();
        lineOpen = tty && done < total;
    }

    /// <summary>Ends a bar's open line, so that a message printed next starts on its own.</summary>
    public static void EndLine()
    {
        if (lineOpen) Console.Error.WriteLine();
        lineOpen = false;
    }

    string Count(long n) => divisor == 1 ? n.ToString(CultureInfo.InvariantCulture) : (n / divisor).ToString("F1", CultureInfo.InvariantCulture);

    static string Format(double s) => double.IsNaN(s) ? "?" : TimeSpan.FromSeconds(Math.Round(s)).ToString(s >= 3600 ? @"h\:mm\:ss" : @"m\:ss", CultureInfo.InvariantCulture);
}
