using HieraRS.Domain.Decoding;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Export;
using HieraRS.Domain.Inference;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Training;
using HieraRS.Geo;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

/// <summary>A small BHCCM model trained once on synthetic MM-5B scenes, and a scene with a nodata collar to predict.</summary>
public sealed class PredictFixture
{
    public string Dir { get; } = SharedData.TempDir("hierars-predict-");
    public Checkpoint Model { get; }
    public string CheckpointPath { get; }
    public string Scene { get; }
    public SyntheticScene Truth { get; }

    public PredictFixture()
    {
        string cfg = """
            name: predict-test
            seed: 1
            data:
              train: {type: synthetic, hierarchy: mm5b, count: 8, size: 64, seed: 1}
              batch_size: 4
            model: {backbone: resnet18, head: uper, channels: 16, dropout: 0}
            optimizer: {type: adamw, lr: 0.003, weight_decay: 0.01}
            train: {iterations: 80, checkpoint_interval: 80}
            """;
        var r = new Trainer(ExperimentConfig.Parse(cfg, "p.yaml", Dir), Path.Combine(Dir, "train")).Run();
        CheckpointPath = r.Latest;
        Model = Checkpoint.Load(r.Latest);
        Truth = new SyntheticScene(HierarchyLoader.Builtin("mm5b"), new SyntheticSceneOptions { Size = 200, NoDataCollar = 0.06 }, seed: 77);
        Scene = Path.Combine(Dir, "scene.tif");
        Truth.Write(Scene, Path.Combine(Dir, "truth.tif"));
    }
}

public class PredictTests(PredictFixture f) : IClassFixture<PredictFixture>
{
    static byte[][] ReadBands(string path)
    {
        using var r = Raster.Open(path);
        return Enumerable.Range(1, r.BandCount).Select(b => { var d = new byte[r.Width * r.Height]; r.Read(0, 0, r.Width, r.Height, [b], d); return d; }).ToArray();
    }

    string Predict(PredictOptions o, string name)
    {
        string p = Path.Combine(f.Dir, name);
        new ScenePredictor(f.Model, o).Predict(f.Scene, p);
        return p;
    }

    [Fact]
    public void StripsDoNotChangeTheResult()
    {
        var o = new PredictOptions { Window = 64, Overlap = 16, Batch = 3 };
        var whole = new ScenePredictor(f.Model, o).Predict(f.Scene, Path.Combine(f.Dir, "whole.tif"));
        // accumulators for 70 columns at a time: three strips; a window at a seam is computed by the left
        // strip, which leaves the right strip its columns
        var strips = new ScenePredictor(f.Model, o with { AccumulatorBudget = 70L * 64 * (31 + 1) * 4 }).Predict(f.Scene, Path.Combine(f.Dir, "strips.tif"));
        Assert.Equal(ReadBands(whole.Output), ReadBands(strips.Output));
        Assert.Equal(whole.Windows, strips.Windows); // no window computed twice
    }

    [Theory]
    [InlineData(2, 1L << 30)]   // one strip, stopped after two rows of windows
    [InlineData(5, 70L * 64 * 32 * 4)] // three strips, stopped in the second
    public void AnInterruptedPredictionResumesToTheSameMap(int stopAfter, long budget)
    {
        var o = new PredictOptions { Window = 64, Overlap = 16, AccumulatorBudget = budget };
        var whole = ReadBands(Predict(o, $"uninterrupted{stopAfter}.tif"));
        string p = Path.Combine(f.Dir, $"interrupted{stopAfter}.tif");
        var first = new ScenePredictor(f.Model, o with { StopAfterRows = stopAfter }).Predict(f.Scene, p);
        Assert.False(first.Complete);
        Assert.False(File.Exists(p)); // nothing at the path until complete
        Assert.True(Directory.Exists(ScenePredictor.PartialDir(p)));
        var second = new ScenePredictor(f.Model, o).Predict(f.Scene, p);
        Assert.Equal(stopAfter, second.ResumedRows);
        Assert.True(second.Complete);
        Assert.Equal(whole, ReadBands(p));
        Assert.False(Directory.Exists(ScenePredictor.PartialDir(p)));
        // other options do not continue that partial output: they start again
        Assert.False(new ScenePredictor(f.Model, o with { StopAfterRows = 1 }).Predict(f.Scene, p).Complete);
        var notices = new List<string>();
        Assert.Equal(0, new ScenePredictor(f.Model, o with { Blend = BlendMode.Linear }).Predict(f.Scene, p, notice: notices.Add).ResumedRows);
        Assert.Contains("discarded the partial output of an earlier run", Assert.Single(notices)); // said, not silent
    }

