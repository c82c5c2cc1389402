using HieraRS.Domain.Config;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Geo;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

public class DataTests
{
    static DatasetSpec Gid(params string[] sets) => new()
    {
        Type = "gid-mtl", Root = SharedData.GidRoot(), Sets = sets, Splits = SplitSpec.Default,
    };

    [Fact]
    public void GidMtlFindsEveryTileAndSplitsByHash()
    {
        var all = (TileDataset)Datasets.Open(Gid("GID-MTL15"), "all");
        Assert.Equal(510, all.Count); // README: 510 GID-MTL15 tiles
        Assert.Equal(1016, Datasets.Open(Gid("GID-MTL15", "GID-MTL5"), "all").Count);
        Assert.StartsWith("GID-MTL15/image/", all.Id(0));
        var train = (TileDataset)Datasets.Open(Gid("GID-MTL15"), "train");
        var val = (TileDataset)Datasets.Open(Gid("GID-MTL15"), "val");
        Assert.Equal(510, train.Count + val.Count);
        Assert.Empty(train.Items.Select(i => i.Id).Intersect(val.Items.Select(i => i.Id)));
        Assert.InRange(train.Count / 510.0, 0.74, 0.86);
        // stable: the same seed gives the same split, another seed another one
        Assert.Equal(train.Items.Select(i => i.Id), ((TileDataset)Datasets.Open(Gid("GID-MTL15"), "train")).Items.Select(i => i.Id));
        var other = (TileDataset)Datasets.Open(Gid("GID-MTL15") with { Splits = SplitSpec.Default with { Seed = 7 } }, "train");
        Assert.NotEqual(train.Items.Select(i => i.Id), other.Items.Select(i => i.Id));
        Assert.Throws<ArgumentException>(() => Datasets.Open(Gid("GID-MTL15"), "test"));
    }

