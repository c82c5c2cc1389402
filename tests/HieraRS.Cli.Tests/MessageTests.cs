using HieraRS.Platform;
using HieraRS.Geo;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Cli.Tests;

/// <summary>Every error in one form (`error: ` and the message on its own line, exit 1), counts with their nouns in number (issue 12, item 8).</summary>
public class MessageTests
{
    static void AssertError(CliRun r, string message)
    {
        Assert.Equal(1, r.Code);
        Assert.StartsWith("error: ", r.Err);
        Assert.Contains(message, r.Err);
        Assert.All(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.Matches("^(error: |usage: hierars )", line));
    }

    [Fact]
    public void ErrorsOfEveryKindStartWithOnePrefix()
    {
        string dir = SharedData.TempDir();
        AssertError(CliRun.Of("train"), "Option '--config' is required.");
        AssertError(CliRun.Of("hierarchy", "validate"), "Required argument missing");
        Assert.Contains("usage: hierars hierarchy validate --help", CliRun.Of("hierarchy", "validate").Err);
        AssertError(CliRun.Of("synth", "--out", dir, "--count", "many"), "Cannot parse argument 'many'");
        AssertError(CliRun.Of("--threads", "0", "info"), "--threads must be at least 1");
        AssertError(CliRun.Of("eval", "--checkpoint", dir), $"{dir}: is a folder, not a safetensors file");
        AssertError(CliRun.Of("checkpoint", "inspect", Path.Combine(dir, "none.safetensors")), "no such safetensors file");
        AssertError(CliRun.Of("hierarchy", "show", dir), $"{dir}: is a folder, not a hierarchy file");
        string big = Path.Combine(dir, "big.yaml");
        File.WriteAllText(big, "name: big\nlevels:\n  - classes:\n" + string.Concat(Enumerable.Range(0, 256).Select(i => $"      - {{name: c{i}, colour: [1, 2, 3]}}\n")));
        AssertError(CliRun.Of("hierarchy", "validate", big), $"{big}:259: level 'L1' has 256 classes; at most 255");
    }

    [Fact]
    public void OneSceneIsOneScene()
    {
        string dir = SharedData.TempDir();
        var r = CliRun.Of("synth", "--out", dir, "--count", "1", "--size", "32", "--bands", "1");
        Assert.Equal(0, r.Code);
        Assert.StartsWith($"wrote 1 scene to {dir}", r.Out);
        Assert.Contains("# written by `hierars synth`: 1 scene of 32 x 32, 1 band, seed 0", File.ReadAllText(Path.Combine(dir, "dataset.yaml")));
    }

    [Fact]
    public void ScoreRefusesAnotherGroundGridUnlessTold()
    {
        string dir = SharedData.TempDir(), t = Path.Combine(dir, "t.tif"), p = Path.Combine(dir, "p.tif");
        Write(t, [300000, 2, 0, 5000000, 0, -2]);
        Write(p, [300000, 2, 0, 5000100, 0, -2]);
        var r = CliRun.Of("score", "--hierarchy", "whdld", "--pred", p, "--truth", t);
        AssertError(r, $"{p}: not on the ground grid of the truth {t}: geotransform (origin 300000, 5000100; pixel 2 x -2) vs (origin 300000, 5000000; pixel 2 x -2)");
        var ok = CliRun.Of("score", "--hierarchy", "whdld", "--pred", p, "--truth", t, "--ignore-georef");
        Assert.Equal(0, ok.Code);
        Assert.Contains("whdld: 1 file pair\n", ok.Out);
    }

    static void Write(string path, double[] transform)
    {
        using var w = RasterWriter.Create(path, 4, 1, 1, RasterType.Byte);
        w.SetGeoTransform(transform);
        w.Write(0, 0, 4, 1, [1], new byte[] { 0, 1, 2, 3 });
        w.Commit();
    }

    [Theory]
    [InlineData(1, "scene", false, "1 scene")]
    [InlineData(0, "tile", false, "0 tiles")]
    [InlineData(2, "class", false, "2 classes")]
    [InlineData(3, "entry", false, "3 entries")]
    [InlineData(2, "day", false, "2 days")]
    [InlineData(1, "file pair", false, "1 file pair")]
    [InlineData(12345, "labelled pixel", true, "12,345 labelled pixels")]
    public void NounsAgreeWithTheirCounts(long n, string noun, bool grouped, string expected) =>
        Assert.Equal(expected, Plural.Of(n, noun, grouped));

    [Fact]
    public void CheckDataAnswersOkThenFromTheCacheThenNamesTheBadFile() // issue 12, item 4
    {
        string dir = SharedData.TempDir(), cache = SharedData.TempDir();
        Environment.SetEnvironmentVariable("HIERARS_CACHE_DIR", cache);
        try
        {
            Assert.Equal(0, CliRun.Of("synth", "--out", dir, "--count", "2", "--size", "32").Code);
            string yaml = Path.Combine(dir, "dataset.yaml");
            Assert.EndsWith("ok: folder:all: 2 tiles, 4 files (0 from the cache)\n", CliRun.Of("check-data", "--data", yaml, "--split", "all").Out);
            Assert.EndsWith("ok: folder:all: 2 tiles, 4 files (4 from the cache)\n", CliRun.Of("check-data", "--data", yaml, "--split", "all").Out);
            string label = Path.Combine(dir, "label", "scene_001.tif");
            using (var w = RasterWriter.Create(label, 32, 32, 1, RasterType.Byte))
            {
                w.Write(0, 0, 32, 32, [1], Enumerable.Repeat((byte)200, 32 * 32).ToArray());
                w.Commit();
            }
            var r = CliRun.Of("check-data", "--data", yaml, "--split", "all");
            Assert.Equal(1, r.Code);
            Assert.Contains($"error: 1 file of folder:all has problems:\n  {label}: band 1 holds a value outside the label encoding 'default' of hierarchy 'mm5b': " +
                "200 (1,024 pixels, first at row 0, column 0)\n", r.Err);
            AssertError(CliRun.Of("check-data"), "give either --data FILE or --config FILE");
        }
        finally { Environment.SetEnvironmentVariable("HIERARS_CACHE_DIR", null); }
    }
}
