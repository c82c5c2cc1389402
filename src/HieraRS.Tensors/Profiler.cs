using System.Diagnostics;
using System.Text;

namespace HieraRS.Tensors;

/// <summary>
/// Per-op time in forward and backward, for finding hot spots (off by default). Forward time of an
/// op is the time since the previous recorded op ended, so code between ops is charged to the next op.
/// </summary>
public static class Profiler
{
    static readonly Dictionary<string, (double Ms, long Calls)> totals = new();
    static long last;

    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("HIERARS_PROFILE") == "1";

    public static void Reset()
    {
        lock (totals) totals.Clear();
        last = Stopwatch.GetTimestamp();
    }

    [ThreadStatic] internal static bool InBackward;

    internal static void Forward(string op)
    {
        if (InBackward) return;
        long now = Stopwatch.GetTimestamp();
        Add(op + " fwd", Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
        last = now;
    }

    /// <summary>Restarts the forward clock (after work that is not an op, such as a backward pass).</summary>
    public static void Mark() => last = Stopwatch.GetTimestamp();

    public static void Add(string key, double ms)
    {
        lock (totals)
        {
            var (t, c) = totals.GetValueOrDefault(key);
            totals[key] = (t + ms, c + 1);
        }
    }

    /// <summary>Table of the most expensive entries.</summary>
    public static string Report(int top = 30)
    {
        var sb = new StringBuilder();
        lock (totals)
        {
            double all = totals.Values.Sum(v => v.Ms);
            sb.AppendLine($"{"op",-44} {"ms",10} {"calls",7} {"share",6}");
            foreach (var (k, (ms, c)) in totals.OrderByDescending(kv => kv.Value.Ms).Take(top))
                sb.AppendLine($"{k,-44} {ms,10:F1} {c,7} {100 * ms / all,5:F1}%");
        }
        return sb.ToString();
    }
}
