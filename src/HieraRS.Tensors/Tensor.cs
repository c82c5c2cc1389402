using System.Globalization;
using System.Text;

namespace HieraRS.Tensors;

/// <summary>
/// A float32 n-dimensional array with strides over shared storage, and reverse-mode autograd.
/// Views (reshape of contiguous data, permute, narrow, expand) share storage with their base.
/// </summary>
public sealed partial class Tensor
{
    internal readonly float[] Storage;
    internal readonly int Offset;
    readonly int[] shape;
    readonly int[] strides;
    bool requiresGrad;

    /// <summary>Accumulated gradient of a leaf after <see cref="Backward"/>.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>The operation that produced this tensor, while its graph is alive.</summary>
    internal Node? GradFn { get; set; }

    internal Tensor(float[] storage, int offset, int[] shape, int[] strides)
    {
        Storage = storage; Offset = offset; this.shape = shape; this.strides = strides;
    }

    internal Tensor(float[] storage, int[] shape) : this(storage, 0, shape, ContiguousStrides(shape))
    {
        if (storage.Length >= 1 << 16) MemoryPressure.Allocated(4L * storage.Length);
    }

    public ReadOnlySpan<int> Shape => shape;
    public ReadOnlySpan<int> Strides => strides;
    public int Rank => shape.Length;
    public int Numel => ShapeUtil.Numel(shape);
    public int Size(int dim) => shape[ShapeUtil.NormDim(dim, shape.Length)];
    public bool IsLeaf => GradFn is null;

