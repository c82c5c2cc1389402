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
