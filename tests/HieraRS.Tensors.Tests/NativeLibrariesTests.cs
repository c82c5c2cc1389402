using HieraRS.Platform;

namespace HieraRS.Tensors.Tests;

public class NativeLibrariesTests
{
    [Fact]
    public void AMissingLibraryNamesWhatWasTriedAndItsPackage()
    {
        var lib = new NativeLibraryInfo("hierars-absent", "libhierars-absent0", "libhierars-absent.so.0", "libhierars-absent.so");
        Assert.False(NativeLibraries.TryLoad(lib, out _));
        var e = Assert.Throws<DllNotFoundException>(() => NativeLibraries.Load(lib));
        Assert.Contains("tried libhierars-absent.so.0, libhierars-absent.so", e.Message);
        Assert.Contains("sudo apt-get install libhierars-absent0", e.Message);
    }
}

public class OpenBlasEnvironmentTests
{
    [Theory]
    [InlineData("GenuineIntel", true, true, true, "SkylakeX")]   // Sapphire / Emerald Rapids, which 0.3.21 does not know
    [InlineData("AuthenticAMD", true, true, true, "SkylakeX")]   // Zen 4 and later
    [InlineData("GenuineIntel", true, true, false, "Haswell")]   // an AVX2 Intel newer than the library
    [InlineData("AuthenticAMD", true, true, false, null)]        // Zen 1-3: OpenBLAS's own tuning
    [InlineData("GenuineIntel", false, false, false, null)]      // no AVX2: nothing better to name
    public void KernelsAreNamedFromTheCpusFeatures(string vendor, bool avx2, bool fma, bool avx512, string? core) =>
        Assert.Equal(core, OpenBlasEnvironment.Choose(new CpuFeatures(vendor, avx2, fma, avx512)));

    [Fact]
    public void OpenBlasRunsVectorKernelsOnAVectorCpu()
    {
        Assert.Equal(GemmBackend.OpenBlas, Engine.Backend);
        var cpu = CpuFeatures.Current;
        if (!cpu.Avx2 || !cpu.Fma || Environment.GetEnvironmentVariable(OpenBlasEnvironment.Variable) is { Length: > 0 }) return; // nothing to check: no AVX2, or the user chose
        // 0.3.21 falls back to its SSE3 Prescott kernels on CPUs it does not know (4.5x slower GEMMs)
        Assert.DoesNotContain("Prescott", Engine.GemmDescription);
        Assert.Matches(cpu.Avx512 ? "SkylakeX|Cooperlake|SapphireRapids" : "Haswell|Zen|Excavator|SkylakeX", Engine.GemmDescription);
    }
}
