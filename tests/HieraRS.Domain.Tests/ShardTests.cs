using HieraRS.Domain.Inference;

namespace HieraRS.Domain.Tests;

/// <summary>A scene predicted by several workers, each writing its share of the parts (issue 15, part 2).</summary>
public class ShardTests(PredictFixture f) : IClassFixture<PredictFixture>
{
    const long ThreeStrips = 70L * 64 * 32 * 4; // accumulators for 70 columns: three strips on the 200-pixel scene

    string Out(string name) => Path.Combine(f.Dir, "shard", name);

    PredictResult Predict(PredictOptions o, string output) => new ScenePredictor(f.Model, o).Predict(f.Scene, output);

    /// <summary>What a single process writes with these options: the GeoTIFF's bytes and its VRT's.</summary>
    (byte[] Tif, string Vrt) Whole(PredictOptions o, string name)
    {
        string p = Out(name + "-whole.tif");
        Assert.True(Predict(o, p).Complete);
        return (File.ReadAllBytes(p), File.ReadAllText(ScenePredictor.ColourVrtPath(p)).Replace(Path.GetFileName(p), "MAP"));
    }

    void AssertSame((byte[] Tif, string Vrt) whole, string p)
    {
        Assert.Equal(whole.Tif, File.ReadAllBytes(p)); // byte for byte
        Assert.Equal(whole.Vrt, File.ReadAllText(ScenePredictor.ColourVrtPath(p)).Replace(Path.GetFileName(p), "MAP"));
        Assert.False(Directory.Exists(ScenePredictor.PartialDir(p)));
    }

    [Theory]
    [InlineData(16, 1L << 30, 2)]    // one strip: the workers meet inside it
    [InlineData(16, ThreeStrips, 2)] // three strips
    [InlineData(40, ThreeStrips, 2)] // windows reach two rows of parts down (rows at 0, 24, 48, ...): both recomputed before the second worker's first part (strip 2, row 4)
    [InlineData(40, 1L << 30, 3)]    // the same in one strip, three workers
    public void WorkersTogetherWriteTheMapOneProcessWrites(int overlap, long budget, int workers)
    {
        var o = new PredictOptions { Window = 64, Overlap = overlap, Batch = 2, AccumulatorBudget = budget, Confidence = true };
        var whole = Whole(o, $"w{overlap}-{budget}");
        string p = Out($"sharded{overlap}-{budget}.tif");
        for (int i = 0; i < workers; i++)
        {
            var r = Predict(o with { Shard = new ShardSpec(i, workers, "test") }, p);
            bool last = i == workers - 1;
            Assert.Equal(last, r.Complete); // the last worker to finish assembles
            Assert.Equal(last, File.Exists(p));
            if (!last) Assert.True(r.MissingParts > 0);
        }
        AssertSame(whole, p);
    }

    [Fact]
    public void AStoppedWorkerIsRerunAloneAndResumesFromItsParts()
    {
        var o = new PredictOptions { Window = 64, Overlap = 16, AccumulatorBudget = ThreeStrips };
        var whole = Whole(o, "resume");
        string p = Out("resumed.tif");
        var (first, second) = (o with { Shard = new ShardSpec(0, 2, "test") }, o with { Shard = new ShardSpec(1, 2, "test") });
        Assert.False(Predict(first with { StopAfterRows = 2 }, p).Complete); // killed after two of its parts
        var other = Predict(second, p);
        Assert.Equal(0, other.ResumedRows); // the first worker's parts are not the second's to resume
        int missing = other.MissingParts;
        Assert.True(missing > 0);
        var e = Assert.Throws<InvalidDataException>(() => Predict(o with { Merge = true }, p));
        Assert.Contains($"{missing} of ", e.Message);
        Assert.False(File.Exists(p));
        var rerun = Predict(first, p);
        Assert.Equal(2, rerun.ResumedRows);
        Assert.True(rerun.Complete);
        AssertSame(whole, p);
    }

