using HieraRS.Domain.Config;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;
using HieraRS.Testing;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Tests;

public class AugmentationTests
{
    /// <summary>A sample whose band 0 holds each pixel's index, band 1 its negation, and labels the index mod 7 / mod 3.</summary>
    static Sample Coded(int h, int w)
    {
        int n = h * w;
        var img = new float[2 * n];
        for (int i = 0; i < n; i++) { img[i] = i; img[n + i] = -i; }
        return new Sample("coded", 2, h, w, img,
            [Enumerable.Range(0, n).Select(i => (byte)(i % 3)).ToArray(), Enumerable.Range(0, n).Select(i => (byte)(i % 7)).ToArray()],
            Enumerable.Repeat((byte)1, n).ToArray()) { LabelLevel = 1 };
    }

    /// <summary>Every plane moved together: labels and band 1 agree with the source pixel band 0 names.</summary>
    static void AssertCoherent(Sample s)
    {
        for (int i = 0; i < s.Pixels; i++)
        {
            if (s.Valid[i] == 0) { Assert.Equal(ClassHierarchy.NoClass, s.Labels[1][i]); continue; }
            int src = (int)s.Image[i];
            Assert.Equal(-src, s.Image[s.Pixels + i]);
            Assert.Equal(src % 3, s.Labels[0][i]);
            Assert.Equal(src % 7, s.Labels[1][i]);
        }
    }

    [Fact]
    public void FlipsAndRotationsByHand()
    {
        var s = Coded(2, 3); // 0 1 2 / 3 4 5
        var g = new Generator(0);
        Assert.Equal([2f, 1, 0, 5, 4, 3], new RandomFlip(1, 0).Apply(s, g).Image[..6]);
        Assert.Equal([3f, 4, 5, 0, 1, 2], new RandomFlip(0, 1).Apply(s, g).Image[..6]);
        var r1 = RandomRotate90.Rotate(s, 1); // numpy rot90: [[2,5],[1,4],[0,3]]
        Assert.Equal((3, 2), (r1.Height, r1.Width));
        Assert.Equal([2f, 5, 1, 4, 0, 3], r1.Image[..6]);
        Assert.Equal([5f, 4, 3, 2, 1, 0], RandomRotate90.Rotate(s, 2).Image[..6]);
        Assert.Equal([3f, 0, 4, 1, 5, 2], RandomRotate90.Rotate(s, 3).Image[..6]);
        var back = RandomRotate90.Rotate(RandomRotate90.Rotate(r1, 1), 2);
        Assert.Equal(s.Image, back.Image);
        AssertCoherent(r1);
    }

    [Fact]
    public void CropResizePadKeepPlanesTogether()
    {
        var s = Coded(40, 50);
        var aug = new Augmentation([new RandomCrop(30, 30), new RandomFlip(0.5, 0.5), new RandomRotate90(0.7), new Pad(32, 36)]);
        for (int k = 0; k < 20; k++)
        {
            var o = aug.Apply(s, 9, 0, k);
            Assert.Equal((32, 36), (o.Height, o.Width));
            AssertCoherent(o);
            Assert.Equal(30 * 30, o.Valid.Count(v => v == 1));
        }
        // a crop larger than the image keeps the image
        Assert.Equal(s.Image, new RandomCrop(64, 64).Apply(s, new Generator(1)).Image);
    }

