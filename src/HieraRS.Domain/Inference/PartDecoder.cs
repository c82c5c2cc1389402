using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Decoding;
using HieraRS.Tensors;

namespace HieraRS.Domain.Inference;

/// <summary>
/// Decodes finished rows of a strip's accumulators into a part's bands (<see cref="OutputBands"/>): joint
/// path selection (flat models: the finest level mapped upward), confidences, probabilities; 255 where
/// the scene holds no data. A few rows at a time, so the decoding temporaries stay small beside the accumulators.
/// </summary>
sealed class PartDecoder(OutputBands bands, int maxPartBytes)
{
    const int RowsAtOnce = 64;
    // two buffers taken in turn: one is written on the writer's thread while the next part is decoded
    // into the other (a new array per part would pile up garbage between collections on large scenes)
    readonly byte[][] buffers = [new byte[maxPartBytes], new byte[maxPartBytes]];
    int next;
    int[]? pathIndex;
    float[]? confidences;
    readonly int[,] paths = bands.Hierarchy.Paths; // the property copies
    readonly int[] channel0 = [.. bands.LogitCounts.Select((_, l) => bands.LogitCounts[..l].Sum())]; // each level's first accumulator channel

    /// <summary>
    /// The part of scene rows [y0, y1) of the current strip, band-sequential, at the start of a buffer that
    /// is reused two calls later (the part store has written it by then).
    /// </summary>
    public byte[] Decode(LogitAccumulator acc, int y0, int y1)
    {
        var part = buffers[next];
        next ^= 1;
        for (int f0 = y0; f0 < y1; f0 += RowsAtOnce)
            DecodeRows(acc, part, y0, y1 - y0, f0, Math.Min(y1, f0 + RowsAtOnce));
        return part;
    }

    void DecodeRows(LogitAccumulator acc, byte[] part, int partY0, int partH, int from, int to)
    {
        int rows = to - from, n = rows * acc.Width, plane = partH * acc.Width, at = (from - partY0) * acc.Width;
        var valid = acc.Weights(from, rows);
        if (valid.IndexOfAnyExcept(0f) < 0) // no data in these rows: nodata in every band, nothing to decode
        {
            for (int b = 0; b < bands.Count; b++) part.AsSpan(b * plane + at, n).Fill(ClassHierarchy.NoClass);
            return;
        }
        var tree = bands.Hierarchy;
        int band = 0;
        Span<byte> Band(int b) => part.AsSpan(b * plane + at, n);
        if (bands.Flat) { DecodeFlat(acc, from, rows, valid, Band); band = bands.MapBands; }
        else
        {
            // joint path selection straight from the accumulator: a chunk's blended logits are made where they are used
            var path = Scratch(ref pathIndex, n);
            var conf = bands.Confidence ? Scratch(ref confidences, n).AsSpan(0, n) : default;
            Decoder.JspsPaths(tree, n, (l, c, start, dst) => acc.BlendedInto(channel0[l] + c, from, start, dst), path, conf);
            foreach (var l in bands.Levels)
            {
                var data = Band(band++);
                for (int i = 0; i < n; i++) data[i] = valid[i] > 0 ? (byte)paths[path[i], l] : ClassHierarchy.NoClass;
            }
            if (bands.Confidence)
                for (int k = 0; k < bands.Levels.Length; k++) Fill(Band(band++), valid, conf);
        }
        if (bands.ProbabilityLevels.Length == 0) return;
        var logits = acc.Blended(from, rows);
        foreach (var l in bands.ProbabilityLevels)
        {
            float[] p;
            using (GradMode.NoGrad()) p = logits[bands.Flat ? 0 : l].Softmax(1).Contiguous().ToArray();
            for (int c = 0; c < tree.Levels[l].Count; c++)
                Fill(Band(band++), valid, p.AsSpan(c * n, n));
        }
    }

    /// <summary>A flat model's levels: the finest level's argmax mapped upward; its softmax maximum as the confidence.</summary>
    void DecodeFlat(LogitAccumulator acc, int from, int rows, ReadOnlySpan<float> valid, BandOf band)
    {
        var logits = acc.Blended(from, rows)[0];
        var labels = Decoder.Upward(bands.Hierarchy, logits);
        int b = 0, n = valid.Length;
        foreach (var l in bands.Levels)
        {
            var data = band(b++);
            var lab = labels[l].Data;
            for (int i = 0; i < n; i++) data[i] = valid[i] > 0 ? (byte)lab[i] : ClassHierarchy.NoClass;
        }
        if (!bands.Confidence) return;
        float[] conf;
        using (GradMode.NoGrad()) conf = logits.Softmax(1).Max(1).Values.Contiguous().ToArray();
        for (int k = 0; k < bands.Levels.Length; k++) Fill(band(b++), valid, conf);
    }

    delegate Span<byte> BandOf(int band);

    /// <summary>A kept array of at least <paramref name="n"/> elements (rows are decoded one block after another).</summary>
    static T[] Scratch<T>(ref T[]? kept, int n) => kept is { } a && a.Length >= n ? a : kept = new T[n];

    /// <summary>Probabilities 0-1 as bytes 0-254; 255 (nodata) where no window added weight.</summary>
    static void Fill(Span<byte> dst, ReadOnlySpan<float> valid, ReadOnlySpan<float> p)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = valid[i] > 0 ? (byte)Math.Round(Math.Clamp(p[i], 0f, 1f) * 254f) : ClassHierarchy.NoClass;
    }
}