    [Fact]
    public void MergeAssemblesWhatTheWorkersWrote()
    {
        var o = new PredictOptions { Window = 64, Overlap = 16, AccumulatorBudget = ThreeStrips };
        var whole = Whole(o, "merge");
        string p = Out("merged.tif");
        Assert.Contains("no parts to merge", Assert.Throws<InvalidDataException>(() => Predict(o with { Merge = true }, p)).Message);
        Assert.False(Predict(o with { Shard = new ShardSpec(1, 2, "test") }, p).Complete);
        // the first worker writes its last part and dies before it can assemble
        // 12 parts (3 strips of 4 rows of windows: 0, 48, 96, 136), the first worker's are 0-5
        Assert.False(Predict(o with { Shard = new ShardSpec(0, 2, "test"), StopAfterRows = 6 }, p).Complete);
        Assert.False(File.Exists(p));
        Assert.Contains("another scene, checkpoint or options", Assert.Throws<InvalidDataException>(() => Predict(o with { Merge = true, Blend = BlendMode.Linear }, p)).Message);
        var merged = Predict(o with { Merge = true }, p);
        Assert.True(merged.Complete);
        Assert.Equal(0, merged.Windows);
        AssertSame(whole, p);
    }

    [Fact]
    public void WorkersKeepEachOthersPartsButDiscardAnEarlierRunsWithOtherOptions()
    {
        var o = new PredictOptions { Window = 64, Overlap = 16 };
        string p = Out("stale.tif");
        Assert.False(Predict(o with { Blend = BlendMode.None, StopAfterRows = 1 }, p).Complete); // an earlier run, other options
        var notices = new List<string>();
        Assert.False(new ScenePredictor(f.Model, o with { Shard = new ShardSpec(0, 2, "test") }).Predict(f.Scene, p, notice: notices.Add).Complete);
        Assert.Contains("discarded the partial output", Assert.Single(notices));
        notices.Clear();
        Assert.True(new ScenePredictor(f.Model, o with { Shard = new ShardSpec(1, 2, "test") }).Predict(f.Scene, p, notice: notices.Add).Complete);
        Assert.Empty(notices); // the first worker's parts were kept
        AssertSame(Whole(o, "stale"), p);
    }