    [Fact]
    public void ResizeUsesBilinearForImagesAndFloorNearestForLabels()
    {
        var s = Coded(4, 4);
        var up = Augmentation.Resize(s, 8, 6);
        // labels: nearest with OpenCV's floor(dst * src / dst_size)
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 6; c++)
                Assert.Equal((r * 4 / 8 * 4 + c * 4 / 6) % 7, up.Labels[1][r * 6 + c]);
        // image: PyTorch's bilinear, align_corners=False
        var want = F.Interpolate(Tensor.FromArray(s.Image, 1, 2, 4, 4), 8, 6).ToArray();
        Assert.Equal(want, up.Image);
        // ratio resize rounds as MMCV: int(size * f + 0.5)
        var rr = new RandomResize(0.5, 0.5).Apply(Coded(45, 31), new Generator(0));
        Assert.Equal((23, 16), (rr.Height, rr.Width));
        var scaled = new RandomResize(1, 1, (2048, 512)).Apply(Coded(64, 80), new Generator(0));
        Assert.Equal((512, 640), (scaled.Height, scaled.Width)); // fits 2048 x 512: factor min(2048/80, 512/64) = 8
    }

    [Fact]
    public void CatMaxRatioRejectsCropsOfOneDominantClass()
    {
        // 100 x 100, class 1 everywhere except a 20 x 20 corner of class 2; crops of 30 x 30
        int n = 100 * 100;
        var lab = new byte[n];
        for (int i = 0; i < n; i++) lab[i] = (byte)(i / 100 < 20 && i % 100 < 20 ? 2 : 1);
        var s = new Sample("d", 1, 100, 100, new float[n], [lab], Enumerable.Repeat((byte)1, n).ToArray());
        static bool Qualifies(Sample o)
        {
            int twos = o.Labels[0].Count(v => v == 2);
            return twos > 0 && twos < 0.75 * 900 && 900 - twos < 0.75 * 900;
        }
        // exact share p of the 71 x 71 offsets whose crop qualifies; with up to 10 tries a crop qualifies with 1 - (1 - p)^10
        int good = 0;
        for (int y = 0; y <= 70; y++)
            for (int x = 0; x <= 70; x++)
            {
                int overlap = Math.Max(0, 20 - y) * Math.Max(0, 20 - x);
                if (overlap > 0 && overlap < 675 && 900 - overlap < 675) good++;
            }
        double p = good / 5041.0, expect = 1 - Math.Pow(1 - p, 10);
        const int trials = 3000;
        double Rate(double ratio) => Enumerable.Range(0, trials).Count(k => Qualifies(new RandomCrop(30, 30, ratio).Apply(s, new Generator((ulong)k)))) / (double)trials;
        double Tol(double q) => 4 * Math.Sqrt(q * (1 - q) / trials);
        Assert.InRange(Rate(0.75), expect - Tol(expect), expect + Tol(expect));
        Assert.InRange(Rate(1.0), p - Tol(p), p + Tol(p));
    }

    [Fact]
    public void AugmentationIsSeededPerSampleAndEpoch()
    {
        var s = Coded(40, 40);
        var aug = Augmentation.Paper(24);
        Assert.Equal(aug.Apply(s, 1, 3, 5).Image, aug.Apply(s, 1, 3, 5).Image);
        Assert.NotEqual(aug.Apply(s, 1, 3, 5).Image, aug.Apply(s, 1, 4, 5).Image);
        Assert.NotEqual(aug.Apply(s, 1, 3, 5).Image, aug.Apply(s, 2, 3, 5).Image);
    }

    [Fact]
    public void ParsesStepsAndNamesBadOnes()
    {
        YamlSequenceNode Seq(string text)
        {
            var y = new YamlStream();
            y.Load(new StringReader(text));
            return (YamlSequenceNode)y.Documents[0].RootNode;
        }
        var r = new YamlReader("cfg.yaml");
        var a = Augmentation.Parse(r, Seq("- {type: random_crop, size: [64, 48], cat_max_ratio: 0.75}\n- {type: random_resize, ratio: [0.5, 2.0]}\n- {type: flip}\n- {type: rot90, prob: 0.25}\n- {type: pad, size: 64}\n"));
        Assert.Equal(new AugmentStep[] { new RandomCrop(64, 48, 0.75), new RandomResize(0.5, 2.0), new RandomFlip(0.5, 0), new RandomRotate90(0.25), new Pad(64, 64) }, a.Steps);
        var e = Assert.Throws<ConfigException>(() => Augmentation.Parse(r, Seq("- {type: flip}\n- {type: random_crop, size: [64, 64], cat_max: 0.7}\n")));
        Assert.Contains("cfg.yaml:2: unknown key 'cat_max'", e.Message);
        Assert.Throws<ConfigException>(() => Augmentation.Parse(r, Seq("- {type: random_resize, ratio: [2.0, 0.5]}\n")));
    }
}

