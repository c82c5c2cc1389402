using HieraRS.Domain.Config;
using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Data;

/// <summary>One augmentation step; it moves image, labels of every level and valid mask together.</summary>
public abstract record AugmentStep
{
    public abstract Sample Apply(Sample s, Generator g);
}

/// <summary>
/// MMSegmentation's RandomCrop: a crop of (at most) the given size at a uniform offset; with
/// <see cref="CatMaxRatio"/> &lt; 1 up to 10 offsets are tried until no class covers that share of the
/// crop's labelled pixels (and more than one class is present), on the finest labelled level.
/// </summary>
public sealed record RandomCrop(int Height, int Width, double CatMaxRatio = 1.0) : AugmentStep
{
    public override Sample Apply(Sample s, Generator g)
    {
        int h = Math.Min(Height, s.Height), w = Math.Min(Width, s.Width);
        int y0 = 0, x0 = 0;
        for (int attempt = 0; attempt < 10; attempt++)
        {
            y0 = g.NextInt(s.Height - h + 1);
            x0 = g.NextInt(s.Width - w + 1);
            if (CatMaxRatio >= 1 || Accept(s, y0, x0, h, w)) break;
        }
        var map = new int[h * w];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) map[r * w + c] = (y0 + r) * s.Width + x0 + c;
        return Augmentation.Gather(s, h, w, map);
    }

    bool Accept(Sample s, int y0, int x0, int h, int w)
    {
        var labels = s.Labels[s.LabelLevel];
        Span<int> counts = stackalloc int[256];
        for (int r = 0; r < h; r++)
            foreach (var v in labels.AsSpan((y0 + r) * s.Width + x0, w)) counts[v]++;
        counts[ClassHierarchy.NoClass] = 0;
        int present = 0, max = 0, sum = 0;
        foreach (var c in counts)
            if (c > 0) { present++; max = Math.Max(max, c); sum += c; }
        return present > 1 && max < CatMaxRatio * sum;
    }
}

/// <summary>
/// Resize by a random ratio in [Min, Max]: of the image's own size, or, with <see cref="Scale"/>, as
/// MMSegmentation's RandomResize with keep_ratio (fit inside scale * ratio). Bilinear for the image,
/// nearest for labels and mask.
/// </summary>
public sealed record RandomResize(double Min, double Max, (int Long, int Short)? Scale = null) : AugmentStep
{
    public override Sample Apply(Sample s, Generator g)
    {
        double ratio = Min + (Max - Min) * g.NextDouble();
        double f = ratio;
        if (Scale is { } sc)
        {
            int lng = Math.Max(s.Height, s.Width), shrt = Math.Min(s.Height, s.Width);
            f = Math.Min(sc.Long * ratio / lng, sc.Short * ratio / shrt);
        }
        int h = Math.Max(1, (int)(s.Height * f + 0.5)), w = Math.Max(1, (int)(s.Width * f + 0.5));
        return Augmentation.Resize(s, h, w);
    }
}

/// <summary>Horizontal and vertical flips, each with its probability.</summary>
public sealed record RandomFlip(double Horizontal = 0.5, double Vertical = 0) : AugmentStep
{
    public override Sample Apply(Sample s, Generator g)
    {
        bool fh = g.NextDouble() < Horizontal, fv = g.NextDouble() < Vertical;
        if (!fh && !fv) return s;
        var map = new int[s.Pixels];
        for (int r = 0; r < s.Height; r++)
            for (int c = 0; c < s.Width; c++)
                map[r * s.Width + c] = (fv ? s.Height - 1 - r : r) * s.Width + (fh ? s.Width - 1 - c : c);
        return Augmentation.Gather(s, s.Height, s.Width, map);
    }
}