    [Fact]
    public void GidMtl15LabelsDeriveEveryLevelAndMtl5IsCoarseOnly()
    {
        var gid = HierarchyLoader.Builtin("gid");
        var ds = (TileDataset)Datasets.Open(Gid("GID-MTL15", "GID-MTL5"), "all");
        int fine = ds.Items.ToList().FindIndex(i => i.Id == "GID-MTL15/image/paddy_field/11");
        int coarse = ds.Items.ToList().FindIndex(i => i.Id.StartsWith("GID-MTL5/image/farmland/"));
        var s = ds.Load(fine);
        Assert.Equal((3, 224, 224, 2), (s.Bands, s.Height, s.Width, s.LabelLevel));
        // the raw file, decoded by hand: GID-15 value v (15 = unlabelled) -> L2 parent -> L1 parent
        using var lab = Raster.Open(ds.Items[fine].LabelPath!);
        var raw = new byte[224 * 224];
        lab.Read(0, 0, 224, 224, [1], raw);
        int[] toL2 = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4], toL1 = [0, 1, 1, 1, 2];
        for (int i = 0; i < raw.Length; i++)
        {
            byte v = raw[i];
            if (v == 15) { Assert.All(s.Labels, l => Assert.Equal(ClassHierarchy.NoClass, l[i])); continue; }
            Assert.Equal(v, s.Labels[2][i]);
            Assert.Equal(toL2[v], s.Labels[1][i]);
            Assert.Equal(toL1[toL2[v]], s.Labels[0][i]);
        }
        var c = ds.Load(coarse);
        Assert.Equal(1, c.LabelLevel);
        Assert.All(c.Labels[2], v => Assert.Equal(ClassHierarchy.NoClass, v)); // finer level ignored
        Assert.Contains(c.Labels[1], v => v == 1); // farmland tiles hold farmland
        for (int i = 0; i < c.Pixels; i++)
            if (c.Labels[1][i] != ClassHierarchy.NoClass) Assert.Equal(toL1[c.Labels[1][i]], c.Labels[0][i]);
        Assert.Equal(gid.Depth, c.Labels.Length);
    }

    [Fact]
    public void ListSplitsAcceptIdSuffixesAndNameBadLines()
    {
        string dir = SharedData.TempDir();
        string pond = Path.GetFileNameWithoutExtension(Directory.GetFiles(Path.Combine(SharedData.GidRoot(), "GID-MTL15", "image", "pond")).Order().First());
        File.WriteAllText(Path.Combine(dir, "val.txt"), $"# two tiles\nlake/15\nGID-MTL15/image/pond/{pond}.tif\n");
        var spec = Gid("GID-MTL15") with { Splits = new SplitSpec(SplitMethod.Lists, 0, [], new Dictionary<string, string> { ["val"] = Path.Combine(dir, "val.txt") }) };
        var val = (TileDataset)Datasets.Open(spec, "val");
        Assert.Equal(["GID-MTL15/image/lake/15", $"GID-MTL15/image/pond/{pond}"], val.Items.Select(i => i.Id).Order().ToArray());
        File.AppendAllText(Path.Combine(dir, "val.txt"), "lake/99999\n");
        var e = Assert.Throws<InvalidDataException>(() => Datasets.Open(spec, "val"));
        Assert.Contains("val.txt:4: no tile 'lake/99999'", e.Message);
    }

    [Fact]
    public void SpecErrorsNameFileLineAndKey()
    {
        string dir = SharedData.TempDir();
        string f = Path.Combine(dir, "data.yaml");
        File.WriteAllText(f, "type: gid-mtl\nroot: .\nsplitz: train\n");
        var e = Assert.Throws<ConfigException>(() => DatasetSpec.Load(f));
        Assert.Contains("data.yaml:3: unknown key 'splitz'", e.Message);
        File.WriteAllText(f, "type: gid-mtl\nroot: .\nnormalize: {mean: [1, 2], std: [1]}\n");
        Assert.Contains("data.yaml:3: 'std' has 1 values but 'mean' has 2", Assert.Throws<ConfigException>(() => DatasetSpec.Load(f)).Message);
        File.WriteAllText(f, "type: rasters\nroot: .\n");
        Assert.Contains("data.yaml:1: 'type' must be one of", Assert.Throws<ConfigException>(() => DatasetSpec.Load(f)).Message);
        File.WriteAllText(f, "type: folder\nroot: .\nhierarchy: mm5b\nimages: img/*.tif\nsplits: {train: 0.8, val: 0.4}\n");
        Assert.Contains("add up to 1.2", Assert.Throws<ConfigException>(() => DatasetSpec.Load(f)).Message);
    }

    [Fact]
    public void SyntheticScenesWrittenAsFilesReadBackAsAFolderDataset()
    {
        // a scene with a nodata collar, written as GeoTIFFs, read through the generic folder dataset
        string dir = SharedData.TempDir();
        var tree = HierarchyLoader.Builtin("mm5b");
        var scene = new SyntheticScene(tree, new SyntheticSceneOptions { Size = 300, NoDataCollar = 0.05 }, seed: 3);
        scene.Write(Path.Combine(dir, "image", "a.tif"), Path.Combine(dir, "label", "a.tif"));
        File.WriteAllText(Path.Combine(dir, "data.yaml"), "type: folder\nroot: .\nhierarchy: mm5b\nimages: image/*.tif\nlabels: label/{stem}.tif\n");
        var ds = Datasets.Open(DatasetSpec.Load(Path.Combine(dir, "data.yaml")), "all");
        var s = ds.Load(0);
        var truth = scene.Render();
        Assert.Equal(truth.Image, s.Image);
        Assert.Equal(truth.Valid, s.Valid);
        Assert.Contains(s.Valid, v => v == 0);
        for (int l = 0; l < tree.Depth; l++) Assert.Equal(truth.Labels[l], s.Labels[l]);
        Assert.Equal(scene.GeoTransform, s.GeoTransform);
        Assert.Contains("UTM zone 50N", s.Projection);
        using var img = Raster.Open(Path.Combine(dir, "image", "a.tif"));
        Assert.Equal(["Blue", "Green", "Red", "NIR"], img.Descriptions);
        Assert.All(img.NoData, v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void SyntheticScenesAreDeterministicWindowableAndValidPaths()
    {
        var tree = HierarchyLoader.Builtin("crop10m"); // multi-parent "other": paths, not leaves, are drawn
        var scene = new SyntheticScene(tree, new SyntheticSceneOptions { Size = 200 }, 11);
        var a = scene.Render();
        var b = new SyntheticScene(tree, new SyntheticSceneOptions { Size = 200 }, 11).Render();
        Assert.Equal(a.Image, b.Image);
        Assert.NotEqual(a.Image, new SyntheticScene(tree, new SyntheticSceneOptions { Size = 200 }, 12).Render().Image);
        var (win, labels, _) = scene.RenderWindow(50, 70, 40, 30);
        for (int r = 0; r < 30; r++)
            for (int c = 0; c < 40; c++)
            {
                Assert.Equal(a.Image[(70 + r) * 200 + 50 + c], win[r * 40 + c]);
                Assert.Equal(a.Labels[2][(70 + r) * 200 + 50 + c], labels[2][r * 40 + c]);
            }
        Span<int> path = stackalloc int[3];
        var seen = new HashSet<int>();
        for (int i = 0; i < a.Pixels; i++)
        {
            for (int l = 0; l < 3; l++) path[l] = a.Labels[l][i];
            Assert.True(tree.IsValidPath(path));
            seen.Add(path[2]);
        }
        Assert.True(seen.Count >= 3, "a scene shows several classes");
    }

    [Fact]
    public void SyntheticSpectraSeparateClasses()
    {
        // the mean spectrum of each leaf differs from its siblings' by more than the noise: learnable
        var tree = HierarchyLoader.Builtin("mm5b");
        var s = new SyntheticScene(tree, new SyntheticSceneOptions { Size = 512 }, 1).Render();
        var means = new Dictionary<int, double[]>();
        foreach (var g in Enumerable.Range(0, s.Pixels).GroupBy(i => s.Labels[2][i]).Where(g => g.Count() > 500))
            means[g.Key] = Enumerable.Range(0, 4).Select(b => g.Average(i => (double)s.Image[b * s.Pixels + i])).ToArray();
        Assert.True(means.Count >= 6);
        foreach (var (x, mx) in means)
            foreach (var (y, my) in means)
                if (x < y) Assert.True(Enumerable.Range(0, 4).Max(b => Math.Abs(mx[b] - my[b]) / Normalization.GaoFen2.Std[b]) > 0.15, $"classes {x} and {y} look alike");
    }

    [Fact]
    public void NormalisationAndNodataMasks()
    {
        var n = new Normalization([10f, 100f], [2f, 50f]);
        float[] img = [12, 8, 0, 150, 100, 0];
        n.Apply(img, 3, [1, 1, 0]);
        Assert.Equal([1f, -1f, 0f, 1f, 0f, 0f], img);
        Assert.Equal([0.5f, 0.5f], Normalization.Scale(2, 2.0).Std); // x * 2 = (x - 0) / 0.5
        Assert.Throws<ArgumentException>(() => new Normalization([0f], [0f]).Validate(1, "x"));
        // a pixel is nodata when every band with a nodata value holds it; NaN is always invalid
        float[] bands = [0, 0, 5, float.NaN, /* band 2 */ 0, 7, 0, 1];
        Assert.Equal([0, 1, 1, 0], TileDataset.ValidMask(bands, 4, [0.0, 0.0]));
        Assert.Equal([0, 1, 0, 0], TileDataset.ValidMask(bands, 4, [null, 0.0]));
        Assert.Equal([1, 1, 1, 0], TileDataset.ValidMask(bands, 4, [null, null]));
    }

    [Fact]
    public void BandStatisticsMatchATwoPassComputation()
    {
        var g = new Generator(5);
        var samples = Enumerable.Range(0, 4).Select(k =>
        {
            int n = 100 + 37 * k;
            var img = Enumerable.Range(0, 2 * n).Select(i => (float)(i < n ? 10000 + 3 * g.NextNormal() : -2 + g.NextDouble())).ToArray();
            var valid = Enumerable.Range(0, n).Select(i => (byte)(i % 5 == 0 ? 0 : 1)).ToArray();
            return new Sample($"s{k}", 2, 1, n, img, [Enumerable.Range(0, n).Select(i => (byte)(i % 3 == 0 ? 255 : i % 2)).ToArray()], valid);
        }).ToArray();
        var a = new BandStatistics(2, [2]);
        var b = new BandStatistics(2, [2]);
        a.Add(samples[0]); a.Add(samples[1]);
        b.Add(samples[2]); b.Add(samples[3]);
        a.Add(b);
        for (int band = 0; band < 2; band++)
        {
            var vals = samples.SelectMany(s => Enumerable.Range(0, s.Pixels).Where(i => s.Valid[i] != 0).Select(i => (double)s.Image[band * s.Pixels + i])).ToList();
            double m = vals.Average(), sd = Math.Sqrt(vals.Sum(v => (v - m) * (v - m)) / vals.Count);
            Assert.Equal(m, a.Mean[band], 1e-6 * Math.Abs(m) + 1e-9);
            Assert.Equal(sd, a.Std[band], 1e-6 * sd);
            Assert.Equal(vals.Count, a.Pixels);
        }
        long ones = samples.Sum(s => s.Labels[0].Count(v => v == 1));
        Assert.Equal(ones, a.ClassPixels[0][1]);
    }
}
