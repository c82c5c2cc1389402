using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Metrics;
using HieraRS.Domain.Visual;
using HieraRS.Geo;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

public class ScoringTests
{
    /// <summary>A two-level tree (2 / 3 classes), also written to files by other tests.</summary>
    internal const string TinyTree = """
        name: tiny
        levels:
          - name: coarse
            classes: [{name: A, colour: [255, 0, 0]}, {name: B, colour: [0, 0, 255]}]
          - name: fine
            classes: [{name: a1, parent: A, colour: [200, 0, 0]}, {name: a2, parent: A, colour: [150, 0, 0]}, {name: b1, parent: B, colour: [0, 0, 200]}]
        """;

    static readonly ClassHierarchy Tree = HierarchyLoader.Parse(TinyTree, "tiny.yaml");

    static void Write(string path, int w, int h, params byte[][] bands) => WriteGeo(path, null, "", w, h, bands);

    static void WriteGeo(string path, double[]? transform, string crs, int w, int h, params byte[][] bands)
    {
        using var r = RasterWriter.Create(path, w, h, bands.Length, RasterType.Byte);
        if (transform is not null) r.SetGeoTransform(transform);
        r.SetProjection(crs);
        for (int b = 0; b < bands.Length; b++) r.Write(0, 0, w, h, [b + 1], bands[b]);
        r.Commit();
    }

    [Fact]
    public void FinestOnlyPredictionsAreMappedUpwardAndScoredByHand()
    {
        string dir = SharedData.TempDir();
        // truth a1 a1 a2 / b1 (unlabelled) b1; prediction a1 a2 a2 / a1 b1 (none)
        Write(Path.Combine(dir, "truth", "t.tif"), 3, 2, [0, 0, 1, 2, 255, 2]);
        Write(Path.Combine(dir, "pred", "t.tif"), 3, 2, [0, 1, 1, 0, 2, 255]);
        var r = RasterScoring.Score(Tree, Path.Combine(dir, "pred"), Path.Combine(dir, "truth"));
        var m = r.Metrics;
        Assert.Equal([1L, 1], r.Unpredicted); // the last pixel, at both levels
        // fine: (a1,a1) (a1,a2) (a2,a2) (b1,a1)
        Assert.Equal([1L, 1, 0, 0, 1, 0, 1, 0, 0], m.Levels[1].Counts);
        Assert.Equal(0.5, m.Scores(1).OverallAccuracy);
        // coarse: A->A three times, B->A once
        Assert.Equal([3L, 0, 1, 0], m.Levels[0].Counts);
        Assert.Equal(0.75, m.Scores(0).Iou[0], 12);
        Assert.Equal(0.0, m.Scores(0).Iou[1]);
        Assert.Equal(1.0, m.Consistency); // upward mapping always gives valid paths
        Assert.Equal(0.5, m.PathAccuracy); // pixels 0 and 2 right at both levels
        Assert.Equal(4, m.EvaluatedPixels);
    }

    [Fact]
    public void PerLevelPredictionsCountInconsistentPaths()
    {
        string dir = SharedData.TempDir();
        Write(Path.Combine(dir, "t.tif"), 2, 2, [0, 1, 2, 2]);
        // coarse B over fine a1 is no valid path; the other three are
        Write(Path.Combine(dir, "p.tif"), 2, 2, [1, 0, 1, 1], [0, 1, 2, 2]);
        var m = RasterScoring.Score(Tree, Path.Combine(dir, "p.tif"), Path.Combine(dir, "t.tif")).Metrics;
        Assert.Equal(0.75, m.Consistency);
        Assert.Equal(0.75, m.PathAccuracy);
        Assert.Equal(1.0, m.Scores(1).OverallAccuracy);
    }

    [Fact]
    public void BadPredictionsAreNamedErrors()
    {
        string dir = SharedData.TempDir();
        Write(Path.Combine(dir, "truth", "x.tif"), 2, 1, [0, 1]);
        Write(Path.Combine(dir, "pred", "x.tif"), 2, 1, [0, 7]);
        var e = Assert.Throws<InvalidDataException>(() => RasterScoring.Score(Tree, Path.Combine(dir, "pred"), Path.Combine(dir, "truth")));
        Assert.Contains("x.tif: band 1 value 7 at row 0, column 1 is not a class id of level 2", e.Message);
        Write(Path.Combine(dir, "truth", "y.tif"), 2, 1, [0, 1]);
        Assert.Contains("no prediction for", Assert.Throws<FileNotFoundException>(() => RasterScoring.Pair(Path.Combine(dir, "pred"), Path.Combine(dir, "truth"))).Message);
        Write(Path.Combine(dir, "pred", "y.tif"), 1, 1, [0]);
        Assert.Contains("prediction is 1 x 1 but the truth", Assert.Throws<InvalidDataException>(() =>
            RasterScoring.Score(Tree, Path.Combine(dir, "pred", "y.tif"), Path.Combine(dir, "truth", "y.tif"))).Message);
    }

