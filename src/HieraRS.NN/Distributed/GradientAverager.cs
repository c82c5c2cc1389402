using HieraRS.Tensors;

namespace HieraRS.NN.Distributed;

/// <summary>
/// Averages the gradients of a model's parameters over the ranks, overlapped with the backward pass
/// (as PyTorch's DDP): the parameters are grouped once, in reverse order (about the order the backward
/// pass finishes them), into buckets of about <see cref="BucketFloats"/> floats; a bucket's all-reduce
/// starts as soon as the autograd engine reports its last parameter final and every earlier bucket has
/// started, so the buckets are reduced in the same order on every rank, whatever the data, while the
/// backward pass goes on. Each parameter carries a presence flag in its bucket: one that no rank
/// reached keeps a null gradient, one that some rank did not reach counts zero there. Each rank's loss
/// is the mean over its equal share of the global batch, so the mean of the ranks' gradients is the
/// gradient of the global batch's loss.
/// </summary>
public sealed class GradientAverager
{
    /// <summary>4 Mi floats (16 MiB) per all-reduce: large enough to reach the network's bandwidth, small enough to start early.</summary>
    public const int BucketFloats = 1 << 22;

    readonly ICommunicator comm;
    readonly List<Bucket> buckets = [];
    readonly Dictionary<Tensor, Bucket> bucketOf = new(ReferenceEqualityComparer.Instance);
    int nextToStart;

    /// <param name="bucketFloats">floats per bucket (tests use small ones); a parameter larger than that has a bucket of its own.</param>
    public GradientAverager(ICommunicator comm, IReadOnlyList<Tensor> parameters, int bucketFloats = BucketFloats)
    {
        this.comm = comm;
        if (comm.Size == 1) return; // one process averages nothing: no buckets (they would hold a copy of every parameter)
        var current = new List<Tensor>();
        int fill = 0;
        foreach (var p in parameters.Reverse())
        {
            if (fill + p.Numel + 1 > bucketFloats && current.Count > 0) { buckets.Add(new Bucket(current)); (current, fill) = ([], 0); }
            current.Add(p);
            fill += p.Numel + 1;
        }
        if (current.Count > 0) buckets.Add(new Bucket(current));
        foreach (var b in buckets)
            foreach (var p in b.Parameters) bucketOf[p] = b;
    }

    /// <summary>How many buckets the last <see cref="Backward"/> started before its backward pass ended (the overlap).</summary>
    public int EarlyStarts { get; private set; }

    /// <summary>The buckets' sizes in floats (parameters and flags), in the order they are reduced.</summary>
    public IReadOnlyList<int> BucketSizes => buckets.Select(b => b.Buffer.Length).ToList();

    /// <summary>Runs <paramref name="loss"/>'s backward pass, reducing gradients while it goes; after it every gradient is the mean over the ranks.</summary>
    public void Backward(Tensor loss)
    {
        if (comm.Size == 1) { loss.Backward(); return; }
        Begin();
        var reached = loss.GraphLeaves();
        foreach (var p in bucketOf.Keys.Where(p => !reached.Contains(p)).ToList()) Ready(p); // final already: nothing will add to them
        loss.Backward(leafReady: Ready);
        EarlyStarts = nextToStart;
        Finish();
    }

    /// <summary>Replaces the gradients already computed by their means over the ranks.</summary>
    public void Average()
    {
        if (comm.Size == 1) return;
        Begin();
        Finish();
    }

    void Begin()
    {
        foreach (var b in buckets) b.Reset();
        nextToStart = EarlyStarts = 0;
    }

    /// <summary>The autograd engine's report: <paramref name="leaf"/>'s gradient is final.</summary>
    void Ready(Tensor leaf)
    {
        if (!bucketOf.TryGetValue(leaf, out var b)) return; // an input, or a frozen tensor
        b.Waiting--;
        while (nextToStart < buckets.Count && buckets[nextToStart].Waiting == 0) Start(buckets[nextToStart++]);
        foreach (var s in buckets.Take(nextToStart)) s.Pending?.Test(); // lets MPI progress the ones in flight
    }

    void Finish()
    {
        while (nextToStart < buckets.Count) Start(buckets[nextToStart++]); // parameters the graph did not reach
        float scale = 1f / comm.Size;
        foreach (var b in buckets)
        {
            b.Pending!.Wait();
            b.Unpack(scale);
        }
    }

    void Start(Bucket b)
    {
        b.Pack();
        b.Pending = comm.StartAllReduceSum(b.Buffer, b.Buffer.Length);
    }

    /// <summary>Some parameters' gradients, then one presence flag per parameter, in one buffer reduced at once.</summary>
    sealed class Bucket(List<Tensor> parameters)
    {
        public readonly List<Tensor> Parameters = parameters;
        public readonly float[] Buffer = GC.AllocateArray<float>(parameters.Sum(p => p.Numel) + parameters.Count, pinned: true);
        public int Waiting;
        public IPendingReduction? Pending;

        public void Reset() => (Waiting, Pending) = (Parameters.Count, null);

        public void Pack()
        {
            int at = 0, flags = Buffer.Length - Parameters.Count;
            for (int k = 0; k < Parameters.Count; k++)
            {
                var p = Parameters[k];
                var slot = Buffer.AsSpan(at, p.Numel);
                if (p.Grad is { } g) g.Contiguous().Span.CopyTo(slot);
                else slot.Clear();
                Buffer[flags + k] = p.Grad is null ? 0f : 1f;
                at += p.Numel;
            }
        }

        public void Unpack(float scale)
        {
            int at = 0, flags = Buffer.Length - Parameters.Count;
            for (int k = 0; k < Parameters.Count; k++)
            {
                var p = Parameters[k];
                var sum = Buffer.AsSpan(at, p.Numel);
                at += p.Numel;
                if (Buffer[flags + k] == 0f) continue; // no rank has a gradient for it: it stays null
                foreach (ref var v in sum) v *= scale;
                p.Grad = Tensor.FromArray(sum, p.Shape.ToArray());
            }
        }
    }
}
