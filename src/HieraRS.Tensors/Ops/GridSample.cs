namespace HieraRS.Tensors;

public static partial class F
{
    /// <summary>
    /// Bilinear grid sampling with zero padding and align_corners = false (torch.nn.functional.grid_sample):
    /// input [N, C, H, W], grid [N, Ho, Wo, 2] holding (x, y) in [-1, 1]; output [N, C, Ho, Wo].
    /// </summary>
    public static Tensor GridSample(Tensor input, Tensor grid)
    {
        var (n, c, h, w) = Dims4(input, "grid_sample");
        if (grid.Rank != 4 || grid.Size(0) != n || grid.Size(3) != 2)
            throw new ArgumentException($"grid_sample: grid must be [{n}, Ho, Wo, 2], got {ShapeUtil.Format(grid.Shape)}");
        int ho = grid.Size(1), wo = grid.Size(2), hw = ho * wo;
        var xc = input.Contiguous(); var gc = grid.Contiguous();
        float[] xs = xc.Storage, gs = gc.Storage; int xo = xc.Offset, go = gc.Offset;
        var y = Tensor.Empty(n, c, ho, wo);
        float[] ys = y.Storage;
        Engine.For(n * ho, (long)wo * c * 4, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int b = r / ho;
                for (int q = (r % ho) * wo, qe = q + wo; q < qe; q++)
                {
                    var (x0, y0, fx, fy) = Corner(gs[go + (b * hw + q) * 2], gs[go + (b * hw + q) * 2 + 1], w, h);
                    for (int ch = 0; ch < c; ch++)
                    {
                        int pb = xo + (b * c + ch) * h * w;
                        ys[(b * c + ch) * hw + q] = Bilinear(xs, pb, w, h, x0, y0, fx, fy);
                    }
                }
            }
        });
        return Tensor.Record(y, "grid_sample", new[] { input, grid }, g =>
        {
            var gyc = g.Contiguous();
            float[] gys = gyc.Storage; int gyo = gyc.Offset;
            Tensor? gIn = input.RequiresGrad ? Tensor.Zeros(n, c, h, w) : null;
            Tensor? gGrid = grid.RequiresGrad ? Tensor.Zeros(n, ho, wo, 2) : null;
            Engine.For(n, (long)hw * c * 8, (b0, b1) =>
            {
                for (int b = b0; b < b1; b++)
                    for (int q = 0; q < hw; q++)
                    {
                        var (x0, y0, fx, fy) = Corner(gs[go + (b * hw + q) * 2], gs[go + (b * hw + q) * 2 + 1], w, h);
                        double dx = 0, dy = 0;
                        for (int ch = 0; ch < c; ch++)
                        {
                            float gv = gys[gyo + (b * c + ch) * hw + q];
                            int pb = (b * c + ch) * h * w;
                            if (gIn is not null)
                            {
                                Scatter(gIn.Storage, pb, w, h, x0, y0, (1 - fx) * (1 - fy) * gv);
                                Scatter(gIn.Storage, pb, w, h, x0 + 1, y0, fx * (1 - fy) * gv);
                                Scatter(gIn.Storage, pb, w, h, x0, y0 + 1, (1 - fx) * fy * gv);
                                Scatter(gIn.Storage, pb, w, h, x0 + 1, y0 + 1, fx * fy * gv);
                            }
                            if (gGrid is not null)
                            {
                                int xb = xo + pb;
                                float v00 = At(xs, xb, w, h, x0, y0), v10 = At(xs, xb, w, h, x0 + 1, y0);
                                float v01 = At(xs, xb, w, h, x0, y0 + 1), v11 = At(xs, xb, w, h, x0 + 1, y0 + 1);
                                dx += gv * ((v10 - v00) * (1 - fy) + (v11 - v01) * fy);
                                dy += gv * ((v01 - v00) * (1 - fx) + (v11 - v10) * fx);
                            }
                        }
                        if (gGrid is not null)
                        {
                            gGrid.Storage[(b * hw + q) * 2] = (float)(dx * w / 2);
                            gGrid.Storage[(b * hw + q) * 2 + 1] = (float)(dy * h / 2);
                        }
                    }
            });
            return new[] { gIn, gGrid };
        });
    }

    /// <summary>Unnormalised (align_corners = false) top-left corner and fractions.</summary>
    static (int X0, int Y0, float Fx, float Fy) Corner(float gx, float gy, int w, int h)
    {
        float ix = ((gx + 1f) * w - 1f) / 2f, iy = ((gy + 1f) * h - 1f) / 2f;
        float fx0 = MathF.Floor(ix), fy0 = MathF.Floor(iy);
        return ((int)fx0, (int)fy0, ix - fx0, iy - fy0);
    }

    static float At(float[] s, int b, int w, int h, int x, int y) =>
        (uint)x < (uint)w && (uint)y < (uint)h ? s[b + y * w + x] : 0f;

    static float Bilinear(float[] s, int b, int w, int h, int x0, int y0, float fx, float fy) =>
        At(s, b, w, h, x0, y0) * (1 - fx) * (1 - fy) + At(s, b, w, h, x0 + 1, y0) * fx * (1 - fy)
        + At(s, b, w, h, x0, y0 + 1) * (1 - fx) * fy + At(s, b, w, h, x0 + 1, y0 + 1) * fx * fy;

    static void Scatter(float[] s, int b, int w, int h, int x, int y, float v)
    {
        if ((uint)x < (uint)w && (uint)y < (uint)h) s[b + y * w + x] += v;
    }
}