    [Theory]
    [InlineData(0, "--batch 0")]
    [InlineData(-2, "--batch -2")]
    public void NonPositiveSizesAreRefused(int batch, string expected)
    {
        Assert.Contains(expected, Assert.Throws<ArgumentException>(() => new PredictOptions { Batch = batch }.Validate()).Message);
        Assert.Contains("--accumulator-mb", Assert.Throws<ArgumentException>(() => new PredictOptions { AccumulatorBudget = batch }.Validate()).Message);
        Assert.Contains("--overlap", Assert.Throws<ArgumentException>(() => new PredictOptions { Overlap = batch - 1 }.Validate()).Message);
        var e = Assert.Throws<ArgumentException>(() => new ScenePredictor(f.Model, new PredictOptions { Window = 64, Overlap = 16, Batch = batch }).Predict(f.Scene, Path.Combine(f.Dir, "batch.tif")));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MapsAreGeoreferencedConsistentAndMaskNodata()
    {
        string p = Predict(new PredictOptions { Window = 64, Overlap = 16, Confidence = true }, "map.tif");
        using (var r = Raster.Open(p))
        {
            Assert.Equal(f.Truth.GeoTransform, r.GeoTransform);
            Assert.Contains("UTM zone 50N", r.Projection);
            Assert.Equal(6, r.BandCount); // 3 levels + 3 confidences
            Assert.StartsWith("level 3: L3", r.Descriptions[2]);
            Assert.All(r.NoData, v => Assert.Equal(255.0, v));
        }
        var bands = ReadBands(p);
        var truth = f.Truth.Render();
        var tree = f.Model.Hierarchy;
        Span<int> path = stackalloc int[3];
        for (int i = 0; i < truth.Pixels; i++)
        {
            if (truth.Valid[i] == 0)
            {
                Assert.All(bands, b => Assert.Equal(ClassHierarchy.NoClass, b[i]));
                continue;
            }
            for (int l = 0; l < 3; l++) path[l] = bands[l][i];
            Assert.True(tree.IsValidPath(path), $"pixel {i}: {path[0]}/{path[1]}/{path[2]} is no path");
            Assert.InRange(bands[5][i], 0, 254);
        }
    }

    [Fact]
    public void ProbabilitiesSumToOneAndTheColourVrtShowsTheLevels()
    {
        string probs = Path.Combine(f.Dir, "probs.tif");
        string p = Predict(new PredictOptions { Window = 64, Overlap = 16, Probabilities = probs }, "withprobs.tif");
        var tree = f.Model.Hierarchy;
        var map = ReadBands(p);
        Assert.Equal(3, map.Length);
        var pr = ReadBands(probs);
        Assert.Equal(tree.ClassCounts.Sum(), pr.Length);
        using (var r = Raster.Open(probs))
        {
            Assert.Equal(f.Truth.GeoTransform, r.GeoTransform);
            Assert.Equal($"P(level 2 = {tree.Levels[1].Classes[0].Name}) (0-254 = 0-1)", r.Descriptions[tree.ClassCounts[0]]);
            Assert.Equal(1.0 / 254, r.Scale(1), 9);
        }
        int agree = 0, n = 0;
        for (int i = 0; i < map[0].Length; i++)
        {
            int b0 = 0;
            for (int l = 0; l < 3; l++)
            {
                int k = tree.ClassCounts[l];
                var px = Enumerable.Range(b0, k).Select(b => pr[b][i]).ToArray();
                b0 += k;
                if (map[l][i] == ClassHierarchy.NoClass) { Assert.All(px, v => Assert.Equal(ClassHierarchy.NoClass, v)); continue; }
                Assert.InRange(px.Sum(v => v), 254 - k, 254 + k); // a distribution, each value rounded
                n++;
                if (Array.IndexOf(px, px.Max()) == map[l][i]) agree++;
            }
        }
        // joint path selection may overrule a level's own argmax (this small model is unsure at level 3),
        // but mostly agrees: band order and class order line up (a shifted band order agrees at chance level)
        Assert.True(agree > 0.75 * n, $"{agree} of {n}");

        string vrt = ScenePredictor.ColourVrtPath(p);
        using var v = Raster.Open(vrt);
        Assert.Equal(3, v.BandCount);
        Assert.Equal(f.Truth.GeoTransform, v.GeoTransform);
        for (int l = 0; l < 3; l++)
        {
            Assert.Equal(tree.Levels[l].Classes.Select(c => (c.R, c.G, c.B)), v.ColorTable(l + 1));
            var d = new byte[200 * 200];
            v.Read(0, 0, 200, 200, [l + 1], d);
            Assert.Equal(map[l], d);
        }
    }

    [Fact]
    public void ClassMapBandsAreNotColoursAndColouredFilesNameTheirClasses()
    {
        var tree = f.Model.Hierarchy;
        string probs = Path.Combine(f.Dir, "tags_probs.tif");
        foreach (bool cog in new[] { false, true })
        {
            string p = Predict(new PredictOptions { Window = 64, Overlap = 16, Cog = cog, Probabilities = probs }, $"tags{cog}.tif");
            foreach (var file in new[] { p, probs })
            {
                using var r = Raster.Open(file);
                // photometric MINISBLACK: band 1 grey, the others undefined (GDAL reads photometric RGB as Red, Green, Blue)
                Assert.Equal("Gray", r.ColorInterpretation(1));
                Assert.All(Enumerable.Range(2, r.BandCount - 1), b => Assert.Equal("Undefined", r.ColorInterpretation(b)));
            }
            using var v = Raster.Open(ScenePredictor.ColourVrtPath(p));
            for (int l = 0; l < 3; l++)
            {
                Assert.Equal("Palette", v.ColorInterpretation(l + 1));
                Assert.Equal(tree.Levels[l].Classes.Select(c => c.Name), v.CategoryNames(l + 1));
            }
        }
        // one level, one band: the GeoTIFF itself carries the palette and the class names
        string one = Predict(new PredictOptions { Window = 64, Overlap = 16, Levels = [1] }, "tags_one.tif");
        using (var r = Raster.Open(one))
        {
            Assert.Equal("Palette", r.ColorInterpretation(1));
            Assert.Equal(tree.Levels[1].Classes.Select(c => (c.R, c.G, c.B)), r.ColorTable(1)!.Take(tree.Levels[1].Count)); // a TIFF palette has 256 entries
            Assert.Equal(tree.Levels[1].Classes.Select(c => c.Name), r.CategoryNames(1));
        }
        // the synthetic scene's labels (coloured by stored value): the stored values' class names
        using var truth = Raster.Open(Path.Combine(f.Dir, "truth.tif"));
        var names = truth.CategoryNames(1);
        var enc = tree.Encoding;
        foreach (var c in tree.Levels[2].Classes)
            Assert.Equal(c.Name, names[enc.Values.Where(kv => kv.Value == c.Id).Min(kv => kv.Key)]);
    }

    [Fact]
    public void AOneWindowSceneIsTheModelsJointPathSelection()
    {
        // a scene of exactly one window, all data: the map is the definition of JSPS (path scores, then their
        // maximum and log-sum-exp, method.md §4) applied to the network's logits on the normalised image
        var scene = new SyntheticScene(HierarchyLoader.Builtin("mm5b"), new SyntheticSceneOptions { Size = 64, NoDataCollar = 0 }, seed: 5);
        string input = Path.Combine(f.Dir, "one-window.tif");
        scene.Write(input, Path.Combine(f.Dir, "one-window-truth.tif"));
        string map = Path.Combine(f.Dir, "one-window-map.tif");
        new ScenePredictor(f.Model, new PredictOptions { Window = 64, Overlap = 0, Batch = 1, Confidence = true }).Predict(input, map);
        var bands = ReadBands(map);

        int px = 64 * 64, nb = f.Model.Normalization.Bands;
        var image = new float[nb * px];
        using (var r = Raster.Open(input)) r.Read(0, 0, 64, 64, Enumerable.Range(1, nb).ToArray(), image);
        f.Model.Normalization.Apply(image, px, Enumerable.Repeat((byte)1, px).ToArray());
        using var _ = GradMode.NoGrad();
        var logits = f.Model.Model.Predict(Tensor.FromArray(image, 1, nb, 64, 64));
        var s = PathScores.Compute(f.Model.Hierarchy, logits);
        var (best, index) = s.Max(1);
        var confidence = (best - s.LogSumExp(1)).Exp().ToArray();
        int differ = 0;
        var paths = f.Model.Hierarchy.Paths;
        for (int i = 0; i < px; i++)
        {
            bool same = Enumerable.Range(0, 3).All(l => bands[l][i] == paths[index.Data[i], l]);
            if (!same) differ++; // blending divides the weighted sum by its weight: a path tying within that rounding may flip
            else Assert.InRange(bands[3][i], Math.Round(confidence[i] * 254) - 1, Math.Round(confidence[i] * 254) + 1);
        }
        Assert.True(differ <= 2, $"{differ} of {px} pixels take another path than the model's logits give");
    }

    [Fact]
    public void BlendedWindowsAgreeWithOneWholeImagePass()
    {
        // one window covering the scene (reflection-padded to 224) against 64-pixel windows, blended
        var one = ReadBands(Predict(new PredictOptions { Window = 224, Overlap = 0 }, "one.tif"));
        var slid = ReadBands(Predict(new PredictOptions { Window = 128, Overlap = 64 }, "slid.tif"));
        double Agreement(int shift)
        {
            int agree = 0, n = 0;
            for (int y = 20; y < 180; y++)
                for (int x = 20; x < 180; x++)
                {
                    int i = y * 200 + x;
                    if (one[2][i] == ClassHierarchy.NoClass) continue;
                    n++;
                    if (one[2][i] == slid[2][i + shift]) agree++;
                }
            return (double)agree / n;
        }
        // Windows see less context than one whole pass, so this small model changes its mind on about a
        // tenth of the pixels (measured 89-92 % agreement on AVX2 and AVX-512 kernels); a window placed
        // or weighted wrongly by only 4 pixels already falls below the true registration's agreement.
        double aligned = Agreement(0), misregistered = Agreement(4);
        Assert.True(aligned > 0.85, $"{aligned:P1} of pixels agree");
        Assert.True(aligned > misregistered + 0.04, $"aligned {aligned:P1}, shifted by 4 pixels {misregistered:P1}");
    }

    [Fact]
    public void AConstantSceneIsPredictedTheSameEverywhere()
    {
        // a scene of one spectrum (the mean of the most common class of a synthetic scene): the window
        // grid must leave no trace (no seams)
        var s = f.Truth.Render();
        int top = Enumerable.Range(0, s.Pixels).Where(i => s.Valid[i] != 0).GroupBy(i => s.Labels[2][i]).MaxBy(g => g.Count())!.Key;
        var spectrum = Enumerable.Range(0, 4).Select(b => (float)Enumerable.Range(0, s.Pixels).Where(i => s.Valid[i] != 0 && s.Labels[2][i] == top).Average(i => s.Image[b * s.Pixels + i])).ToArray();
        string p = Path.Combine(f.Dir, "flat.tif");
        using (var w = RasterWriter.Create(p, 150, 130, 4, RasterType.Float32))
        {
            var v = new float[4 * 150 * 130];
            for (int b = 0; b < 4; b++) v.AsSpan(b * 150 * 130, 150 * 130).Fill(spectrum[b]);
            w.Write(0, 0, 150, 130, [1, 2, 3, 4], v);
            w.Commit();
        }
        string o = Path.Combine(f.Dir, "flat_pred.tif");
        new ScenePredictor(f.Model, new PredictOptions { Window = 96, Overlap = 32 }).Predict(p, o);
        // inside a margin of a receptive field's edge effects (zero padding at the scene border), one class per level
        var bands = ReadBands(o);
        foreach (var band in bands)
            Assert.Single(Enumerable.Range(24, 130 - 48).SelectMany(y => Enumerable.Range(24, 150 - 48).Select(x => band[y * 150 + x])).Distinct());
        Assert.Equal(f.Model.Hierarchy.ParentMap(2)[top], bands[1][65 * 150 + 75]); // the class's branch (siblings share spectra)
    }

    [Fact]
    public void EmptyAreasAreSkippedButNotASinglePixelOfData()
    {
        // nodata (0) everywhere but a 64 x 64 patch of the scene and one lone pixel in a block of its own
        const int W = 700, H = 600;
        var s = f.Truth.Render();
        var img = new float[4 * W * H];
        var isData = new bool[W * H];
        void Set(int x, int y, int sx, int sy)
        {
            for (int b = 0; b < 4; b++) img[b * W * H + y * W + x] = Math.Max(1, s.Image[b * s.Pixels + sy * s.Width + sx]);
            isData[y * W + x] = true;
        }
        for (int y = 0; y < 64; y++) for (int x = 0; x < 64; x++) Set(500 + x, 300 + y, 60 + x, 60 + y);
        Set(20, 530, 100, 100);
        string p = Path.Combine(f.Dir, "sparse.tif"), o = Path.Combine(f.Dir, "sparse_pred.tif");
        using (var w = RasterWriter.Create(p, W, H, 4, RasterType.UInt16))
        {
            w.SetNoData(0);
            w.Write(0, 0, W, H, [1, 2, 3, 4], img);
            w.Commit();
        }
        var r = new ScenePredictor(f.Model, new PredictOptions { Window = 64, Overlap = 16 }).Predict(p, o);
        // windows that touch a data pixel, counted on the grid independently
        var xs = SlidingWindows.Starts(W, 64, 16);
        var ys = SlidingWindows.Starts(H, 64, 16);
        int touching = ys.Sum(y0 => xs.Count(x0 => Enumerable.Range(y0, 64).Any(y => Enumerable.Range(x0, 64).Any(x => isData[y * W + x]))));
        Assert.Equal(touching, r.Windows);
        Assert.Equal(xs.Length * ys.Length - touching, r.SkippedWindows);
        var map = ReadBands(o);
        for (int i = 0; i < W * H; i++)
            Assert.True(isData[i] ? map[2][i] < ClassHierarchy.NoClass : map[2][i] == ClassHierarchy.NoClass, $"pixel {i % W}, {i / W}");
    }

    [Fact]
    public void BadScenesFailBeforeAnyWork()
    {
        string p = Path.Combine(f.Dir, "rgb.tif");
        using (var w = RasterWriter.Create(p, 40, 40, 3, RasterType.Byte)) { w.Write(0, 0, 40, 40, [1, 2, 3], new byte[3 * 1600]); w.Commit(); }
        var e = Assert.Throws<InvalidDataException>(() => new ScenePredictor(f.Model, new PredictOptions { Window = 64 }).Predict(p, Path.Combine(f.Dir, "x.tif")));
        Assert.Contains("3 bands, but the checkpoint was trained on 4", e.Message);
        Assert.False(File.Exists(Path.Combine(f.Dir, "x.tif")));
        Assert.False(Directory.Exists(ScenePredictor.PartialDir(Path.Combine(f.Dir, "x.tif"))));
    }

    /// <summary>A copy of the fixture's scene in a folder of its own, and its bytes.</summary>
    (string Dir, string Scene, byte[] Bytes) SceneCopy(string name)
    {
        string dir = Path.Combine(f.Dir, name);
        Directory.CreateDirectory(dir);
        string scene = Path.Combine(dir, "scene.tif");
        File.Copy(f.Scene, scene, overwrite: true);
        return (dir, scene, File.ReadAllBytes(scene));
    }

    void AssertRefused(string input, string output, string expected, PredictOptions? o = null)
    {
        var e = Assert.Throws<ArgumentException>(() => new ScenePredictor(f.Model, o ?? new PredictOptions { Window = 64, Overlap = 16 }).Predict(input, output));
        Assert.Contains(expected, e.Message);
        Assert.Contains("never overwrites an input", e.Message);
        Assert.False(Directory.Exists(ScenePredictor.PartialDir(output))); // refused before any work
    }

    [Fact]
    public void AnOutputNeverOverwritesTheScene()
    {
        var (dir, scene, bytes) = SceneCopy("guard-scene");
        AssertRefused(scene, scene, $"--output {scene} is the input");
        // another spelling of the same path
        string odd = Path.Combine(dir, "..", "guard-scene", ".", "scene.tif");
        AssertRefused(scene, odd, "is the input");
        // a symlink to the scene, and a hard link
        string link = Path.Combine(dir, "link.tif");
        File.CreateSymbolicLink(link, scene);
        AssertRefused(scene, link, "(the same file)");
        AssertRefused(link, scene, "is the input");
        string hard = Path.Combine(dir, "hard.tif");
        using (var ln = System.Diagnostics.Process.Start("ln", [scene, hard])) ln.WaitForExit();
        AssertRefused(scene, hard, "(the same file)");
        // the probabilities file
        AssertRefused(scene, Path.Combine(dir, "map.tif"), $"--probabilities {scene} is the input", new PredictOptions { Window = 64, Overlap = 16, Probabilities = scene });
        Assert.Equal(bytes, File.ReadAllBytes(scene));
    }

    [Fact]
    public void AnOutputNeverOverwritesWhatAVrtReadsTheCheckpointOrItsOwnVrt()
    {
        var (dir, scene, bytes) = SceneCopy("guard-vrt");
        // a VRT over the scene: the scene is an input too, through GDAL's file list of the VRT
        string vrt = Path.Combine(dir, "view.vrt");
        using (var r = Raster.Open(scene))
        {
            var bands = Enumerable.Range(1, 4).Select(b => $"<VRTRasterBand dataType=\"UInt16\" band=\"{b}\"><SimpleSource><SourceFilename relativeToVRT=\"1\">scene.tif</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>");
            File.WriteAllText(vrt, $"<VRTDataset rasterXSize=\"{r.Width}\" rasterYSize=\"{r.Height}\">{string.Concat(bands)}</VRTDataset>");
        }
        AssertRefused(vrt, scene, "is the input");
        // the colour VRT beside the output would replace the input VRT
        AssertRefused(vrt, Path.Combine(dir, "view.tif"), "the colour VRT beside --output");
        // the checkpoint (given by the command as another input)
        string ck = Path.Combine(dir, "model.safetensors");
        File.WriteAllText(ck, "weights");
        AssertRefused(scene, ck, "is the input", new PredictOptions { Window = 64, Overlap = 16, OtherInputs = [ck] });
        Assert.Equal("weights", File.ReadAllText(ck));
        Assert.Equal(bytes, File.ReadAllBytes(scene));
        // an input inside the partial folder, which is deleted at the end
        string partial = ScenePredictor.PartialDir(Path.Combine(dir, "p.tif"));
        Directory.CreateDirectory(partial);
        File.Copy(scene, Path.Combine(partial, "inside.tif"));
        var e = Assert.Throws<ArgumentException>(() => new ScenePredictor(f.Model, new PredictOptions { Window = 64, Overlap = 16 }).Predict(Path.Combine(partial, "inside.tif"), Path.Combine(dir, "p.tif")));
        Assert.Contains("deleted when done", e.Message);
        Assert.True(File.Exists(Path.Combine(partial, "inside.tif")));
    }

    [Fact]
    public void WindowsAndWeightsCoverEveryPixel()
    {
        Assert.Equal([0, 48, 96, 136], SlidingWindows.Starts(200, 64, 16));
        Assert.Equal([0], SlidingWindows.Starts(50, 64, 16));
        foreach (var mode in new[] { BlendMode.Cosine, BlendMode.Linear })
        {
            var starts = SlidingWindows.Starts(200, 64, 16);
            var sum = new float[200];
            for (int i = 0; i < starts.Length; i++)
            {
                var w = SlidingWindows.Weights(starts, i, 64, 200, mode);
                for (int k = 0; k < w.Length; k++) sum[starts[i] + k] += w[k];
            }
            Assert.All(sum, s => Assert.InRange(s, 0.999f, 1.001f)); // matched ramps sum to one
        }
        Assert.Equal([1, 0, 1, 2, 3, 2, 1], Enumerable.Range(-1, 7).Select(i => SlidingWindows.Reflect(i, 4)));
    }

    [Fact]
    public void TestTimeAugmentationViewsInvert()
    {
        var x = Tensor.Randn([1, 2, 5, 7], new Generator(2));
        foreach (var v in Tta.Views("d4"))
        {
            var back = Tta.Invert(Tta.Apply(x, v), v);
            Assert.Equal(x.ToArray(), back.Contiguous().ToArray());
        }
        Assert.Equal(8, Tta.Views("d4").Length);
    }

    [Fact]
    public void AnExportedModelPredictsTheSameMapThroughOnnxRuntime()
    {
        string onnx = Path.Combine(f.Dir, "model.onnx");
        OnnxExporter.Export(f.CheckpointPath, onnx, new OnnxExportOptions { Window = 64 });
        using var model = new OnnxWindowModel(onnx);
        foreach (var (o, name) in new[] { (new PredictOptions { Window = 64, Overlap = 0, Confidence = true }, "tiles"), (new PredictOptions { Window = 64, Overlap = 16 }, "blended") })
        {
            var native = ReadBands(Predict(o, $"native-{name}.tif"));
            string p = Path.Combine(f.Dir, $"onnx-{name}.tif");
            new ScenePredictor(model, o).Predict(f.Scene, p);
            var viaOnnx = ReadBands(p);
            int differ = 0, n = 0;
            for (int b = 0; b < 3; b++)
                for (int i = 0; i < native[b].Length; i++, n++)
                    if (native[b][i] != viaOnnx[b][i]) differ++;
            // side by side windows: the same paths but where two tie within ONNX Runtime's rounding; blended
            // windows average log-probabilities instead of logits, which moves a few boundary pixels
            Assert.True(differ <= (name == "tiles" ? n / 10000 : n / 200), $"{name}: {differ} of {n} level pixels differ");
            if (name == "tiles")
                for (int b = 3; b < 6; b++) // confidences: 0-254 from the same probabilities
                    Assert.True(native[b].Zip(viaOnnx[b]).All(t => Math.Abs(t.First - t.Second) <= 1), $"confidence band {b - 2}");
        }
        var e = Assert.Throws<ArgumentException>(() => new ScenePredictor(model, new PredictOptions { Window = 96, Overlap = 0 }).Predict(f.Scene, Path.Combine(f.Dir, "w96.tif")));
        Assert.Contains("exported for windows of 64 pixels", e.Message);
    }
}