/// <summary>With probability <see cref="Probability"/>, a rotation by 90, 180 or 270 degrees (counter-clockwise, as numpy's rot90).</summary>
public sealed record RandomRotate90(double Probability = 0.5) : AugmentStep
{
    public override Sample Apply(Sample s, Generator g)
    {
        if (g.NextDouble() >= Probability) return s;
        int k = 1 + g.NextInt(3);
        return Rotate(s, k);
    }

    public static Sample Rotate(Sample s, int k)
    {
        int H = s.Height, W = s.Width;
        int h = k % 2 == 1 ? W : H, w = k % 2 == 1 ? H : W;
        var map = new int[h * w];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++)
            {
                var (sr, sc) = k switch { 1 => (c, W - 1 - r), 2 => (H - 1 - r, W - 1 - c), _ => (H - 1 - c, r) };
                map[r * w + c] = sr * W + sc;
            }
        return Augmentation.Gather(s, h, w, map);
    }
}

/// <summary>Pads the bottom and right to at least the given size: image 0 after normalisation, labels NoClass, mask 0.</summary>
public sealed record Pad(int Height, int Width) : AugmentStep
{
    public override Sample Apply(Sample s, Generator g)
    {
        if (s.Height >= Height && s.Width >= Width) return s;
        int h = Math.Max(Height, s.Height), w = Math.Max(Width, s.Width);
        var map = new int[h * w];
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) map[r * w + c] = r < s.Height && c < s.Width ? r * s.Width + c : -1;
        return Augmentation.Gather(s, h, w, map);
    }
}

/// <summary>
/// A list of steps applied in order, with a generator seeded from (seed, epoch, sample index) so a
/// sample's augmentation does not depend on which thread runs it or when.
/// </summary>
public sealed class Augmentation(IReadOnlyList<AugmentStep> steps)
{
    public IReadOnlyList<AugmentStep> Steps { get; } = steps;
    public static Augmentation None { get; } = new([]);

    /// <summary>The paper's recipe (method.md §6): crop (cat_max_ratio 0.75), resize 0.5-2, crop, horizontal flip, pad.</summary>
    public static Augmentation Paper(int crop) => new([
        new RandomCrop(crop, crop, 0.75), new RandomResize(0.5, 2.0), new RandomCrop(crop, crop), new RandomFlip(0.5), new Pad(crop, crop)]);

    public Sample Apply(Sample s, ulong seed, long epoch, int index)
    {
        if (Steps.Count == 0) return s;
        var g = new Generator(Datasets.Hash($"{epoch}/{index}", seed));
        foreach (var step in Steps) s = step.Apply(s, g);
        return s;
    }

    /// <summary>Every plane of the sample through one index map (map[o] = source pixel, -1 = padding).</summary>
    public static Sample Gather(Sample s, int h, int w, int[] map)
    {
        int n = h * w, src = s.Pixels;
        var image = new float[s.Bands * n];
        for (int b = 0; b < s.Bands; b++)
        {
            var from = s.Image.AsSpan(b * src, src);
            var to = image.AsSpan(b * n, n);
            for (int i = 0; i < n; i++) to[i] = map[i] >= 0 ? from[map[i]] : 0f;
        }
        var labels = s.Labels.Select(l => GatherBytes(l, map, ClassHierarchy.NoClass)).ToArray();
        return Like(s, h, w, image, labels, GatherBytes(s.Valid, map, 0));
    }

    static byte[] GatherBytes(byte[] from, int[] map, byte pad)
    {
        var to = new byte[map.Length];
        for (int i = 0; i < map.Length; i++) to[i] = map[i] >= 0 ? from[map[i]] : pad;
        return to;
    }

