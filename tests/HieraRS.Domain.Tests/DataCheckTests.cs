using HieraRS.Domain.Data;
using HieraRS.Domain.Data.Check;
using HieraRS.Domain.Training;
using HieraRS.Geo;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

/// <summary>
/// The pre-scan of a dataset's files (issue 12, item 4), on real GeoTIFFs written here with one
/// fault each: every problem is named at once, with file, value and band, before a work dir exists.
/// </summary>
public class DataCheckTests
{
    sealed record Fixture(string Dir, string DataYaml, string CacheDir)
    {
        public string Image(string n) => Path.Combine(Dir, "img", n + ".tif");
        public string Label(string n) => Path.Combine(Dir, "ann", n + ".tif");
        public ISegmentationDataset Open() => Datasets.Open(DatasetSpec.Load(DataYaml));
    }

    static void Write<T>(string path, int w, int h, int bands, RasterType type, T[] perBand) where T : unmanaged
    {
        using var r = RasterWriter.Create(path, w, h, bands, type);
        for (int b = 1; b <= bands; b++)
            if (perBand is float[] f) r.Write(0, 0, w, h, [b], f); else r.Write(0, 0, w, h, [b], (byte[])(object)perBand);
        r.Commit();
    }

    /// <summary>Five tiles of 4 x 3 with 2 bands; "good" is right, each other one has its fault.</summary>
    static Fixture Make()
    {
        string dir = SharedData.TempDir();
        Directory.CreateDirectory(Path.Combine(dir, "img"));
        var f = new Fixture(dir, Path.Combine(dir, "data.yaml"), SharedData.TempDir());
        File.WriteAllText(Path.Combine(dir, "tree.yaml"), ScoringTests.TinyTree);
        File.WriteAllText(f.DataYaml, "type: folder\nroot: .\nhierarchy: tree.yaml\nimages: img/*.tif\nlabels: ann/{stem}.tif\nsplit: all\n");
        byte[] ok = [0, 1, 2, 0, 1, 2, 0, 1, 2, 255, 255, 2];
        foreach (var n in new[] { "a-good", "b-values", "c-size", "d-bands", "e-float", "f-garbage" })
        {
            if (n != "f-garbage") Write(f.Image(n), 4, 3, n == "d-bands" ? 1 : 2, RasterType.Byte, new byte[12]);
            Write(f.Label(n), 4, 3, 1, RasterType.Byte, ok);
        }
        Write(f.Label("b-values"), 4, 3, 1, RasterType.Byte, new byte[] { 0, 1, 7, 0, 1, 9, 7, 1, 2, 255, 255, 2 });
        Write(f.Label("c-size"), 3, 3, 1, RasterType.Byte, new byte[9]);
        Write(f.Label("e-float"), 4, 3, 1, RasterType.Float32, new float[] { 0, 1, 2, 0, 1, 2.5f, 0, 1, 2, 0, 1, 2 });
        File.WriteAllText(f.Image("f-garbage"), "not a raster");
        return f;
    }

    [Fact]
    public void EveryBadFileIsNamedWithItsValueAndBand()
    {
        var f = Make();
        var r = DataCheck.Run(f.Open(), f.CacheDir);
        Assert.Equal((6, 12, 0), (r.Tiles, r.Files, r.Cached));
        Assert.Equal(5, r.Problems.Count);
        Assert.Equal(new DataProblem(f.Label("b-values"), "band 1 holds values outside the label encoding 'default' of hierarchy 'tiny': " +
            "7 (2 pixels, first at row 0, column 2), 9 (1 pixel, first at row 1, column 1)"), r.Problems[0]);
        Assert.Equal(new DataProblem(f.Label("c-size"), $"labels are 3 x 3 but the image {f.Image("c-size")} is 4 x 3"), r.Problems[1]);
        Assert.Equal(new DataProblem(f.Image("d-bands"), "has 1 band, the dataset reads band 2"), r.Problems[2]);
        Assert.Equal(new DataProblem(f.Label("e-float"), "band 1 value 2.5 at row 1, column 1 is not a class value (0..255)"), r.Problems[3]);
        Assert.Equal(f.Image("f-garbage"), r.Problems[4].File);
        Assert.StartsWith("cannot be read: opening the raster failed", r.Problems[4].Message);
    }

    [Fact]
    public void ARerunReadsUnchangedFilesFromTheCacheAndRescansChangedOnes()
    {
        var f = Make();
        var first = DataCheck.Run(f.Open(), f.CacheDir);
        var again = DataCheck.Run(f.Open(), f.CacheDir);
        Assert.Equal(12, again.Cached);
        Assert.Equal(first.Problems, again.Problems);
        // the bad values fixed (a new size and time): that file alone is scanned again
        Write(f.Label("b-values"), 4, 3, 1, RasterType.Byte, new byte[] { 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2 });
        File.SetLastWriteTimeUtc(f.Label("b-values"), DateTime.UtcNow.AddMinutes(1));
        var fixedRun = DataCheck.Run(f.Open(), f.CacheDir);
        Assert.Equal(11, fixedRun.Cached);
        Assert.Equal(first.Problems.Skip(1), fixedRun.Problems);
        // a corrupt cache is started afresh, not an error
        foreach (var c in Directory.GetFiles(f.CacheDir)) File.WriteAllText(c, "{\"x\": [");
        Assert.Equal(first.Problems.Skip(1), DataCheck.Run(f.Open(), f.CacheDir).Problems);
    }

    [Fact]
    public void TrainingRefusesBadDataBeforeItTouchesTheWorkDir()
    {
        var f = Make();
        string config = $$"""
            name: bad-data
            data:
              train: {type: folder, root: {{f.Dir}}, hierarchy: {{Path.Combine(f.Dir, "tree.yaml")}}, images: img/*.tif, labels: "ann/{stem}.tif", split: all}
              batch_size: 2
            model: {backbone: resnet18, head: fcn, channels: 8}
            train: {iterations: 2}
            """;
        string work = Path.Combine(SharedData.TempDir(), "work");
        var e = Assert.Throws<InvalidDataException>(() => new Trainer(ExperimentConfig.Parse(config, "bad.yaml", f.Dir), work).Run());
        Assert.StartsWith("5 files of folder:all have problems:\n  " + f.Label("b-values") + ": band 1 holds values", e.Message);
        Assert.Equal(6, e.Message.Split('\n').Length);
        Assert.False(Directory.Exists(work), "no half-started work dir");
    }
}
