using System.Runtime.InteropServices;
using HieraRS.Platform;

namespace HieraRS.NN.Distributed;

/// <summary>
/// MPI_COMM_WORLD through P/Invoke to the system's MPI: Open MPI (Debian libopenmpi3) or MPICH (libmpich12),
/// whichever launched this process. The two share the C API but not the ABI of its handles, which
/// <see cref="MpiAbi"/> supplies: Open MPI's are the addresses of exported objects (MPI_COMM_WORLD =
/// &amp;ompi_mpi_comm_world, ...), MPICH's are int constants passed by value (on x86-64 and arm64 an int
/// argument travels in a full register, so both fit the same IntPtr signatures). MPI's default error
/// handler (MPI_ERRORS_ARE_FATAL) ends the whole job when a collective fails, and the launcher kills the
/// remaining ranks when one exits abnormally, so no rank waits forever.
/// </summary>
sealed unsafe partial class Mpi : ICommunicator
{
    const string Lib = "mpi";
    const int ThreadSerialized = 2;

    readonly MpiAbi abi;

    public int Rank { get; }
    public int Size { get; }

    Mpi(MpiAbi abi)
    {
        this.abi = abi;
        int rank, size;
        Check(MPI_Comm_rank(abi.World, &rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(abi.World, &size), "MPI_Comm_size");
        (Rank, Size) = (rank, size);
    }

    /// <summary>Loads the MPI library of this job's launcher, initialises MPI (once) and finalises it when the process exits.</summary>
    public static Mpi Initialize()
    {
        var abi = MpiAbi.Load();
        int initialized, provided;
        MPI_Initialized(&initialized);
        if (initialized == 0) Check(MPI_Init_thread(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
        var mpi = new Mpi(abi);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => MPI_Finalize();
        return mpi;
    }

    static void Check(int code, string call)
    {
        if (code != 0) throw new InvalidOperationException($"{call} failed with MPI error {code}");
    }

    public void AllReduceSum(Span<float> values)
    {
        fixed (float* p = values) Check(MPI_Allreduce(abi.InPlace, p, values.Length, abi.Float, abi.Sum, abi.World), "MPI_Allreduce");
    }

    public void AllReduceSum(Span<double> values)
    {
        fixed (double* p = values) Check(MPI_Allreduce(abi.InPlace, p, values.Length, abi.Double, abi.Sum, abi.World), "MPI_Allreduce");
    }

    public IPendingReduction StartAllReduceSum(float[] values, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, values.Length);
        var pin = GCHandle.Alloc(values, GCHandleType.Pinned); // MPI writes into it until the request completes
        IntPtr request = 0; // Open MPI writes a pointer, MPICH an int into its low half
        int code = MPI_Iallreduce(abi.InPlace, (void*)pin.AddrOfPinnedObject(), count, abi.Float, abi.Sum, abi.World, &request);
        if (code != 0) { pin.Free(); Check(code, "MPI_Iallreduce"); }
        return new Request(pin, request, abi.StatusIgnore);
    }

    /// <summary>An MPI_Request (Open MPI: a pointer; MPICH: an int) and the pin of its buffer, released when it completes.</summary>
    sealed class Request(GCHandle pin, IntPtr request, IntPtr statusIgnore) : IPendingReduction
    {
        IntPtr request = request;
        bool done;

        public bool Test()
        {
            if (done) return true;
            int flag;
            IntPtr r = request;
            Check(MPI_Test(&r, &flag, (void*)statusIgnore), "MPI_Test");
            request = r;
            if (flag != 0) Complete();
            return done;
        }

        public void Wait()
        {
            if (done) return;
            IntPtr r = request;
            Check(MPI_Wait(&r, (void*)statusIgnore), "MPI_Wait");
            request = r;
            Complete();
        }

        void Complete() { done = true; pin.Free(); }
    }

    public void Broadcast(Span<float> values, int root = 0)
    {
        fixed (float* p = values) Check(MPI_Bcast(p, values.Length, abi.Float, root, abi.World), "MPI_Bcast");
    }

    public void Barrier() => Check(MPI_Barrier(abi.World), "MPI_Barrier");

    public void Abort(int code) => MPI_Abort(abi.World, code);

    [LibraryImport(Lib)] private static partial int MPI_Initialized(int* flag);
    [LibraryImport(Lib)] private static partial int MPI_Init_thread(int* argc, byte*** argv, int required, int* provided);
    [LibraryImport(Lib)] private static partial int MPI_Finalize();
    [LibraryImport(Lib)] private static partial int MPI_Comm_rank(IntPtr comm, int* rank);
    [LibraryImport(Lib)] private static partial int MPI_Comm_size(IntPtr comm, int* size);
    [LibraryImport(Lib)] private static partial int MPI_Allreduce(IntPtr send, void* recv, int count, IntPtr type, IntPtr op, IntPtr comm);
    [LibraryImport(Lib)] private static partial int MPI_Iallreduce(IntPtr send, void* recv, int count, IntPtr type, IntPtr op, IntPtr comm, IntPtr* request);
    [LibraryImport(Lib)] private static partial int MPI_Test(IntPtr* request, int* flag, void* status);
    [LibraryImport(Lib)] private static partial int MPI_Wait(IntPtr* request, void* status);
    [LibraryImport(Lib)] private static partial int MPI_Bcast(void* buffer, int count, IntPtr type, int root, IntPtr comm);
    [LibraryImport(Lib)] private static partial int MPI_Barrier(IntPtr comm);
    [LibraryImport(Lib)] private static partial int MPI_Abort(IntPtr comm, int code);
}

/// <summary>An MPI implementation's library and the values of the handles its ABI gives MPI's constants.</summary>
sealed record MpiAbi(IntPtr World, IntPtr Float, IntPtr Double, IntPtr Sum, IntPtr InPlace, IntPtr StatusIgnore)
{
    public static readonly NativeLibraryInfo OpenMpi = new("mpi", "libopenmpi3 openmpi-bin", "libmpi.so.40", "libmpi.so");
    public static readonly NativeLibraryInfo Mpich = new("mpi", "libmpich12 mpich", "libmpich.so.12", "libmpi.so.12");

    /// <summary>
    /// The implementation to use: HIERARS_MPI=openmpi|mpich if set, else the launcher's (Open MPI's mpirun
    /// sets OMPI_COMM_WORLD_SIZE, MPICH's Hydra only PMI_SIZE), else whichever library is installed.
    /// </summary>
    public static MpiAbi Load()
    {
        string? asked = Environment.GetEnvironmentVariable("HIERARS_MPI")?.ToLowerInvariant();
        if (asked is not (null or "" or "openmpi" or "mpich")) throw new ArgumentException($"HIERARS_MPI={asked}: say openmpi or mpich");
        bool mpich = asked == "mpich" || (asked is null or "" && Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is null
            && Environment.GetEnvironmentVariable("PMI_SIZE") is not null && Installed(Mpich));
        var library = mpich ? Mpich : OpenMpi;
        NativeLibraries.Register(typeof(Mpi).Assembly, library); // before the first call into "mpi"
        var lib = NativeLibraries.Load(library);
        return mpich ? FromMpich() : FromOpenMpi(lib);
    }

    static bool Installed(NativeLibraryInfo library) => library.Candidates.Any(c => NativeLibrary.TryLoad(c, out var h) && Free(h));

    static bool Free(IntPtr handle) { NativeLibrary.Free(handle); return true; }

    /// <summary>Open MPI: addresses of exported objects; MPI_IN_PLACE (void*)1, MPI_STATUS_IGNORE null.</summary>
    static MpiAbi FromOpenMpi(IntPtr lib)
    {
        IntPtr Export(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p
            : throw new EntryPointNotFoundException($"the MPI library has no '{name}': it is not Open MPI (set HIERARS_MPI=mpich for MPICH)");
        return new(Export("ompi_mpi_comm_world"), Export("ompi_mpi_float"), Export("ompi_mpi_double"), Export("ompi_mpi_op_sum"), 1, 0);
    }

    /// <summary>MPICH (mpi.h of 4.0): MPI_COMM_WORLD 0x44000000, MPI_FLOAT 0x4c00040a, MPI_DOUBLE 0x4c00080b, MPI_SUM 0x58000003, MPI_IN_PLACE (void*)-1, MPI_STATUS_IGNORE (MPI_Status*)1.</summary>
    static MpiAbi FromMpich() => new(0x44000000, 0x4c00040a, 0x4c00080b, 0x58000003, -1, 1);
}
