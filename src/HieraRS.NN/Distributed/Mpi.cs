using System.Runtime.InteropServices;
using HieraRS.Platform;

namespace HieraRS.NN.Distributed;

/// <summary>
/// MPI_COMM_WORLD through P/Invoke to Open MPI's libmpi (Debian libopenmpi3). Open MPI's handles are the
/// addresses of global objects (MPI_COMM_WORLD = &amp;ompi_mpi_comm_world, MPI_FLOAT = &amp;ompi_mpi_float,
/// MPI_SUM = &amp;ompi_mpi_op_sum), taken from the library's exports. MPICH's handles are integer
/// constants (MPI_COMM_WORLD 0x44000000, MPI_FLOAT 0x4c00040a, MPI_DOUBLE 0x4c00080b, MPI_SUM 0x58000003,
/// MPI_IN_PLACE (void*)-1) passed by value; that variant is not written yet, so MPICH's library is refused
/// with a message. MPI's default error handler (MPI_ERRORS_ARE_FATAL) ends the whole job when a
/// collective fails, and mpirun kills the remaining ranks when one exits abnormally, so no rank waits forever.
/// </summary>
sealed unsafe partial class Mpi : ICommunicator
{
    const string Lib = "mpi";
    const int ThreadSerialized = 2;
    static readonly IntPtr InPlace = 1; // Open MPI's MPI_IN_PLACE

    public static readonly NativeLibraryInfo Library = new(Lib, "libopenmpi3", "libmpi.so.40", "libmpi.so.12", "libmpi.so");

    static Mpi() => NativeLibraries.Register(typeof(Mpi).Assembly, Library);

    readonly IntPtr world, @float, @double, sum;

    public int Rank { get; }
    public int Size { get; }

    Mpi(IntPtr lib)
    {
        world = Export(lib, "ompi_mpi_comm_world");
        (@float, @double, sum) = (Export(lib, "ompi_mpi_float"), Export(lib, "ompi_mpi_double"), Export(lib, "ompi_mpi_op_sum"));
        int rank, size;
        Check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(world, &size), "MPI_Comm_size");
        (Rank, Size) = (rank, size);
    }

    /// <summary>Loads libmpi, initialises MPI (once) and finalises it when the process exits.</summary>
    public static Mpi Initialize()
    {
        var lib = NativeLibraries.Load(Library);
        if (!NativeLibrary.TryGetExport(lib, "ompi_mpi_comm_world", out _))
            throw new NotSupportedException("the MPI library found is not Open MPI (MPICH's integer handles are not supported yet); " +
                $"install Open MPI with: sudo apt-get install {Library.Package} openmpi-bin");
        int initialized, provided;
        MPI_Initialized(&initialized);
        if (initialized == 0) Check(MPI_Init_thread(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
        var mpi = new Mpi(lib);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => MPI_Finalize();
        return mpi;
    }

    static IntPtr Export(IntPtr lib, string name) =>
        NativeLibrary.TryGetExport(lib, name, out var p) ? p : throw new EntryPointNotFoundException($"libmpi has no '{name}' (not Open MPI?)");

    static void Check(int code, string call)
    {
        if (code != 0) throw new InvalidOperationException($"{call} failed with MPI error {code}");
    }

    public void AllReduceSum(Span<float> values)
    {
        fixed (float* p = values) Check(MPI_Allreduce(InPlace, p, values.Length, @float, sum, world), "MPI_Allreduce");
    }

    public void AllReduceSum(Span<double> values)
    {
        fixed (double* p = values) Check(MPI_Allreduce(InPlace, p, values.Length, @double, sum, world), "MPI_Allreduce");
    }

    public IPendingReduction StartAllReduceSum(float[] values, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, values.Length);
        var pin = GCHandle.Alloc(values, GCHandleType.Pinned); // MPI writes into it until the request completes
        IntPtr request;
        int code = MPI_Iallreduce(InPlace, (void*)pin.AddrOfPinnedObject(), count, @float, sum, world, &request);
        if (code != 0) { pin.Free(); Check(code, "MPI_Iallreduce"); }
        return new Request(pin, request);
    }

    /// <summary>An MPI_Request (Open MPI: a pointer) and the pin of its buffer, released when it completes.</summary>
    sealed class Request(GCHandle pin, IntPtr request) : IPendingReduction
    {
        IntPtr request = request;
        bool done;

        public bool Test()
        {
            if (done) return true;
            int flag;
            IntPtr r = request;
            Check(MPI_Test(&r, &flag, null), "MPI_Test");
            request = r;
            if (flag != 0) Complete();
            return done;
        }

        public void Wait()
        {
            if (done) return;
            IntPtr r = request;
            Check(MPI_Wait(&r, null), "MPI_Wait"); // null: Open MPI's MPI_STATUS_IGNORE
            request = r;
            Complete();
        }

        void Complete() { done = true; pin.Free(); }
    }

    public void Broadcast(Span<float> values, int root = 0)
    {
        fixed (float* p = values) Check(MPI_Bcast(p, values.Length, @float, root, world), "MPI_Bcast");
    }

    public void Barrier() => Check(MPI_Barrier(world), "MPI_Barrier");

    public void Abort(int code) => MPI_Abort(world, code);

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
