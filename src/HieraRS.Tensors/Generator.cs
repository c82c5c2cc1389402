namespace HieraRS.Tensors;

/// <summary>Seeded pseudo-random generator (xoshiro256**), reproducible across runs and platforms.</summary>
public sealed class Generator
{
    ulong s0, s1, s2, s3;
    double? spareNormal;

    public static Generator Default { get; } = new(0);

    public Generator(ulong seed) => Seed(seed);

    public void Seed(ulong seed)
    {
        ulong x = seed;
        s0 = SplitMix(ref x); s1 = SplitMix(ref x); s2 = SplitMix(ref x); s3 = SplitMix(ref x);
        spareNormal = null;
    }

    /// <summary>Full generator state, for exact resume.</summary>
    public ulong[] GetState() => new[] { s0, s1, s2, s3, spareNormal is { } v ? (ulong)BitConverter.DoubleToInt64Bits(v) : 0UL, spareNormal is null ? 0UL : 1UL };

    public void SetState(ulong[] state)
    {
        if (state.Length != 6) throw new ArgumentException("generator state must have 6 words", nameof(state));
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3]);
        spareNormal = state[5] != 0 ? BitConverter.Int64BitsToDouble((long)state[4]) : null;
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9, t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((NextUInt64() >> 33) % (ulong)n);

    /// <summary>Standard normal (Box-Muller).</summary>
    public double NextNormal()
    {
        if (spareNormal is { } s) { spareNormal = null; return s; }
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1)), th = 2.0 * Math.PI * u2;
        spareNormal = r * Math.Sin(th);
        return r * Math.Cos(th);
    }
}
