using System.Numerics.Tensors;

namespace HieraRS.Tensors;

internal static class SpanMath
{
    /// <summary>dst = src * scale + shift.</summary>
    public static void ScaleShift(ReadOnlySpan<float> src, float scale, float shift, Span<float> dst)
    {
        TensorPrimitives.Multiply(src, scale, dst);
        TensorPrimitives.Add(dst, shift, dst);
    }
}
