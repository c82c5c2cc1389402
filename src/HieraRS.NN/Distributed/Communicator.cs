namespace HieraRS.NN.Distributed;

/// <summary>
/// The processes of one data-parallel job and the collectives they share. Every rank must make the same
/// calls in the same order; a call blocks until all ranks have made it.
/// </summary>
public interface ICommunicator
{
    int Rank { get; }
    int Size { get; }
    /// <summary>Replaces <paramref name="values"/> on every rank by their sum over all ranks.</summary>
    void AllReduceSum(Span<float> values);
    /// <inheritdoc cref="AllReduceSum(Span{float})"/>
    void AllReduceSum(Span<double> values);
    /// <summary>
    /// Starts summing the first <paramref name="count"/> of <paramref name="values"/> over all ranks, in place,
    /// and returns at once: the values are the sums once the returned reduction has completed, and must not
    /// be touched before. Collectives started and called still count in one order, the same on every rank.
    /// </summary>
    IPendingReduction StartAllReduceSum(float[] values, int count);
    /// <summary>Copies <paramref name="values"/> of rank <paramref name="root"/> to every rank.</summary>
    void Broadcast(Span<float> values, int root = 0);
    void Barrier();
    /// <summary>Ends every rank of the job with <paramref name="code"/> (a rank that cannot go on must not leave the others waiting).</summary>
    void Abort(int code);
}

/// <summary>A reduction started by <see cref="ICommunicator.StartAllReduceSum"/>.</summary>
public interface IPendingReduction
{
    /// <summary>Lets the reduction progress; true once it has completed.</summary>
    bool Test();
    /// <summary>Blocks until it has completed.</summary>
    void Wait();
}

/// <summary>A reduction that was complete when it was started.</summary>
public sealed class CompletedReduction : IPendingReduction
{
    public static readonly CompletedReduction Instance = new();
    public bool Test() => true;
    public void Wait() { }
}

/// <summary>One process alone: the collectives are identities.</summary>
public sealed class SingleProcess : ICommunicator
{
    public static readonly SingleProcess Instance = new();
    public int Rank => 0;
    public int Size => 1;
    public void AllReduceSum(Span<float> values) { }
    public void AllReduceSum(Span<double> values) { }
    public IPendingReduction StartAllReduceSum(float[] values, int count) => CompletedReduction.Instance;
    public void Broadcast(Span<float> values, int root = 0) { }
    public void Barrier() { }
    public void Abort(int code) => Environment.Exit(code);
}

/// <summary>The communicator of this process: MPI when launched by <c>mpirun</c> with more than one rank, otherwise <see cref="SingleProcess"/>.</summary>
public static class Communicator
{
    static readonly Lazy<ICommunicator> world = new(Create);

    /// <summary>The job's communicator (MPI is initialised on first use, once).</summary>
    public static ICommunicator World => world.Value;

    /// <summary>The number of ranks the launcher announced (Open MPI's OMPI_COMM_WORLD_SIZE, MPICH / Slurm PMI's PMI_SIZE), or 1.</summary>
    public static int LaunchedSize()
    {
        foreach (var name in new[] { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE" })
            if (int.TryParse(Environment.GetEnvironmentVariable(name), out int n) && n > 0) return n;
        return 1;
    }

    /// <summary>The ranks of this job on this machine (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE, MPICH's MPI_LOCALNRANKS), or 1.</summary>
    public static int LocalSize()
    {
        foreach (var name in new[] { "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS" })
            if (int.TryParse(Environment.GetEnvironmentVariable(name), out int n) && n > 0) return n;
        return 1;
    }

    /// <summary>
    /// A rank's default engine threads: the machine's cores shared by its ranks, and no more than this
    /// process may use (a rank bound to cores by mpirun sees only those), so ranks do not oversubscribe.
    /// </summary>
    public static int DefaultThreads() => Math.Max(1, Math.Min(Environment.ProcessorCount, OnlineCpus() / LocalSize()));

    /// <summary>The machine's online CPUs (/sys/devices/system/cpu/online, e.g. "0-15" or "0,2-5"); ProcessorCount where unreadable.</summary>
    static int OnlineCpus()
    {
        try
        {
            int n = 0;
            foreach (var range in File.ReadAllText("/sys/devices/system/cpu/online").Trim().Split(','))
                n += range.Split('-') is [var a, var b] ? int.Parse(b) - int.Parse(a) + 1 : 1;
            return n > 0 ? n : Environment.ProcessorCount;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return Environment.ProcessorCount; }
    }

    static ICommunicator Create() => LaunchedSize() > 1 ? Mpi.Initialize() : SingleProcess.Instance;
}