    /// <summary>Whether gradients flow to this tensor. Only leaves may be switched by hand.</summary>
    public bool RequiresGrad
    {
        get => requiresGrad;
        set
        {
            if (!IsLeaf && !value) throw new InvalidOperationException("cannot turn off requires_grad on a non-leaf tensor; use Detach()");
            requiresGrad = value;
        }
    }

    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                if (shape[d] != 1 && strides[d] != expected) return false;
                expected *= shape[d];
            }
            return true;
        }
    }

    /// <summary>The elements of a contiguous tensor, in row-major order.</summary>
    public Span<float> Span
    {
        get
        {
            if (!IsContiguous) throw new InvalidOperationException("Span needs a contiguous tensor; call Contiguous() first");
            return Storage.AsSpan(Offset, Numel);
        }
    }

    internal static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]; }
        return s;
    }

    // ---- factories ----

    /// <summary>New tensor with uninitialised contents (callers overwrite every element).</summary>
    public static Tensor Empty(params int[] shape)
    {
        int n = ShapeUtil.CheckedNumel(shape);
        var shp = (int[])shape.Clone();
        // a recycled array is not new memory: it does not count towards the next collection
        return Recycled.Take(n) is { } reused ? new(reused, 0, shp, ContiguousStrides(shp)) : new(GC.AllocateUninitializedArray<float>(n), shp);
    }

    /// <summary>
    /// Hands back an array no tensor uses any more (a window's scores once blended): the next <see cref="Empty"/>
    /// of its length takes it instead of fresh memory, whose page faults cost more than the work on a
    /// 32 MB buffer written once. Only for arrays the caller owns outright.
    /// </summary>
    public static void Recycle(float[] array) => Recycled.Give(array);

    /// <summary>
    /// Declares an intermediate of an inference pass dead: the caller made it, and neither a view of it nor
    /// a graph lives on. Its array then serves the next <see cref="Empty"/> of its length (a later layer of
    /// the same pass, or the next window) instead of fresh memory, whose page faults cost 1-4 ms a layer.
    /// Only inside <see cref="GradMode.NoGrad"/> (while grad mode is on, a later op's backward may hold any
    /// tensor, even one that does not require grad itself); a view, or a tensor in a graph, is left alone.
    /// </summary>
    public void Release()
    {
        if (GradMode.Enabled || requiresGrad || GradFn is not null || Offset != 0 || Storage.Length != Numel) return;
        Recycled.Give(Storage);
    }

    public static Tensor Zeros(params int[] shape) => new(new float[ShapeUtil.CheckedNumel(shape)], (int[])shape.Clone());

    public static Tensor Full(float value, params int[] shape)
    {
        var t = Empty(shape);
        t.Span.Fill(value);
        return t;
    }

    public static Tensor Ones(params int[] shape) => Full(1f, shape);
    public static Tensor Scalar(float value) => new(new[] { value }, Array.Empty<int>());

    public static Tensor ZerosLike(Tensor t) => Zeros(t.shape);

    /// <summary>Wraps a copy of <paramref name="data"/> with the given shape.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, params int[] shape)
    {
        if (data.Length != ShapeUtil.CheckedNumel(shape))
            throw new ArgumentException($"{data.Length} values do not fill shape {ShapeUtil.Format(shape)}");
        return new Tensor(data.ToArray(), (int[])shape.Clone());
    }

    public static Tensor Arange(int n)
    {
        var t = Empty(n);
        for (int i = 0; i < n; i++) t.Storage[i] = i;
        return t;
    }

    /// <summary>Standard normal samples from <paramref name="gen"/> (the default generator if null).</summary>
    public static Tensor Randn(int[] shape, Generator? gen = null)
    {
        gen ??= Generator.Default;
        var t = Empty(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (float)gen.NextNormal();
        return t;
    }

    /// <summary>Uniform samples in [low, high).</summary>
    public static Tensor Rand(int[] shape, float low = 0, float high = 1, Generator? gen = null)
    {
        gen ??= Generator.Default;
        var t = Empty(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (float)(low + (high - low) * gen.NextDouble());
        return t;
    }

    // ---- element access ----

    public float Item()
    {
        if (Numel != 1) throw new InvalidOperationException($"Item() needs one element, tensor has shape {ShapeUtil.Format(shape)}");
        return Storage[Offset];
    }

    [System.Runtime.CompilerServices.IndexerName("At")]
    public float this[params int[] index]
    {
        get => Storage[OffsetOf(index)];
        set => Storage[OffsetOf(index)] = value;
    }

    int OffsetOf(int[] index)
    {
        if (index.Length != shape.Length) throw new ArgumentException($"index of rank {index.Length} for tensor of rank {shape.Length}");
        int o = Offset;
        for (int d = 0; d < index.Length; d++)
        {
            int i = index[d] < 0 ? index[d] + shape[d] : index[d];
            if ((uint)i >= (uint)shape[d]) throw new IndexOutOfRangeException($"index {index[d]} out of range for dim {d} of size {shape[d]}");
            o += i * strides[d];
        }
        return o;
    }

    /// <summary>Copy of the elements in row-major order.</summary>
    public float[] ToArray() => Contiguous().Span.ToArray();

    /// <summary>
    /// The values as one array without copying when the tensor's storage holds exactly them, in order (most
    /// results of an op); else a copy. The array may be the tensor's own: for data that leaves the engine.
    /// </summary>
    public float[] AsArray() => IsContiguous && Offset == 0 && Storage.Length == Numel ? Storage : ToArray();

    /// <summary>A tensor over <paramref name="data"/> itself, not a copy (changes to either show in both).</summary>
    public static Tensor Wrap(float[] data, params int[] shape)
    {
        if (data.Length != ShapeUtil.CheckedNumel(shape))
            throw new ArgumentException($"{data.Length} values do not fill shape {ShapeUtil.Format(shape)}");
        return new Tensor(data, (int[])shape.Clone());
    }

    /// <summary>A tensor sharing storage but cut from the graph.</summary>
    public Tensor Detach() => new(Storage, Offset, shape, strides);

    /// <summary>Contiguous copy of the data, cut from the graph.</summary>
    public Tensor CloneData()
    {
        var t = Empty(shape);
        Strided.CopyTo(this, t.Span);
        return t;
    }

    /// <summary>Overwrites this tensor's elements with <paramref name="src"/>'s (same shape; no autograd).</summary>
    public void CopyFrom(Tensor src)
    {
        if (!ShapeUtil.SameShape(shape, src.shape))
            throw new ArgumentException($"cannot copy shape {ShapeUtil.Format(src.shape)} into {ShapeUtil.Format(shape)}");
        if (!IsContiguous) throw new InvalidOperationException("CopyFrom needs a contiguous destination");
        Strided.CopyTo(src, Span);
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("tensor(shape=").Append(ShapeUtil.Format(shape));
        if (requiresGrad) sb.Append(", requires_grad");
        if (Numel <= 16)
        {
            sb.Append(", [");
            sb.Append(string.Join(", ", ToArray().Select(v => v.ToString("G6", CultureInfo.InvariantCulture))));
            sb.Append(']');
        }
        return sb.Append(')').ToString();
    }
}
