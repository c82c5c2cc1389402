namespace HieraRS.Domain.Inference;

/// <summary>A row of windows of a strip to compute; <c>RecomputeOnly</c>: finished before, needed again because its windows feed the next row.</summary>
readonly record struct RowWork(int Strip, int Row, int Unit, bool RecomputeOnly);

/// <summary>Where one window's logits go in its strip's accumulators, and their blending weights along x and y.</summary>
readonly record struct WindowPlacement(int Dx, int Height, int Width, float[] WeightsX, float[] WeightsY);

/// <summary>
/// The window grid of a scene cut into column strips whose accumulators fit the budget. A part (the unit
/// written and resumed) is a row of windows of a strip: the rows from the row's first window to the next
/// row's, which no later window touches. Every window of the global grid that touches a strip is
/// added to it (a seam window once computed, its right-hand columns left for the next strip by
/// <see cref="SeamCache"/>), so the result does not depend on the strip width.
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

    /// <summary>Whether window column <paramref name="col"/> of strip <paramref name="strip"/> reaches into the next strip (a seam window both compute).</summary>
    public bool ReachesNext(int strip, int col) => strip + 1 < Strips.Length && Xs[col] + Window > Strips[strip + 1].X0;

    /// <summary>The first row of windows whose windows reach row <paramref name="row"/>'s part (its sums start there).</summary>
    public int Lead(int row)
    {
        int k = row;
        while (k > 0 && Ys[k - 1] + Window > Ys[row]) k--;
        return k;
    }

    /// <summary>
    /// The rows of windows to compute so that every part of <paramref name="parts"/> that does not exist
    /// yet is written, and the windows of the selected parts left out (done) and in all. In each strip the
    /// rows run from the lead of the first missing part to the last one; rows before it whose windows also
    /// reach that part are computed again (not written), so every pixel sums the same windows in the same
    /// order as one uninterrupted run: a part does not depend on the run or worker that computed it.
    /// </summary>
    public (List<RowWork> Work, long DoneWindows, long TotalWindows) Remaining(PartSelection parts)
    {
        var work = new List<RowWork>();
        long done = 0, total = 0;
        for (int s = 0; s < Strips.Length; s++)
        {
            int b = s * Ys.Length, first = -1, last = -1;
            for (int r = 0; r < Ys.Length; r++)
                if (parts.Mine(b + r) && !parts.Exists(b + r)) { if (first < 0) first = r; last = r; }
            int from = first < 0 ? Ys.Length : Lead(first);
            for (int r = 0; r < Ys.Length; r++)
            {
                bool mine = parts.Mine(b + r), computed = r >= from && r <= last;
                if (computed) work.Add(new RowWork(s, r, b + r, RecomputeOnly: !mine || parts.Exists(b + r)));
                if (mine && !computed) done += Columns[s].Length;
                if (mine || computed) total += Columns[s].Length;
            }
        }
        return (work, done, total);
    }
}

/// <summary>Which parts a run computes (<see cref="Mine"/>) and which are already written (<see cref="Exists"/>).</summary>
readonly record struct PartSelection(Func<int, bool> Mine, Func<int, bool> Exists)
{
    /// <summary>Of the first <paramref name="parts"/> parts, those of this run already written (by an earlier run).</summary>
    public int Written(int parts)
    {
        var (mine, exists) = (Mine, Exists);
        return Enumerable.Range(0, parts).Count(u => mine(u) && exists(u));
    }
}