    /// <summary>Resizes: the image bilinearly (PyTorch / OpenCV half-pixel rule), labels and mask by nearest (OpenCV's floor rule).</summary>
    public static Sample Resize(Sample s, int h, int w)
    {
        var image = Engine.Serial(() =>
        {
            using var _ = GradMode.NoGrad();
            return F.Interpolate(Tensor.FromArray(s.Image, 1, s.Bands, s.Height, s.Width), h, w).ToArray();
        });
        var map = new int[h * w];
        for (int r = 0; r < h; r++)
        {
            int sr = Math.Min((int)((long)r * s.Height / h), s.Height - 1);
            for (int c = 0; c < w; c++) map[r * w + c] = sr * s.Width + Math.Min((int)((long)c * s.Width / w), s.Width - 1);
        }
        var labels = s.Labels.Select(l => GatherBytes(l, map, ClassHierarchy.NoClass)).ToArray();
        return Like(s, h, w, image, labels, GatherBytes(s.Valid, map, 0));
    }

    static Sample Like(Sample s, int h, int w, float[] image, byte[][] labels, byte[] valid) =>
        new(s.Id, s.Bands, h, w, image, labels, valid) { LabelLevel = s.LabelLevel, ImagePath = s.ImagePath, LabelPath = s.LabelPath };

    /// <summary>Reads an augmentation list: [{type: random_crop, size: [512, 512], cat_max_ratio: 0.75}, {type: random_resize, ratio: [0.5, 2.0]}, ...].</summary>
    public static Augmentation Parse(YamlReader r, YamlSequenceNode list)
    {
        var steps = new List<AugmentStep>();
        foreach (var node in list.Children)
        {
            var m = r.Mapping(node, "an augmentation step");
            string type = r.Choice(m, "type", "", "random_crop", "random_resize", "flip", "rot90", "pad");
            (int H, int W) Size()
            {
                var v = r.Doubles(r.Node(m, "size") ?? throw r.Error(m, $"'{type}' needs 'size'"), "'size'", repeat: 2);
                if (v.Length != 2 || v.Any(x => x < 1 || x != Math.Floor(x))) throw r.Error(m, "'size' must be [height, width] in whole pixels");
                return ((int)v[0], (int)v[1]);
            }
            switch (type)
            {
                case "random_crop":
                    r.AllowedKeys(m, "type", "size", "cat_max_ratio");
                    var (ch, cw) = Size();
                    steps.Add(new RandomCrop(ch, cw, r.OptionalDouble(m, "cat_max_ratio", 1.0, 0, 1)));
                    break;
                case "random_resize":
                    r.AllowedKeys(m, "type", "ratio", "scale");
                    var ratio = r.Doubles(r.Node(m, "ratio") ?? throw r.Error(m, "'random_resize' needs 'ratio': [min, max]"), "'ratio'");
                    if (ratio.Length != 2 || ratio[0] <= 0 || ratio[1] < ratio[0]) throw r.Error(m, "'ratio' must be [min, max] with 0 < min <= max");
                    (int, int)? scale = null;
                    if (r.Node(m, "scale") is { } sn)
                    {
                        var sv = r.Doubles(sn, "'scale'");
                        if (sv.Length != 2 || sv.Any(x => x < 1)) throw r.Error(sn, "'scale' must be [long side, short side]");
                        scale = ((int)Math.Max(sv[0], sv[1]), (int)Math.Min(sv[0], sv[1]));
                    }
                    steps.Add(new RandomResize(ratio[0], ratio[1], scale));
                    break;
                case "flip":
                    r.AllowedKeys(m, "type", "horizontal", "vertical");
                    steps.Add(new RandomFlip(r.OptionalDouble(m, "horizontal", 0.5, 0, 1), r.OptionalDouble(m, "vertical", 0, 0, 1)));
                    break;
                case "rot90":
                    r.AllowedKeys(m, "type", "prob");
                    steps.Add(new RandomRotate90(r.OptionalDouble(m, "prob", 0.5, 0, 1)));
                    break;
                case "pad":
                    r.AllowedKeys(m, "type", "size");
                    var (ph, pw) = Size();
                    steps.Add(new Pad(ph, pw));
                    break;
                default: throw r.Error(m, "an augmentation step needs 'type' (random_crop, random_resize, flip, rot90, pad)");
            }
        }
        return new Augmentation(steps);
    }
}
