using HieraRS.Testing;
using HieraRS.Geo;

namespace HieraRS.Geo.Tests;

public class RasterTests
{
    static string GidRoot() => SharedData.GidRoot();

    static string Temp(string name) => Path.Combine(SharedData.TempDir("hierars-geo-"), name);

    const string Wgs84 = "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433],AUTHORITY[\"EPSG\",\"4326\"]]";

    [Fact]
    public void ReadsARealGaoFen2TileAndItsLabels()
    {
        string root = GidRoot();
        using var img = Raster.Open(Path.Combine(root, "GID-MTL15", "image", "arbor_woodland", "1.tif"));
        Assert.Equal((224, 224, 3), (img.Width, img.Height, img.BandCount));
        Assert.All(img.BandTypes, t => Assert.Equal(RasterType.Byte, t));
        var px = new float[3 * 224 * 224];
        img.Read(0, 0, 224, 224, [1, 2, 3], px);
        Assert.InRange(px.Average(), 1.0, 254.0);
        Assert.True(px.Distinct().Count() > 20, "a real image has many grey levels");
        var bytes = new byte[3 * 224 * 224];
        img.Read(0, 0, 224, 224, [1, 2, 3], bytes);
        Assert.Equal(px.Select(v => (byte)v), bytes);
        using var lab = Raster.Open(Path.Combine(root, "GID-MTL15", "label", "arbor_woodland", "1.tif"));
        var labels = new byte[224 * 224];
        lab.Read(0, 0, 224, 224, [1], labels);
        Assert.All(labels, v => Assert.InRange(v, 0, 15)); // GID-15 values, 15 unlabelled
    }

    [Fact]
    public void WindowsReadTheSamePixelsAsWholeReads()
    {
        using var img = Raster.Open(Path.Combine(GidRoot(), "GID-MTL15", "image", "arbor_woodland", "1.tif"));
        var all = new byte[224 * 224];
        img.Read(0, 0, 224, 224, [2], all);
        var win = new byte[10 * 7];
        img.Read(30, 40, 10, 7, [2], win);
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 10; c++) Assert.Equal(all[(40 + r) * 224 + 30 + c], win[r * 10 + c]);
    }

    [Fact]
    public void ConcurrentReadsOnOneRasterAgreeWithSerialReads()
    {
        // a tiled file with many blocks, read block by block from 4 threads at once
        string path = Temp("tiled.tif");
        var data = Enumerable.Range(0, 700 * 530).Select(i => (float)((i * 2654435761L) % 1000)).ToArray();
        using (var w = RasterWriter.Create(path, 700, 530, 1, RasterType.Float32, new GeoTiffOptions { TileSize = 128 }))
        {
            w.Write(0, 0, 700, 530, [1], data);
            w.Commit();
        }
        using var r = Raster.Open(path);
        Assert.Equal((128, 128), r.BlockSize);
        var windows = r.BlockWindows().ToList();
        Assert.Equal(6 * 5, windows.Count); // ceil(700/128) x ceil(530/128)
        Assert.Equal(700L * 530, windows.Sum(w => (long)w.Width * w.Height));
        Assert.Equal((640, 512, 60, 18), windows[^1]);
        var got = new float[700 * 530];
        Parallel.ForEach(Enumerable.Range(0, 40).SelectMany(_ => windows), new ParallelOptions { MaxDegreeOfParallelism = 4 }, win =>
        {
            var buf = new float[win.Width * win.Height];
            r.Read(win.X, win.Y, win.Width, win.Height, [1], buf);
            for (int y = 0; y < win.Height; y++)
                buf.AsSpan(y * win.Width, win.Width).CopyTo(got.AsSpan((win.Y + y) * 700 + win.X, win.Width));
        });
        Assert.Equal(data, got);
        Assert.Equal(4, r.BlockWindows(4).Count()); // 512-pixel windows: 2 x 2, clipped
    }

    [Fact]
    public void GeoreferencedRoundTrip()
    {
        string path = Temp("map.tif");
        double[] gt = [500000, 4, 0, 4_400_000, 0, -4];
        var data = Enumerable.Range(0, 2 * 300 * 280).Select(i => (float)(i % 97) / 7f).ToArray();
        using (var w = RasterWriter.Create(path, 300, 280, 2, RasterType.Float32))
        {
            w.SetGeoTransform(gt);
            w.SetProjection(Wgs84);
            w.SetNoData(-9999);
            w.SetDescription(2, "level 2: GID-5");
            w.Write(0, 0, 300, 280, [1, 2], data);
            Assert.False(File.Exists(path), "nothing at the final path before Commit");
            w.Commit();
        }
        using var r = Raster.Open(path);
        Assert.Equal(gt, r.GeoTransform);
        Assert.Contains("WGS 84", r.Projection);
        Assert.Equal(new double?[] { -9999, -9999 }, r.NoData);
        Assert.Equal("level 2: GID-5", r.Descriptions[1]);
        Assert.Equal((256, 256), r.BlockSize); // tiled
        var back = new float[data.Length];
        r.Read(0, 0, 300, 280, [1, 2], back);
        Assert.Equal(data, back);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!)); // no temporary left behind
    }

    [Fact]
    public void ColourTablesAndCogs()
    {
        string path = Temp("classes.tif");
        var classes = Enumerable.Range(0, 600 * 500).Select(i => (byte)(i % 5)).ToArray();
        using (var w = RasterWriter.Create(path, 600, 500, 1, RasterType.Byte, new GeoTiffOptions { Cog = true }))
        {
            w.SetColorTable(1, [(255, 0, 0), (0, 255, 0), (0, 255, 255), (255, 255, 0), (0, 0, 255)]);
            w.SetNoData(255);
            w.Write(0, 0, 600, 500, [1], classes);
            w.Commit();
        }
        using var r = Raster.Open(path);
        var ct = r.ColorTable(1)!;
        Assert.Equal((0, 255, 255), (ct[2].R, ct[2].G, ct[2].B));
        var back = new byte[classes.Length];
        r.Read(0, 0, 600, 500, [1], back);
        Assert.Equal(classes, back);
    }

    [Fact]
    public void AbandonedWritesLeaveNothing()
    {
        string path = Temp("never.tif");
        using (var w = RasterWriter.Create(path, 10, 10, 1, RasterType.Byte)) w.Write(0, 0, 10, 10, [1], new byte[100]);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void ErrorsNameTheFile()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Raster.Open("/nonexistent/scene.tif"));
        Assert.Contains("/nonexistent/scene.tif", e.Message);
        string junk = Temp("junk.tif");
        File.WriteAllText(junk, "not a raster");
        var g = Assert.Throws<GdalException>(() => Raster.Open(junk));
        Assert.Contains(junk, g.Message);
        using var img = Raster.Open(Path.Combine(GidRoot(), "GID-MTL15", "image", "arbor_woodland", "1.tif"));
        var o = Assert.Throws<ArgumentOutOfRangeException>(() => img.Read(200, 0, 50, 10, [1], new float[500]));
        Assert.Contains("outside the 224 x 224 raster", o.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => img.Read(0, 0, 1, 1, [4], new float[1]));
    }
}
