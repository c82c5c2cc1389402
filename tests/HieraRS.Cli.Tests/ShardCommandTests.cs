using HieraRS.Testing;

namespace HieraRS.Cli.Tests;

/// <summary><c>hierars predict</c> split among workers (issue 15, part 2), with the checkpoint fixture and synthetic scenes.</summary>
public class ShardCommandTests
{
    static readonly string Checkpoint = SharedData.Unpacked(Path.Combine(CliRun.RepoRoot(), "tests", "fixtures", "checkpoints", "bhccm.safetensors.gz"));

    static string[] Predict(string input, string output, params string[] more) =>
        ["predict", "--checkpoint", Checkpoint, "--input", input, "--output", output, "--window", "64", "--overlap", "16", "--threads", "1", .. more];

    static void Ok(CliRun r) => Assert.True(r.Code == 0, r.Err);

    static Dictionary<string, byte[]> Files(string dir) =>
        Directory.EnumerateFiles(dir).Where(f => !f.EndsWith(".vrt")).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);

    [Fact]
    public void AFolderOfScenesIsDealtToTheWorkersAndGivesTheSameFiles()
    {
        string dir = SharedData.TempDir();
        Ok(CliRun.Of("synth", "--out", dir, "--count", "3", "--size", "80"));
        string scenes = Path.Combine(dir, "image"), one = Path.Combine(dir, "one"), two = Path.Combine(dir, "two");
        Ok(CliRun.Of(Predict(scenes, one)));
        var first = CliRun.Of(Predict(scenes, two, "--shard", "1/2"));
        Ok(first);
        Assert.Contains("worker 1/2 (from --shard): 2 of the 3 scenes", first.Out);
        Assert.Equal(["scene_000.tif", "scene_002.tif"], Directory.EnumerateFiles(two, "*.tif").Select(Path.GetFileName).Order());
        Ok(CliRun.Of(Predict(scenes, two, "--shard", "2/2")));
        var expected = Files(one);
        Assert.Equal(12, expected.Count); // 3 maps and their 9 quick-looks
        Assert.Equal(expected, Files(two));
    }

    [Fact]
    public void OneSceneSplitAmongWorkersThenMergedIsTheSameFile()
    {
        string dir = SharedData.TempDir();
        Ok(CliRun.Of("synth", "--out", dir, "--count", "1", "--size", "150"));
        string scene = Path.Combine(dir, "image", "scene_000.tif"), one = Path.Combine(dir, "one.tif"), two = Path.Combine(dir, "two.tif");
        Ok(CliRun.Of(Predict(scene, one)));
        var first = CliRun.Of(Predict(scene, two, "--shard", "2/2"));
        Ok(first);
        Assert.Contains("1 part of other workers to come", first.Out); // 3 rows of windows (0, 48, 86), the first worker's
        Assert.False(File.Exists(two));
        var early = CliRun.Of(Predict(scene, two, "--merge"));
        Assert.Equal(1, early.Code);
        Assert.Contains("parts are not written yet", early.Err);
        Ok(CliRun.Of(Predict(scene, two, "--shard", "1/2")));
        Assert.Equal(File.ReadAllBytes(one), File.ReadAllBytes(two));
    }

    [Theory]
    [InlineData("--shard", "3/2", "--shard 3/2: use i/N with 1 <= i <= N")]
    [InlineData("--shard-count", "4", "--shard-count 4: only with JOB_COMPLETION_INDEX")]
    public void BadSharesAreRefusedBeforeAnyWork(string option, string value, string message)
    {
        string dir = SharedData.TempDir();
        var r = CliRun.Of(Predict(Path.Combine(dir, "none.tif"), Path.Combine(dir, "out.tif"), option, value));
        Assert.Equal(1, r.Code);
        Assert.Contains(message, r.Err);
    }
}
