using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace HieraRS.Platform;

/// <summary>What of the CPU decides which OpenBLAS kernels fit it.</summary>
public readonly record struct CpuFeatures(string Vendor, bool Avx2, bool Fma, bool Avx512)
{
    /// <summary>This machine's.</summary>
    public static CpuFeatures Current { get; } = Detect();

    static CpuFeatures Detect()
    {
        if (!X86Base.IsSupported) return new("", false, false, false);
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<byte> v = stackalloc byte[12];
        BitConverter.TryWriteBytes(v, ebx); BitConverter.TryWriteBytes(v[4..], edx); BitConverter.TryWriteBytes(v[8..], ecx);
        bool avx512 = Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported;
        return new(System.Text.Encoding.ASCII.GetString(v), System.Runtime.Intrinsics.X86.Avx2.IsSupported, System.Runtime.Intrinsics.X86.Fma.IsSupported, avx512);
    }
}

/// <summary>
/// What OpenBLAS reads from the environment when it loads, set before any native library loads (GDAL
/// links OpenBLAS too), each unless the user set it:
/// <list type="bullet">
/// <item>OPENBLAS_CORETYPE, its kernels. It chooses them from a table of the CPU models it knew when it
/// was built: Debian 12's 0.3.21 does not know Intel's Sapphire or Emerald Rapids (family 6, models
/// 0x8F, 0xCF) and falls back to its SSE3 "Prescott" kernels, so a 2048-cubed SGEMM takes 0.27 s instead
/// of 0.06 s on two cores (measured). The kernels are named from the CPU's features instead.</item>
/// <item>OPENBLAS_THREAD_TIMEOUT, how long (2^n cycles) an idle worker spins, yielding, before it sleeps:
/// 2^28 by default, about 0.1 s, during which it takes a core from the engine's own loops and the
/// reading and writing threads. 2^4 makes one 512-pixel window of the demo network 0.23 -> 0.20 s and
/// a training step 1.18 -> 1.03 s on two cores (measured).</item>
/// </list>
/// </summary>
public static partial class OpenBlasEnvironment
{
    public const string Variable = "OPENBLAS_CORETYPE", TimeoutVariable = "OPENBLAS_THREAD_TIMEOUT";

    /// <summary>
    /// The kernels to name for a CPU, or null to leave OpenBLAS's own choice. AVX-512 (F, BW, DQ, VL):
    /// SkylakeX, the kernels OpenBLAS uses on every AVX-512 CPU it knows. Intel with AVX2 and FMA only:
    /// Haswell. AMD without AVX-512 is left alone: 0.3.21 knows every such Zen, and tunes for it.
    /// </summary>
    public static string? Choose(CpuFeatures cpu) =>
        cpu.Avx512 && cpu.Avx2 && cpu.Fma ? "SkylakeX"
        : cpu.Vendor == "GenuineIntel" && cpu.Avx2 && cpu.Fma ? "Haswell"
        : null;

    static int prepared;

    /// <summary>Sets both in the process environment (native, so OpenBLAS's loader sees them), once, before OpenBLAS loads.</summary>
    public static void Prepare()
    {
        if (Interlocked.Exchange(ref prepared, 1) == 1 || !OperatingSystem.IsLinux()) return;
        if (Choose(CpuFeatures.Current) is { } core) SetUnlessGiven(Variable, core);
        SetUnlessGiven(TimeoutVariable, "4");
    }

    static void SetUnlessGiven(string name, string value)
    {
        if (Environment.GetEnvironmentVariable(name) is not { Length: > 0 }) setenv(name, value, 1);
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
