using HieraRS.Domain.Inference;

namespace HieraRS.Cli;

/// <summary>
/// A worker's share of <c>hierars predict</c>: of a folder or list, the scenes dealt to it (each written
/// whole by one worker); of one scene, its range of the parts (<see cref="PredictOptions.Shard"/>).
/// </summary>
static class PredictShards
{
    /// <summary>The options and scenes of this worker, said on the console when it is one of several.</summary>
    public static (PredictOptions Options, IReadOnlyList<string> Scenes) Split(PredictOptions o, List<string> scenes, bool many)
    {
        if (many && o.Merge) throw new ArgumentException("--merge assembles one scene split among workers; the scenes of a folder or list are each written whole by one worker");
        if (o.Shard is not { } s) return (o, scenes);
        if (!many)
        {
            Console.WriteLine($"worker {s} (from {s.Source}): its share of the scene's parts");
            return (o, scenes);
        }
        var mine = s.Deal(scenes).ToList();
        Console.WriteLine($"worker {s} (from {s.Source}): {mine.Count} of the {scenes.Count} scenes");
        return (o with { Shard = null }, mine);
    }
}
