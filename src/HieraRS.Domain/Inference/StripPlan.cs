namespace HieraRS.Domain.Inference;

/// <summary>A row of windows of a strip to compute; <c>RecomputeOnly</c>: finished before, needed again because its windows feed the next row.</summary>
readonly record struct RowWork(int Strip, int Row, int Unit, bool RecomputeOnly);

/// <summary>Where one window's logits go in its strip's accumulators, and their blending weights along x and y.</summary>
readonly record struct WindowPlacement(int Dx, int Height, int Width, float[] WeightsX, float[] WeightsY);

/// <summary>
/// The window grid of a scene cut into column strips whose accumulators fit the budget. A part (the unit
/// written and resumed) is a row of windows of a strip: the rows from the row's first window to the next
/// row's, which no later window touches. Every window of the global grid that touches a strip is
/// computed for it, so the result does not depend on the strip width.
/// </summary>
sealed class StripPlan
{
    public int Width { get; }
    public int Height { get; }
    public int Window { get; }
    public int[] Xs { get; }
    public int[] Ys { get; }
    public int StripWidth { get; }
    public (int X0, int X1)[] Strips { get; }
    /// <summary>Per strip, the window columns that touch it.</summary>
    public int[][] Columns { get; }
    public long TotalWindows { get; }
    readonly float[][] weightsX, weightsY;

    public StripPlan(int width, int height, PredictOptions o, int channels)
    {
        (Width, Height, Window) = (width, height, o.Window);
        Xs = SlidingWindows.Starts(width, o.Window, o.Overlap);
        Ys = SlidingWindows.Starts(height, o.Window, o.Overlap);
        long perColumn = (long)o.Window * (channels + 1) * sizeof(float);
        StripWidth = (int)Math.Clamp(o.AccumulatorBudget / perColumn, Math.Min(o.Window, width), width);
        var strips = new List<(int, int)>();
        for (int x0 = 0; x0 < width; x0 += StripWidth) strips.Add((x0, Math.Min(width, x0 + StripWidth)));
        Strips = [.. strips];
        Columns = Strips.Select(s => Enumerable.Range(0, Xs.Length).Where(i => Xs[i] < s.X1 && Xs[i] + Window > s.X0).ToArray()).ToArray();
        TotalWindows = Columns.Sum(c => (long)c.Length * Ys.Length);
        weightsX = Xs.Select((_, i) => SlidingWindows.Weights(Xs, i, Window, width, o.Blend)).ToArray();
        weightsY = Ys.Select((_, i) => SlidingWindows.Weights(Ys, i, Window, height, o.Blend)).ToArray();
    }

    public int PartCount => Strips.Length * Ys.Length;

    /// <summary>Pixels of the largest part.</summary>
    public int MaxPartPixels => StripWidth * Enumerable.Range(0, Ys.Length).Max(r => RowEnd(r) - Ys[r]);

    /// <summary>The scene rectangle of part <paramref name="unit"/> (parts run down each strip, strip after strip).</summary>
    public (int X, int Y, int Width, int Height) Part(int unit)
    {
        var (x0, x1) = Strips[unit / Ys.Length];
        int row = unit % Ys.Length;
        return (x0, Ys[row], x1 - x0, RowEnd(row) - Ys[row]);
    }

    /// <summary>The first scene row after row <paramref name="row"/>'s part: the next row of windows' start.</summary>
    public int RowEnd(int row) => row + 1 < Ys.Length ? Ys[row + 1] : Height;

    public WindowPlacement Placement(int strip, int col, int row) =>
        new(Xs[col] - Strips[strip].X0, Math.Min(Window, Height - Ys[row]), Math.Min(Window, Width - Xs[col]), weightsX[col], weightsY[row]);

    /// <summary>
    /// The rows of windows still to compute when <paramref name="finished"/> parts exist, and the windows
    /// they leave out: a finished row is skipped, except the last one before the resume point when its
    /// windows also feed the next row.
    /// </summary>
    public (List<RowWork> Work, long DoneWindows) Remaining(int finished)
    {
        var work = new List<RowWork>();
        long done = 0;
        for (int s = 0, unit = 0; s < Strips.Length; s++)
            for (int r = 0; r < Ys.Length; r++, unit++)
            {
                bool isDone = unit < finished;
                if (isDone && !(unit + 1 == finished && r + 1 < Ys.Length)) done += Columns[s].Length;
                else work.Add(new RowWork(s, r, unit, isDone));
            }
        return (work, done);
    }
}
