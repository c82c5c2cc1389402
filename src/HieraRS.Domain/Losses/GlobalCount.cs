namespace HieraRS.Domain.Losses;

/// <summary>
/// The divisor of a loss averaged over some pixels (those with a valid label path, say) under data
/// parallelism: their count over the whole global batch, divided by the number of processes. Each
/// process divides its own sum by it, so the mean of the processes' losses, and of their gradients, is
/// the global batch's loss, as one process computes it, however unevenly those pixels fall across the
/// processes' parts. Every process must ask in the same order (each call is one all-reduce).
/// </summary>
public sealed class GlobalCount(Action<Span<double>> sumOverProcesses, int processes)
{
    /// <summary>Divisors for several local counts at once (one all-reduce).</summary>
    public double[] Divisors(params double[] local)
    {
        var all = local.ToArray();
        sumOverProcesses(all);
        for (int i = 0; i < all.Length; i++) all[i] /= processes;
        return all;
    }
}
