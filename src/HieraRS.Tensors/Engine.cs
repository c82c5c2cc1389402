using HieraRS.Platform;
using HieraRS.Tensors.Native;

namespace HieraRS.Tensors;

/// <summary>Which matrix-multiply implementation the engine uses.</summary>
public enum GemmBackend { OpenBlas, Managed }

/// <summary>
/// Process-wide engine settings: thread count and GEMM backend. GEMMs run on OpenBLAS's own threads
/// (concurrent single-threaded OpenBLAS calls from several threads serialise, measured; its idle
/// workers yield, so they do not slow the engine's loops), everything else on the engine's loops;
/// work is never split twice (a loop inside a parallel region runs inline).
/// </summary>
public static class Engine
{
    static int threads = Environment.ProcessorCount;
    static GemmBackend? backend;
    static bool warned;

    /// <summary>Threads used by every kernel and by OpenBLAS. Default: all cores.</summary>
    public static int Threads
    {
        get => threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "thread count must be at least 1");
            threads = value;
            if (backend == GemmBackend.OpenBlas) OpenBlas.openblas_set_num_threads(value);
        }
    }

    /// <summary>GEMM backend: OpenBLAS when it loads, else the managed SIMD kernel (with a one-line warning).</summary>
    public static GemmBackend Backend
    {
        get
        {
            if (backend is { } b) return b;
            if (OpenBlas.Available)
            {
                backend = GemmBackend.OpenBlas;
                OpenBlas.openblas_set_num_threads(threads);
                WarnOnSlowKernels();
            }
            else
            {
                backend = GemmBackend.Managed;
                if (!warned)
                {
                    warned = true;
                    Console.Error.WriteLine("warning: OpenBLAS not found (apt-get install libopenblas0-pthread); using the slower managed GEMM");
                }
            }
            return backend.Value;
        }
        set
        {
            if (value == GemmBackend.OpenBlas) NativeLibraries.Load(OpenBlas.Library);
            backend = value;
            if (value == GemmBackend.OpenBlas) OpenBlas.openblas_set_num_threads(threads);
        }
    }

    /// <summary>What runs the GEMMs: the library and, for OpenBLAS, the kernels it chose.</summary>
    public static string GemmDescription => Backend == GemmBackend.OpenBlas
        ? $"OpenBLAS, {OpenBlas.CoreName} kernels ({OpenBlas.Config})" : "managed SIMD kernel";

    /// <summary>OpenBLAS kernels that use AVX2 and FMA (or AVX-512).</summary>
    static readonly string[] VectorKernels = ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"];

    /// <summary>SSE-era kernels on an AVX2 CPU run GEMMs 3-5x slower (see <see cref="OpenBlasEnvironment"/>): say so, and how to fix it.</summary>
    static void WarnOnSlowKernels()
    {
        var cpu = CpuFeatures.Current;
        string core = OpenBlas.CoreName;
        if (!cpu.Avx2 || !cpu.Fma || VectorKernels.Contains(core, StringComparer.OrdinalIgnoreCase)) return;
        Console.Error.WriteLine($"warning: OpenBLAS runs its {core} kernels on a CPU with AVX2{(cpu.Avx512 ? " and AVX-512" : "")}, "
            + $"3-5x slower; set {OpenBlasEnvironment.Variable}={OpenBlasEnvironment.Choose(cpu) ?? "Haswell"}");
    }

    /// <summary>
    /// Runs body(start, end) over [0, n) in at most <see cref="Threads"/> equal contiguous chunks.
    /// Chunking depends only on n and the thread count, so results are reproducible.
    /// Small jobs (n * costPerItem below ~32k operations) run inline.
    /// </summary>
    public static void For(int n, long costPerItem, Action<int, int> body)
    {
        if (n <= 0) return;
        int chunks = InParallel ? 1 : (int)Math.Min(Math.Min(threads, n), Math.Max(1, n * costPerItem / 32768));
        if (chunks <= 1) { body(0, n); return; }
        Parallel(chunks, c =>
        {
            int s = (int)((long)n * c / chunks), e = (int)((long)n * (c + 1) / chunks);
            if (s < e) body(s, e);
        });
    }

    /// <summary>Runs body(0..parts-1) concurrently (inline when parts is 1 or already inside a worker).</summary>
    public static void Parallel(int parts, Action<int> body)
    {
        if (parts <= 1 || inParallel)
        {
            for (int p = 0; p < parts; p++) body(p);
            return;
        }
        System.Threading.Tasks.Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = threads }, p =>
        {
            inParallel = true;
            try { body(p); }
            finally { inParallel = false; }
        });
    }

    [ThreadStatic] static bool inParallel;

    /// <summary>
    /// Runs <paramref name="body"/> with every kernel loop on the calling thread: for background work
    /// beside the main computation (data loading), which must not compete for the engine's workers.
    /// </summary>
    public static T Serial<T>(Func<T> body)
    {
        bool was = inParallel;
        inParallel = true;
        try { return body(); }
        finally { inParallel = was; }
    }

    /// <summary>True inside a worker of <see cref="For"/>: nested loops and GEMMs then run on the calling thread.</summary>
    public static bool InParallel => inParallel;

    /// <summary>
    /// Use Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (fewer multiplies; results differ from
    /// direct convolution by float rounding only). Default on.
    /// </summary>
    public static bool Winograd { get; set; } = true;

    /// <summary>Seeds the default generator used by random initialisers, dropout and drop path.</summary>
    public static void ManualSeed(ulong seed) => Generator.Default.Seed(seed);
}
