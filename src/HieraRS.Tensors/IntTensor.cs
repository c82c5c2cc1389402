namespace HieraRS.Tensors;

/// <summary>A contiguous int64 tensor for labels, class indices and masks (no autograd).</summary>
public sealed class IntTensor
{
    public long[] Data { get; }
    readonly int[] shape;

    public IntTensor(params int[] shape)
    {
        this.shape = (int[])shape.Clone();
        Data = new long[ShapeUtil.CheckedNumel(shape)];
    }

    public IntTensor(long[] data, params int[] shape)
    {
        if (data.Length != ShapeUtil.CheckedNumel(shape))
            throw new ArgumentException($"{data.Length} values do not fill shape {ShapeUtil.Format(shape)}");
        Data = data; this.shape = (int[])shape.Clone();
    }

    public static IntTensor FromArray(ReadOnlySpan<long> data, params int[] shape) => new(data.ToArray(), shape);

    public static IntTensor FromArray(ReadOnlySpan<int> data, params int[] shape)
    {
        var d = new long[data.Length];
        for (int i = 0; i < d.Length; i++) d[i] = data[i];
        return new IntTensor(d, shape);
    }

    public ReadOnlySpan<int> Shape => shape;
    public int Rank => shape.Length;
    public int Numel => Data.Length;
    public int Size(int dim) => shape[ShapeUtil.NormDim(dim, shape.Length)];

    public long this[params int[] index]
    {
        get => Data[OffsetOf(index)];
        set => Data[OffsetOf(index)] = value;
    }

    int OffsetOf(int[] index)
    {
        int o = 0;
        for (int d = 0; d < shape.Length; d++) o = o * shape[d] + index[d];
        return o;
    }

    public IntTensor Reshape(params int[] newShape) => new(Data, ShapeUtil.Infer(newShape, Numel));

    /// <summary>Values as float32 (masks, one-hot arithmetic).</summary>
    public Tensor ToFloat()
    {
        var t = Tensor.Empty(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = Data[i];
        return t;
    }

    public override string ToString() => $"int_tensor(shape={ShapeUtil.Format(shape)})";
}
