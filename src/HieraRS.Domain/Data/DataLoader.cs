using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Domain.Data;

/// <summary>A batch: normalised images [B, C, H, W], labels of every level [B, H, W] (255 = ignore), the samples they came from.</summary>
public sealed class Batch(long iteration, Tensor image, IntTensor[] labels, Sample[] samples)
{
    public long Iteration { get; } = iteration;
    public Tensor Image { get; } = image;
    public IntTensor[] Labels { get; } = labels;
    /// <summary>The augmented, normalised samples (labels per level as bytes, valid masks, ids).</summary>
    public Sample[] Samples { get; } = samples;
    public int Size => Samples.Length;
}

/// <summary>Rank <see cref="Rank"/> of <see cref="Size"/> data-parallel processes: it takes the <see cref="Rank"/>-th of <see cref="Size"/> equal contiguous parts of each global batch.</summary>
public sealed record BatchShare(int Rank, int Size)
{
    public static readonly BatchShare Whole = new(0, 1);
}

/// <summary>
/// Assembles batches on background threads with bounded prefetch. The order is a pure function of
/// the seed: epoch e visits the samples in a permutation drawn from (seed, e), and batch i of the run
/// is batch i mod (batches per epoch) of epoch i div (batches per epoch); a sample's augmentation is
/// seeded by (seed, epoch, index). So a run resumed at iteration i sees exactly the batches an
/// uninterrupted run would, whatever the number of workers. With a <see cref="BatchShare"/>, each process
/// builds only its part of each global batch, so the parts of N processes are the batches of one.
/// </summary>
public sealed class DataLoader : IDisposable
{
    readonly ISegmentationDataset data;
    readonly Augmentation augment;
    readonly ulong seed;
    readonly bool shuffle;
    readonly long end; // first iteration not produced (long.MaxValue: endless)
    readonly int prefetch;
    readonly BatchShare share;
    readonly object gate = new();
    readonly Dictionary<long, object> ready = []; // Batch or the Exception that building it threw
    readonly Thread[] workers;
    long nextToBuild, nextToTake;
    bool stopping;
    int[]? order;
    long orderEpoch = -1;

    /// <summary>The global batch size (this process builds <see cref="BatchSize"/> / share size of each).</summary>
    public int BatchSize { get; }
    /// <summary>Full batches per epoch (a last partial batch is dropped when training, kept in single passes).</summary>
    public int BatchesPerEpoch { get; }

    /// <param name="startIteration">first batch to produce (resume).</param>
    /// <param name="iterations">batches to produce; null = endless (training).</param>
    public DataLoader(ISegmentationDataset data, Augmentation augment, int batchSize, ulong seed, bool shuffle = true,
        long startIteration = 0, long? iterations = null, int workers = 2, int prefetch = 4, BatchShare? share = null)
    {
        this.share = share ?? BatchShare.Whole;
        if (batchSize % this.share.Size != 0)
            throw new ArgumentException($"the batch size {batchSize} does not split into {Plural.Of(this.share.Size, "equal part")} (one per process); make it a multiple of {this.share.Size}");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be at least 1");
        if (data.Count < batchSize) throw new ArgumentException($"dataset '{data.Name}' has {Plural.Of(data.Count, "sample")}, fewer than one batch of {batchSize}");
        (this.data, this.augment, this.seed, this.shuffle, BatchSize) = (data, augment, seed, shuffle, batchSize);
        BatchesPerEpoch = data.Count / batchSize;
        nextToBuild = nextToTake = startIteration;
        end = iterations is { } n ? startIteration + n : long.MaxValue;
        this.prefetch = Math.Max(1, prefetch);
        this.workers = Enumerable.Range(0, Math.Max(1, workers)).Select(k => new Thread(Work) { IsBackground = true, Name = $"loader-{k}" }).ToArray();
        foreach (var t in this.workers) t.Start();
    }

