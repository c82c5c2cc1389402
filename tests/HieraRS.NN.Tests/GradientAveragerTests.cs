using HieraRS.NN.Distributed;
using HieraRS.Tensors;

namespace HieraRS.NN.Tests;

/// <summary>Ranks as threads of this process: every collective meets at a barrier and sums the ranks' values in rank order.</summary>
sealed class ThreadRanks(int size)
{
    readonly Barrier barrier = new(size);
    readonly double[][] slots = new double[size][];

    public ICommunicator Rank(int rank) => new Member(this, rank);

    void Sum(int rank, Span<double> values)
    {
        slots[rank] = values.ToArray();
        barrier.SignalAndWait();
        int n = values.Length;
        if (slots.Any(s => s.Length != n)) // collectives out of step across ranks: what would hang MPI
            throw new InvalidOperationException($"rank {rank}: all-reduce of {values.Length} values, others of {string.Join(", ", slots.Select(s => s.Length))}");
        for (int i = 0; i < values.Length; i++) values[i] = slots.Sum(s => s[i]);
        barrier.SignalAndWait();
    }

    sealed class Member(ThreadRanks group, int rank) : ICommunicator
    {
        public int Rank => rank;
        public int Size => group.slots.Length;
        public void AllReduceSum(Span<double> values) => group.Sum(rank, values);
        public void AllReduceSum(Span<float> values)
        {
            var d = values.ToArray().Select(v => (double)v).ToArray();
            group.Sum(rank, d);
            for (int i = 0; i < d.Length; i++) values[i] = (float)d[i];
        }
        public IPendingReduction StartAllReduceSum(float[] values, int count)
        {
            AllReduceSum(values.AsSpan(0, count));
            return CompletedReduction.Instance;
        }
        public void Broadcast(Span<float> values, int root = 0) => throw new NotSupportedException();
        public void Barrier() => group.barrier.SignalAndWait();
        public void Abort(int code) => throw new InvalidOperationException($"abort {code}");
    }
}

public class GradientAveragerTests
{
    [Fact]
    public void GradientsAreAveragedWhileTheBackwardPassRunsWhateverEachRankReaches()
    {
        // 4 parameters in buckets of at most 4 floats: [d] [c] [b] [a] in reverse order (each + its flag)
        const int ranks = 2;
        var group = new ThreadRanks(ranks);
        var results = new float[ranks][][];
        var nulls = new bool[ranks][];
        var early = new int[ranks];
        var threads = Enumerable.Range(0, ranks).Select(r => new Thread(() =>
        {
            Tensor P(params float[] v) { var t = Tensor.FromArray(v, v.Length); t.RequiresGrad = true; return t; }
            var (a, b, c, d) = (P(1f, 2f), P(3f), P(4f, 5f, 6f), P(7f));
            var averager = new GradientAverager(group.Rank(r), [a, b, c, d], bucketFloats: 4);
            Assert.Equal([2, 4, 2, 3], averager.BucketSizes);
            float k = r + 1; // rank 0 reaches a, b, c; rank 1 only a and c (b is data-dependent); nobody reaches d
            var loss = r == 0 ? ((a * k).Sum() + (b * b).Sum() + (c * a.Sum()).Sum()) : ((a * k).Sum() + (c * a.Sum()).Sum());
            averager.Backward(loss);
            results[r] = [a.Grad!.ToArray(), b.Grad!.ToArray(), c.Grad!.ToArray()];
            nulls[r] = [d.Grad is null];
            early[r] = averager.EarlyStarts;
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();

        // a: k + sum(c) = 16, 17 -> mean 16.5; b: 2b = 6 on rank 0, nothing on rank 1 -> 3; c: sum(a) = 3 on both
        for (int r = 0; r < ranks; r++)
        {
            Assert.Equal([16.5f, 16.5f], results[r][0]);
            Assert.Equal([3f], results[r][1]);
            Assert.Equal([3f, 3f, 3f], results[r][2]);
            Assert.True(nulls[r][0], "a parameter no rank reached keeps a null gradient");
            Assert.Equal(4, early[r]); // every bucket started inside the backward pass
        }
    }
}