    [Fact]
    public async Task OnlyTheHolderOfThePartialFoldersLockAssembles()
    {
        var o = new PredictOptions { Window = 64, Overlap = 16 };
        string p = Out("locked.tif");
        Assert.False(Predict(o with { Shard = new ShardSpec(0, 2, "test") }, p).Complete);
        Task<PredictResult> second;
        // another worker (here: this test) holds the lock, as while it assembles: the last worker waits for it
        using (new FileStream(Path.Combine(ScenePredictor.PartialDir(p), "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            second = Task.Run(() => Predict(o with { Shard = new ShardSpec(1, 2, "test") }, p));
            await Task.WhenAny(second, Task.Delay(TimeSpan.FromSeconds(5))); // its parts take about a second
            Assert.False(second.IsCompleted);
            Assert.False(File.Exists(p));
        }
        Assert.True((await second).Complete);
        AssertSame(Whole(o, "locked"), p);
    }

    [Fact]
    public void RestartAndMergeAreRefusedWhereTheyWouldLoseParts()
    {
        Assert.Contains("--restart with --shard", Assert.Throws<ArgumentException>(() => new PredictOptions { Shard = new ShardSpec(0, 2, "t"), Resume = false }.Validate()).Message);
        Assert.Contains("--merge with --shard 1/2", Assert.Throws<ArgumentException>(() => new PredictOptions { Shard = new ShardSpec(0, 2, "t"), Merge = true }.Validate()).Message);
    }

    [Theory]
    [InlineData("1/2", 0, 2)]
    [InlineData("2/2", 1, 2)]
    [InlineData("7/8", 6, 8)]
    public void ShardsAreOneBasedOnTheCommandLine(string text, int index, int count) =>
        Assert.Equal(new ShardSpec(index, count, "--shard"), ShardSpec.Parse(text));

    [Theory]
    [InlineData("0/2")]
    [InlineData("3/2")]
    [InlineData("1/0")]
    [InlineData("1-2")]
    [InlineData("a/b")]
    [InlineData("-1/2")]
    public void BadShardsAreRefused(string text) =>
        Assert.Contains($"--shard {text}: use i/N", Assert.Throws<ArgumentException>(() => ShardSpec.Parse(text)).Message);

    static Func<string, string?> Env(params string[] pairs)
    {
        var d = pairs.Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        return k => d.GetValueOrDefault(k);
    }

    [Theory]
    [InlineData(0, 4, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_RANK=0", "OMPI_COMM_WORLD_SIZE=4", "SLURM_ARRAY_TASK_ID=3")] // MPI first
    [InlineData(2, 3, "PMI_RANK", "PMI_RANK=2", "PMI_SIZE=3")]
    [InlineData(1, 4, "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_ID=6", "SLURM_ARRAY_TASK_MIN=5", "SLURM_ARRAY_TASK_COUNT=4")] // --array=5-8
    [InlineData(3, 4, "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_ID=6", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_STEP=2", "SLURM_ARRAY_TASK_COUNT=4")] // --array=0-6:2
    [InlineData(5, 6, "JOB_COMPLETION_INDEX", "JOB_COMPLETION_INDEX=5", "HIERARS_SHARD_COUNT=6")]
    public void TheWorkersPlaceIsReadFromItsLauncher(int index, int count, string source, params string[] env) =>
        Assert.Equal(new ShardSpec(index, count, source), ShardSpec.FromEnvironment(Env(env)));

    [Fact]
    public void TheEnvironmentIsCheckedAndTheCommandLineWins()
    {
        Assert.Null(ShardSpec.FromEnvironment(Env()));
        Assert.Equal(new ShardSpec(1, 3, "JOB_COMPLETION_INDEX"), ShardSpec.FromEnvironment(Env("JOB_COMPLETION_INDEX=1"), count: 3));
        Assert.Contains("pass --shard-count N", Assert.Throws<ArgumentException>(() => ShardSpec.FromEnvironment(Env("JOB_COMPLETION_INDEX=1"))).Message);
        Assert.Contains("OMPI_COMM_WORLD_SIZE is not set", Assert.Throws<ArgumentException>(() => ShardSpec.FromEnvironment(Env("OMPI_COMM_WORLD_RANK=1"))).Message);
        Assert.Contains("PMI_RANK=4: outside the 4 workers", Assert.Throws<ArgumentException>(() => ShardSpec.FromEnvironment(Env("PMI_RANK=4", "PMI_SIZE=4"))).Message);
        Assert.Contains("SLURM_ARRAY_TASK_COUNT=x: not a whole number", Assert.Throws<ArgumentException>(() => ShardSpec.FromEnvironment(Env("SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_COUNT=x"))).Message);
        Assert.Contains("--shard-count 2: only with JOB_COMPLETION_INDEX", Assert.Throws<ArgumentException>(() => ShardSpec.FromEnvironment(Env(), count: 2)).Message);
        Assert.Equal(new ShardSpec(0, 2, "--shard"), ShardSpec.Resolve("1/2", null, Env("PMI_RANK=3", "PMI_SIZE=4")));
        Assert.Null(ShardSpec.Resolve(null, null, Env("PMI_RANK=0", "PMI_SIZE=1"))); // one worker: all the work, as without
        Assert.Null(ShardSpec.Resolve("1/1", null, Env("PMI_RANK=0", "PMI_SIZE=4"))); // --shard 1/1 turns the environment's off
    }

    [Fact]
    public void ScenesAreDealtAndPartsCutWithoutGapsOrOverlaps()
    {
        var scenes = Enumerable.Range(0, 7).Select(i => $"s{i}.tif").ToArray();
        var dealt = Enumerable.Range(0, 3).Select(i => new ShardSpec(i, 3, "t").Deal(scenes).ToArray()).ToArray();
        Assert.Equal(["s0.tif", "s3.tif", "s6.tif"], dealt[0]);
        Assert.Equal(scenes.Order(), dealt.SelectMany(d => d).Order());
        foreach (int parts in new[] { 1, 2, 7, 100 })
        {
            var ranges = Enumerable.Range(0, 3).Select(i => new ShardSpec(i, 3, "t").Range(parts)).ToArray();
            Assert.Equal(0, ranges[0].From);
            Assert.Equal(parts, ranges[^1].To);
            for (int i = 1; i < 3; i++) Assert.Equal(ranges[i - 1].To, ranges[i].From);
            Assert.True(ranges.Max(r => r.To - r.From) - ranges.Min(r => r.To - r.From) <= 1);
        }
    }
}
