using HieraRS.Tensors;

namespace HieraRS.Domain.Inference;

/// <summary>Test-time augmentation views: identity, horizontal flip, or the dihedral group D4 (flips and 90-degree rotations).</summary>
public static class Tta
{
    /// <summary>(rotations by 90 degrees, horizontal flip) of each view.</summary>
    public static (int Rot, bool Flip)[] Views(string mode) => mode switch
    {
        "none" => [(0, false)],
        "flip" => [(0, false), (0, true)],
        "d4" => [(0, false), (1, false), (2, false), (3, false), (0, true), (1, true), (2, true), (3, true)],
        _ => throw new ArgumentException($"unknown test-time augmentation '{mode}' (none, flip, d4)"),
    };

    public static Tensor Apply(Tensor x, (int Rot, bool Flip) v)
    {
        if (v.Flip) x = FlipW(x);
        for (int i = 0; i < v.Rot; i++) x = Rot90(x);
        return x;
    }

    public static Tensor Invert(Tensor y, (int Rot, bool Flip) v)
    {
        for (int i = 0; i < (4 - v.Rot) % 4; i++) y = Rot90(y);
        return v.Flip ? FlipW(y) : y;
    }

    static Tensor FlipW(Tensor x)
    {
        int w = x.Size(3);
        var idx = new long[w];
        for (int i = 0; i < w; i++) idx[i] = w - 1 - i;
        return x.IndexSelect(3, new IntTensor(idx, w));
    }

    /// <summary>Counter-clockwise by 90 degrees in the (H, W) plane (numpy rot90): transpose, then flip rows.</summary>
    static Tensor Rot90(Tensor x)
    {
        var t = x.Transpose(2, 3);
        int h = t.Size(2);
        var idx = new long[h];
        for (int i = 0; i < h; i++) idx[i] = h - 1 - i;
        return t.IndexSelect(2, new IntTensor(idx, h)).Contiguous();
    }
}
