using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Domain.Data;

/// <summary>
/// Per-band mean and standard deviation over the valid pixels of a dataset, and per-level class
/// pixel counts, in memory bounded by one sample per thread: each sample's mean and squared
/// deviations are merged with Chan's pairwise update, which stays exact for large raw values.
/// </summary>
public sealed class BandStatistics
{
    public int Bands { get; }
    public long Pixels { get; private set; }
    readonly double[] mean, m2;
    /// <summary>[level][class] labelled pixel counts.</summary>
    public long[][] ClassPixels { get; }

    public BandStatistics(int bands, int[] classCounts)
    {
        Bands = bands; mean = new double[bands]; m2 = new double[bands];
        ClassPixels = classCounts.Select(k => new long[k]).ToArray();
    }

    public double[] Mean => (double[])mean.Clone();
    /// <summary>Population standard deviation (as MMSegmentation's configs use).</summary>
    public double[] Std => m2.Select(v => Pixels > 0 ? Math.Sqrt(v / Pixels) : double.NaN).ToArray();

    public void Add(Sample s)
    {
        if (s.Bands != Bands) throw new ArgumentException($"{s.Id}: {Plural.Of(s.Bands, "band")}, the statistics are for {Bands}");
        int n = s.Pixels;
        bool allValid = !s.Valid.AsSpan().Contains((byte)0);
        var buf = allValid ? null : new float[n];
        for (int b = 0; b < Bands; b++)
        {
            ReadOnlySpan<float> band = s.Image.AsSpan(b * n, n);
            if (!allValid)
            {
                int k = 0;
                for (int i = 0; i < n; i++) if (s.Valid[i] != 0) buf![k++] = band[i];
                band = buf.AsSpan(0, k);
            }
            if (band.Length == 0) continue;
            // around a first estimate s (float block sums lose digits on large raw values), then exactly:
            // mean = s + sum(x - s) / n, M2 = sum((x - s)^2) - n (mean - s)^2
            float shift = (float)(SpanMath.SumDouble(band) / band.Length);
            double dev = 0;
            foreach (var v in band) dev += v - shift;
            double mb = shift + dev / band.Length;
            double m2b = SpanMath.SumSquaredDeviation(band, shift) - band.Length * (mb - shift) * (mb - shift);
            Merge(b, band.Length, mb, m2b);
        }
        Pixels += allValid ? n : s.Valid.Count(v => v != 0);
        for (int l = 0; l < ClassPixels.Length; l++)
            foreach (var v in s.Labels[l])
                if (v < ClassPixels[l].Length) ClassPixels[l][v]++;
    }

    void Merge(int b, long nb, double mb, double m2b)
    {
        long na = Pixels; // counts before this sample (all bands share the valid mask)
        double delta = mb - mean[b];
        long n = na + nb;
        mean[b] += delta * nb / n;
        m2[b] += m2b + delta * delta * na * nb / n;
    }

    /// <summary>Combines statistics gathered on another thread.</summary>
    public void Add(BandStatistics other)
    {
        if (other.Pixels == 0) return;
        for (int b = 0; b < Bands; b++)
        {
            long na = Pixels, nb = other.Pixels, n = na + nb;
            double delta = other.mean[b] - mean[b];
            mean[b] += delta * nb / n;
            m2[b] += other.m2[b] + delta * delta * na * nb / n;
        }
        Pixels += other.Pixels;
        for (int l = 0; l < ClassPixels.Length; l++)
            for (int c = 0; c < ClassPixels[l].Length; c++) ClassPixels[l][c] += other.ClassPixels[l][c];
    }
}
