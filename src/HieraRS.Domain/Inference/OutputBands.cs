using HieraRS.Domain.Hierarchies;

namespace HieraRS.Domain.Inference;

/// <summary>
/// The bands a prediction writes, in order: a class map per written level, their confidences, then the
/// probabilities of every class of each level that has logits (these go to the probabilities file).
/// </summary>
/// <param name="LogitCounts">Logit channels per level the model predicts (a flat model: the finest level only).</param>
sealed record OutputBands(ClassHierarchy Hierarchy, bool Flat, int[] Levels, bool Confidence, int[] ProbabilityLevels, int[] LogitCounts)
{
    public int MapBands => Levels.Length * (Confidence ? 2 : 1);
    public int Count => MapBands + ProbabilityLevels.Sum(l => Hierarchy.Levels[l].Count);
    public int Channels => LogitCounts.Sum();

    public static OutputBands For(ClassHierarchy tree, bool flat, PredictOptions o)
    {
        var levels = o.Levels ?? Enumerable.Range(0, tree.Depth).ToArray();
        foreach (var l in levels) if (l < 0 || l >= tree.Depth) throw new ArgumentException($"level {l + 1} outside 1..{tree.Depth}");
        int[] probLevels = o.Probabilities is null ? [] : levels.Where(l => !flat || l == tree.Depth - 1).ToArray();
        if (o.Probabilities is not null && probLevels.Length == 0)
            throw new ArgumentException($"--probabilities: a flat model has logits for the finest level (level {tree.Depth}) only, which is not among the written levels");
        return new OutputBands(tree, flat, levels, o.Confidence, probLevels, flat ? [tree.Levels[^1].Count] : tree.ClassCounts);
    }
}
