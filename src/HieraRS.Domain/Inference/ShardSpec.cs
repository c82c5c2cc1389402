using System.Globalization;

namespace HieraRS.Domain.Inference;

/// <summary>
/// One worker's share of a prediction spread over <see cref="Count"/> workers: <see cref="Index"/> is
/// 0-based here and 1-based on the command line (<c>--shard 2/4</c> is the second of four). Scenes of a
/// folder or list are dealt round-robin; the parts of a single scene are cut into contiguous ranges
/// (neighbouring parts share windows, so contiguous ranges recompute fewest).
/// </summary>
public sealed record ShardSpec(int Index, int Count, string Source)
{
    /// <summary>Parses <c>i/N</c> with 1 &lt;= i &lt;= N.</summary>
    public static ShardSpec Parse(string text)
    {
        var p = text.Split('/');
        if (p.Length != 2 || !int.TryParse(p[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || i < 1 || i > n)
            throw new ArgumentException($"--shard {text}: use i/N with 1 <= i <= N (the second of four workers is 2/4)");
        return new ShardSpec(i - 1, n, "--shard");
    }

    /// <summary>
    /// The worker's place from the launcher's environment, first found of: Open MPI
    /// (OMPI_COMM_WORLD_RANK / _SIZE), MPICH and other PMI launchers (PMI_RANK / PMI_SIZE), a Slurm job
    /// array (SLURM_ARRAY_TASK_ID, _MIN, _STEP, _COUNT) and a Kubernetes Indexed Job (JOB_COMPLETION_INDEX,
    /// with the count from <paramref name="count"/> or HIERARS_SHARD_COUNT, since Kubernetes does not
    /// expose it). Null when none is set.
    /// </summary>
    public static ShardSpec? FromEnvironment(Func<string, string?> env, int? count = null)
    {
        if (env("OMPI_COMM_WORLD_RANK") is { } ompi)
            return Make("OMPI_COMM_WORLD_RANK", ompi, Require(env, "OMPI_COMM_WORLD_SIZE"), "OMPI_COMM_WORLD_SIZE");
        if (env("PMI_RANK") is { } pmi)
            return Make("PMI_RANK", pmi, Require(env, "PMI_SIZE"), "PMI_SIZE");
        if (env("SLURM_ARRAY_TASK_ID") is { } id)
        {
            int min = Int("SLURM_ARRAY_TASK_MIN", Require(env, "SLURM_ARRAY_TASK_MIN"));
            int step = env("SLURM_ARRAY_TASK_STEP") is { } s ? Int("SLURM_ARRAY_TASK_STEP", s) : 1;
            int task = Int("SLURM_ARRAY_TASK_ID", id);
            if (step < 1 || (task - min) % step != 0)
                throw new ArgumentException($"SLURM_ARRAY_TASK_ID={task} with SLURM_ARRAY_TASK_MIN={min} and SLURM_ARRAY_TASK_STEP={step}: use an array of evenly spaced ids such as --array=0-7");
            return Make("SLURM_ARRAY_TASK_ID", ((task - min) / step).ToString(CultureInfo.InvariantCulture), Require(env, "SLURM_ARRAY_TASK_COUNT"), "SLURM_ARRAY_TASK_COUNT");
        }
        if (env("JOB_COMPLETION_INDEX") is { } k8s)
        {
            string n = count?.ToString(CultureInfo.InvariantCulture) ?? env("HIERARS_SHARD_COUNT")
                ?? throw new ArgumentException($"JOB_COMPLETION_INDEX={k8s} is set but not the number of workers: pass --shard-count N (the Job's completions) or set HIERARS_SHARD_COUNT");
            return Make("JOB_COMPLETION_INDEX", k8s, n, count is null ? "HIERARS_SHARD_COUNT" : "--shard-count");
        }
        return count is null ? null : throw new ArgumentException($"--shard-count {count}: only with JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); elsewhere use --shard i/N");
    }

    /// <summary>The share for this process: <c>--shard</c> when given, else the environment's; null (all the work) for none or one worker.</summary>
    public static ShardSpec? Resolve(string? shard, int? count, Func<string, string?> env)
    {
        if (shard is not null && count is not null) throw new ArgumentException("--shard i/N already gives the number of workers: drop --shard-count");
        var s = shard is null ? FromEnvironment(env, count) : Parse(shard);
        return s is { Count: > 1 } ? s : null;
    }

    static ShardSpec Make(string indexName, string index, string count, string countName)
    {
        int i = Int(indexName, index), n = Int(countName, count);
        if (n < 1) throw new ArgumentException($"{countName}={count}: at least 1 worker");
        if (i < 0 || i >= n) throw new ArgumentException($"{indexName}={index}: outside the {n} workers of {countName} (0 to {n - 1})");
        return new ShardSpec(i, n, indexName);
    }

    static string Require(Func<string, string?> env, string name) =>
        env(name) ?? throw new ArgumentException($"{name} is not set: the launcher sets it with the worker's index; set it by hand or use --shard i/N");

    static int Int(string name, string value) =>
        int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v
            : throw new ArgumentException($"{name}={value}: not a whole number");

    /// <summary>This worker's items of a list, dealt round-robin (item j goes to worker j mod N).</summary>
    public IEnumerable<T> Deal<T>(IEnumerable<T> items) => items.Where((_, j) => j % Count == Index);

    /// <summary>This worker's contiguous range [From, To) of <paramref name="total"/> parts (sizes differ by at most one).</summary>
    public (int From, int To) Range(int total) => ((int)((long)total * Index / Count), (int)((long)total * (Index + 1) / Count));

    public override string ToString() => $"{Index + 1}/{Count}";
}
