using HieraRS.Tensors;

namespace HieraRS.NN;

/// <summary>
/// Multi-scale deformable attention (Deformable DETR's MSDeformAttn, as ViT-Adapter uses it), for one
/// value level: every query looks at <c>points</c> locations per head around its reference point,
/// offsets and softmax weights predicted from the query, values sampled bilinearly (grid_sample, zero
/// padding, align_corners = false). The value is projected to <c>ratio</c> x the model width.
/// Names and initialisation follow the reference: <c>sampling_offsets</c> (weight 0, bias a ring of
/// directions, point i at distance i + 1), <c>attention_weights</c> (0), <c>value_proj</c> and
/// <c>output_proj</c> (Xavier uniform, bias 0).
/// </summary>
public sealed class MultiScaleDeformableAttention : Module
{
    readonly Linear samplingOffsets, attentionWeights, valueProj, outputProj;
    public int Heads { get; }
    public int Points { get; }
    public int ValueChannels { get; }

    public MultiScaleDeformableAttention(int dModel, int heads = 8, int points = 4, double ratio = 1.0)
    {
        int dv = (int)(dModel * ratio);
        if (dv % heads != 0) throw new ArgumentException($"deformable attention: value width {dv} ({dModel} x {ratio}) is not divisible by {heads} heads");
        (Heads, Points, ValueChannels) = (heads, points, dv);
        samplingOffsets = Register("sampling_offsets", new Linear(dModel, heads * points * 2));
        attentionWeights = Register("attention_weights", new Linear(dModel, heads * points));
        valueProj = Register("value_proj", new Linear(dModel, dv));
        outputProj = Register("output_proj", new Linear(dv, dModel));

        Init.Constant(samplingOffsets.Weight, 0);
        var bias = samplingOffsets.Bias!.Span;
        for (int h = 0; h < heads; h++)
        {
            double theta = h * (2.0 * Math.PI / heads);
            float cx = (float)Math.Cos(theta), cy = (float)Math.Sin(theta);
            float m = Math.Max(Math.Abs(cx), Math.Abs(cy));
            for (int p = 0; p < points; p++)
            {
                bias[(h * points + p) * 2] = cx / m * (p + 1);
                bias[(h * points + p) * 2 + 1] = cy / m * (p + 1);
            }
        }
        Init.Constant(attentionWeights.Weight, 0);
        Init.Constant(attentionWeights.Bias!, 0);
        Init.XavierUniform(valueProj.Weight);
        Init.Constant(valueProj.Bias!, 0);
        Init.XavierUniform(outputProj.Weight);
        Init.Constant(outputProj.Bias!, 0);
    }

    /// <param name="query">[B, Nq, C]</param>
    /// <param name="reference">[B, Nq, 2]: (x, y) in [0, 1] of the value map</param>
    /// <param name="value">[B, H * W, C], row-major over the value map</param>
    /// <returns>[B, Nq, C]</returns>
    public Tensor Forward(Tensor query, Tensor reference, Tensor value, int height, int width)
    {
        int b = query.Size(0), nq = query.Size(1), nv = value.Size(1), dh = ValueChannels / Heads;
        if (nv != height * width) throw new ArgumentException($"deformable attention: {nv} values for a {height} x {width} map");
        // values as one map per (batch, head): [B * heads, dh, H, W]
        var v = valueProj.Forward(value).Reshape(b, nv, Heads, dh).Permute(0, 2, 3, 1).Reshape(b * Heads, dh, height, width);
        var offsets = samplingOffsets.Forward(query).Reshape(b, nq, Heads, Points, 2);
        var weights = attentionWeights.Forward(query).Reshape(b, nq, Heads, Points).Softmax(3);
        // sampling locations in grid_sample's [-1, 1]: 2 * (reference + offset / (W, H)) - 1
        var scale = Tensor.FromArray([2f / width, 2f / height], 2);
        var grid = reference.Reshape(b, nq, 1, 1, 2) * 2f - 1f + offsets * scale;
        grid = grid.Permute(0, 2, 1, 3, 4).Reshape(b * Heads, nq, Points, 2);
        var sampled = F.GridSample(v, grid); // [B * heads, dh, Nq, P]
        var w = weights.Permute(0, 2, 1, 3).Reshape(b * Heads, 1, nq, Points);
        var o = (sampled * w).Sum(3).Reshape(b, Heads * dh, nq).Transpose(1, 2);
        return outputProj.Forward(o);
    }
}
