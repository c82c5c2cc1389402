using System.Runtime.InteropServices;
using HieraRS.Platform;

namespace HieraRS.Tensors.Native;

/// <summary>P/Invoke bindings to OpenBLAS (Debian libopenblas0-pthread).</summary>
internal static unsafe partial class OpenBlas
{
    const string Lib = "openblas";
    public const int RowMajor = 101, NoTrans = 111, Trans = 112;

    public static readonly NativeLibraryInfo Library = new(Lib, "libopenblas0-pthread",
        "libopenblas.so.0", "libopenblas.so",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "libopenblasp-r0.3.21.so");

    static OpenBlas() => NativeLibraries.Register(typeof(OpenBlas).Assembly, Library);

    public static bool Available => NativeLibraries.TryLoad(Library, out _);

    [LibraryImport(Lib)]
    public static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Lib)]
    public static partial void openblas_set_num_threads(int n);

    [LibraryImport(Lib)]
    public static partial int openblas_get_num_threads();

    [LibraryImport(Lib)]
    private static partial byte* openblas_get_corename();

    [LibraryImport(Lib)]
    private static partial byte* openblas_get_config();

    /// <summary>The kernels OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).</summary>
    public static string CoreName => Marshal.PtrToStringUTF8((IntPtr)openblas_get_corename()) ?? "?";

    /// <summary>Its build: version, architecture options, kernels, thread limit.</summary>
    public static string Config => Marshal.PtrToStringUTF8((IntPtr)openblas_get_config())?.Trim() ?? "?";
}