    /// <summary>One pass over every sample in dataset order, the last batch possibly smaller (evaluation).</summary>
    public static IEnumerable<Batch> Pass(ISegmentationDataset data, int batchSize = 1, int workers = 2)
    {
        int full = data.Count / batchSize, rest = data.Count % batchSize;
        if (full > 0)
        {
            using var loader = new DataLoader(data, Augmentation.None, batchSize, 0, shuffle: false, iterations: full, workers: workers);
            for (int i = 0; i < full; i++) yield return loader.Next();
        }
        if (rest > 0) yield return Build(data, Augmentation.None, Enumerable.Range(full * batchSize, rest).ToArray(), 0, 0, full);
    }

    /// <summary>The next batch in order (waits for it).</summary>
    public Batch Next()
    {
        lock (gate)
        {
            if (nextToTake >= end) throw new InvalidOperationException("the loader has produced all its batches");
            object? item;
            while (!ready.TryGetValue(nextToTake, out item)) Monitor.Wait(gate);
            ready.Remove(nextToTake++);
            Monitor.PulseAll(gate);
            return item is Exception e ? throw new InvalidDataException($"loading batch {nextToTake - 1}: {e.Message}", e) : (Batch)item;
        }
    }

    void Work()
    {
        while (true)
        {
            long i;
            int[] idx;
            long epoch;
            lock (gate)
            {
                while (!stopping && (nextToBuild >= end || nextToBuild >= nextToTake + prefetch)) Monitor.Wait(gate);
                if (stopping) return;
                i = nextToBuild++;
                epoch = i / BatchesPerEpoch;
                int part = BatchSize / share.Size;
                idx = Order(epoch).AsSpan((int)(i % BatchesPerEpoch) * BatchSize + share.Rank * part, part).ToArray();
            }
            object result;
            try { result = Build(data, augment, idx, seed, epoch, i); }
            catch (Exception e) { result = e; }
            lock (gate)
            {
                ready[i] = result;
                Monitor.PulseAll(gate);
            }
        }
    }

    /// <summary>The sample order of an epoch (called under the lock; the last epoch's order is cached).</summary>
    int[] Order(long epoch)
    {
        if (epoch == orderEpoch) return order!;
        var perm = Enumerable.Range(0, data.Count).ToArray();
        if (shuffle)
        {
            var g = new Generator(Datasets.Hash($"order/{epoch}", seed));
            for (int k = perm.Length - 1; k > 0; k--)
            {
                int j = g.NextInt(k + 1);
                (perm[k], perm[j]) = (perm[j], perm[k]);
            }
        }
        (order, orderEpoch) = (perm, epoch);
        return perm;
    }

    static Batch Build(ISegmentationDataset data, Augmentation augment, int[] indices, ulong seed, long epoch, long iteration) => Engine.Serial(() =>
    {
        var samples = indices.Select(k =>
        {
            var s = augment.Apply(data.Load(k), seed, epoch, k);
            data.Normalization.Apply(s.Image, s.Pixels, s.Valid);
            return s;
        }).ToArray();
        var (c, h, w) = (samples[0].Bands, samples[0].Height, samples[0].Width);
        foreach (var s in samples)
            if (s.Bands != c || s.Height != h || s.Width != w)
                throw new InvalidDataException($"samples of one batch differ in shape ({samples[0].Id}: {c}x{h}x{w}, {s.Id}: {s.Bands}x{s.Height}x{s.Width}); " +
                    "crop and pad them to one size (random_crop and pad) or use batch size 1");
        int n = h * w;
        var image = new float[samples.Length * c * n];
        for (int b = 0; b < samples.Length; b++) samples[b].Image.CopyTo(image, b * c * n);
        var labels = new IntTensor[data.Hierarchy.Depth];
        for (int l = 0; l < labels.Length; l++)
        {
            var t = new long[samples.Length * n];
            for (int b = 0; b < samples.Length; b++)
            {
                var src = samples[b].Labels[l];
                for (int i = 0; i < n; i++) t[b * n + i] = src[i];
            }
            labels[l] = new IntTensor(t, samples.Length, h, w);
        }
        return new Batch(iteration, Tensor.FromArray(image, samples.Length, c, h, w), labels, samples);
    });

    public void Dispose()
    {
        lock (gate) { stopping = true; Monitor.PulseAll(gate); }
        foreach (var t in workers) t.Join();
    }
}