public class DataLoaderTests
{
    sealed class Indexed(int count) : ISegmentationDataset
    {
        public string Name => "indexed";
        public ClassHierarchy Hierarchy { get; } = HierarchyLoader.Builtin("whdld");
        public int Bands => 1;
        public Normalization Normalization { get; } = new([1f], [2f]);
        public int Count => count;
        public string Id(int index) => index.ToString();
        public Sample Load(int index) => new(Id(index), 1, 2, 2, [index, index, index, index], [[0, 1, 255, (byte)(index % 6)]], [1, 1, 1, 1]);
    }

    static List<int> Firsts(DataLoader d, int batches) =>
        Enumerable.Range(0, batches).SelectMany(_ => d.Next().Samples.Select(s => int.Parse(s.Id))).ToList();

    [Fact]
    public void OrderIsFixedBySeedAndResumable()
    {
        var ds = new Indexed(10);
        using var a = new DataLoader(ds, Augmentation.None, 3, seed: 4, workers: 1);
        var seq = Firsts(a, 9); // three epochs of three full batches (one sample dropped per epoch)
        for (int e = 0; e < 3; e++) Assert.Equal(9, seq.Skip(9 * e).Take(9).Distinct().Count());
        Assert.NotEqual(seq.Take(9), seq.Skip(9).Take(9));
        using var b = new DataLoader(ds, Augmentation.None, 3, seed: 4, workers: 3, prefetch: 2);
        Assert.Equal(seq, Firsts(b, 9));
        using var resumed = new DataLoader(ds, Augmentation.None, 3, seed: 4, startIteration: 4, workers: 2);
        Assert.Equal(seq.Skip(12), Firsts(resumed, 5));
        using var other = new DataLoader(ds, Augmentation.None, 3, seed: 5);
        Assert.NotEqual(seq, Firsts(other, 9));
    }

    [Fact]
    public void BatchesAreNormalisedTensorsWithLabelsPerLevel()
    {
        var ds = new Indexed(4);
        using var d = new DataLoader(ds, Augmentation.None, 2, seed: 0, shuffle: false);
        var b = d.Next();
        Assert.Equal([2, 1, 2, 2], b.Image.Shape.ToArray());
        Assert.Equal([-0.5f, -0.5f, -0.5f, -0.5f, 0f, 0f, 0f, 0f], b.Image.ToArray()); // (index - 1) / 2
        Assert.Equal([0L, 1, 255, 0, 0, 1, 255, 1], b.Labels[0].Data);
        var pass = DataLoader.Pass(new Indexed(5), batchSize: 2).ToList();
        Assert.Equal([2, 2, 1], pass.Select(p => p.Size));
        Assert.Equal(["0", "1", "2", "3", "4"], pass.SelectMany(p => p.Samples.Select(s => s.Id)));
    }

    [Fact]
    public void LoadErrorsReachTheTrainingThread()
    {
        var ds = new Broken();
        using var d = new DataLoader(ds, Augmentation.None, 1, seed: 0, shuffle: false);
        d.Next();
        var e = Assert.Throws<InvalidDataException>(() => d.Next());
        Assert.Contains("tile 1 is corrupt", e.Message);
    }

    sealed class Broken : ISegmentationDataset
    {
        public string Name => "broken";
        public ClassHierarchy Hierarchy { get; } = HierarchyLoader.Builtin("whdld");
        public int Bands => 1;
        public Normalization Normalization { get; } = Normalization.Identity(1);
        public int Count => 3;
        public string Id(int index) => index.ToString();
        public Sample Load(int index) => index == 1 ? throw new InvalidDataException("tile 1 is corrupt")
            : new(Id(index), 1, 1, 1, [0], [[0]], [1]);
    }
}