    [Fact]
    public void UpwardMapsFollowTheFirstPathThroughMultiParentLeaves()
    {
        var crop = HierarchyLoader.Builtin("crop10m"); // L3 "other" lies under (0,0) and (1,1)
        var up = crop.UpwardMaps();
        Assert.Equal((0, 0), (up[0][0], up[1][0]));
        Assert.Equal((1, 1), (up[0][2], up[1][2]));
    }

    [Fact]
    public void ReportsWriteJsonMarkdownCsvAndConfusionPictures()
    {
        var m = new HierarchicalMetrics(Tree);
        m.Add([[0, 0, 1], [0, 1, 2]], [[0, 1, 1], [0, 2, 2]]);
        string dir = SharedData.TempDir();
        var files = MetricsReport.Save(m, dir, "test");
        Assert.Equal(["metrics.json", "metrics.md", "metrics.csv", "confusion_L1.png", "confusion_L2.png"], files.Select(Path.GetFileName));
        using var png = Raster.Open(Path.Combine(dir, "confusion_L2.png"));
        Assert.Equal(3, png.BandCount);
        var text = MetricsReport.ToConsole(m);
        Assert.Contains("level 2 (fine)", text);
        Assert.Contains("consistency", text);
        Assert.Empty(Directory.GetFiles(dir, ".*")); // no temporary files left
    }

    [Fact]
    public void PngPicturesRoundTripThroughGdal()
    {
        var c = new Canvas(7, 5, (10, 20, 30));
        c.FillRect(2, 1, 3, 2, (200, 100, 50));
        string p = Path.Combine(SharedData.TempDir(), "c.png");
        c.SavePng(p);
        using var r = Raster.Open(p);
        var px = new byte[3 * 35];
        r.Read(0, 0, 7, 5, [1, 2, 3], px);
        Assert.Equal((byte)200, px[0 * 35 + 1 * 7 + 2]);
        Assert.Equal((byte)100, px[1 * 35 + 2 * 7 + 4]);
        Assert.Equal((byte)30, px[2 * 35 + 0]);
        // a legend names the classes present, and only those
        var three = QuickLook.ClassMap([0, 0, 2, 255], 2, 2, Tree.Levels[1], "map");
        var four = QuickLook.ClassMap([0, 1, 2, 255], 2, 2, Tree.Levels[1], "map");
        Assert.Equal(14, four.Height - three.Height); // one legend row more
    }

    [Fact]
    public void APredictionOffTheTruthsGroundGridIsRefusedSayingWhatDiffers() // issue 12, item 6
    {
        string dir = SharedData.TempDir(), t = Path.Combine(dir, "t.tif"), p = Path.Combine(dir, "p.tif");
        double[] grid = [500000, 4, 0, 4000000, 0, -4];
        string utm = Data.SyntheticScene.Utm50N;
        WriteGeo(t, grid, utm, 2, 1, [0, 1]);
        ScoreResult Score(bool ignore = false) => RasterScoring.Score(Tree, p, t, ignoreGeoreference: ignore);

        // one pixel east: the same size, other ground
        WriteGeo(p, [500004, 4, 0, 4000000, 0, -4], utm, 2, 1, [0, 1]);
        var e = Assert.Throws<InvalidDataException>(() => Score());
        Assert.Equal($"{p}: not on the ground grid of the truth {t}: geotransform (origin 500004, 4000000; pixel 4 x -4) vs " +
            "(origin 500000, 4000000; pixel 4 x -4) (prediction vs truth; --ignore-georef scores it anyway)", e.Message);
        Assert.Equal(2, Score(ignore: true).Metrics.EvaluatedPixels);

        // another CRS, and none
        WriteGeo(p, grid, "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]]", 2, 1, [0, 1]);
        Assert.Contains("CRS 'WGS 84' vs 'WGS 84 / UTM zone 50N'", Assert.Throws<InvalidDataException>(() => Score()).Message);
        WriteGeo(p, null, "", 2, 1, [0, 1]);
        Assert.Contains("geotransform none vs (origin 500000, 4000000; pixel 4 x -4); CRS none vs 'WGS 84 / UTM zone 50N'",
            Assert.Throws<InvalidDataException>(() => Score()).Message);

        // the same CRS in other words (no EPSG codes) and an origin a hundred-thousandth of a pixel off: the same grid
        string plain = System.Text.RegularExpressions.Regex.Replace(utm, @",AUTHORITY\[[^\]]*\]", "");
        Assert.NotEqual(utm, plain);
        WriteGeo(p, [500000.00004, 4, 0, 4000000, 0, -4], plain, 2, 1, [0, 1]);
        Assert.Equal(1.0, Score().Metrics.Scores(1).OverallAccuracy);
    }
}
