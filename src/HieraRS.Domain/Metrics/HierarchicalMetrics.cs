using HieraRS.Platform;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;

namespace HieraRS.Domain.Metrics;

/// <summary>
/// Streaming evaluation of per-level predictions against per-level truth: a confusion matrix per
/// level, the hierarchical consistency rate (share of evaluated pixels, those labelled at some level,
/// whose predicted labels form a valid path) and path accuracy (share of pixels labelled at every
/// level whose predictions are right at every level).
/// </summary>
public sealed class HierarchicalMetrics
{
    public ClassHierarchy Hierarchy { get; }
    public ConfusionMatrix[] Levels { get; }
    public long EvaluatedPixels { get; private set; }
    public long ConsistentPixels { get; private set; }
    public long FullyLabelledPixels { get; private set; }
    public long PathCorrectPixels { get; private set; }

    public HierarchicalMetrics(ClassHierarchy hierarchy)
    {
        Hierarchy = hierarchy;
        Levels = hierarchy.Levels.Select(l => new ConfusionMatrix(l.Count)).ToArray();
    }

    /// <summary>Adds one image (or batch): truth[level][pixel] and pred[level][pixel], NoClass in truth where unlabelled.</summary>
    public void Add(byte[][] truth, byte[][] pred)
    {
        int depth = Hierarchy.Depth;
        if (truth.Length != depth || pred.Length != depth) throw new ArgumentException($"need {Plural.Of(depth, "level")} of truth and prediction");
        for (int l = 0; l < depth; l++) Levels[l].Add(truth[l], pred[l]);
        int n = truth[0].Length;
        Span<int> path = stackalloc int[depth];
        for (int i = 0; i < n; i++)
        {
            bool any = false, all = true, right = true;
            for (int l = 0; l < depth; l++)
            {
                byte t = truth[l][i];
                path[l] = pred[l][i];
                if (t == ClassHierarchy.NoClass) all = false;
                else { any = true; right &= t == pred[l][i]; }
            }
            if (!any) continue;
            EvaluatedPixels++;
            if (Hierarchy.IsValidPath(path)) ConsistentPixels++;
            if (all)
            {
                FullyLabelledPixels++;
                if (right) PathCorrectPixels++;
            }
        }
    }

    public double Consistency => EvaluatedPixels > 0 ? (double)ConsistentPixels / EvaluatedPixels : double.NaN;
    public double PathAccuracy => FullyLabelledPixels > 0 ? (double)PathCorrectPixels / FullyLabelledPixels : double.NaN;

    public LevelScores Scores(int level) => new(Levels[level]);

    /// <summary>Every count as one vector (the levels' confusion matrices, then the pixel counters), to be summed across processes.</summary>
    public double[] Tallies()
    {
        var t = new List<double>();
        foreach (var m in Levels) t.AddRange(m.Counts.Select(c => (double)c));
        t.AddRange([EvaluatedPixels, ConsistentPixels, FullyLabelledPixels, PathCorrectPixels]);
        return [.. t];
    }

    /// <summary>The metrics whose counts are <paramref name="tallies"/> (a sum of <see cref="Tallies"/> vectors; exact below 2^53 pixels).</summary>
    public static HierarchicalMetrics FromTallies(ClassHierarchy hierarchy, ReadOnlySpan<double> tallies)
    {
        var m = new HierarchicalMetrics(hierarchy);
        int k = 0;
        foreach (var level in m.Levels)
            for (int i = 0; i < level.Counts.Length; i++) level.Counts[i] = (long)tallies[k++];
        if (tallies.Length != k + 4) throw new ArgumentException($"{tallies.Length} tallies for the tree '{hierarchy.Name}', which needs {k + 4}");
        (m.EvaluatedPixels, m.ConsistentPixels, m.FullyLabelledPixels, m.PathCorrectPixels) = ((long)tallies[k], (long)tallies[k + 1], (long)tallies[k + 2], (long)tallies[k + 3]);
        return m;
    }

    static JsonNode? Num(double v) => double.IsNaN(v) ? null : JsonValue.Create(Math.Round(v, 6));

    /// <summary>The metrics JSON (fractions in [0, 1], null where undefined).</summary>
    public string ToJson()
    {
        var levels = new JsonArray();
        for (int l = 0; l < Hierarchy.Depth; l++)
        {
            var s = Scores(l);
            var cm = Levels[l];
            levels.Add(new JsonObject
            {
                ["level"] = l + 1,
                ["name"] = Hierarchy.Levels[l].Name,
                ["classes"] = new JsonArray(Hierarchy.Levels[l].Classes.Select(c => (JsonNode?)JsonValue.Create(c.Name)).ToArray()),
                ["iou"] = new JsonArray(s.Iou.Select(Num).ToArray()),
                ["precision"] = new JsonArray(s.Precision.Select(Num).ToArray()),
                ["recall"] = new JsonArray(s.Recall.Select(Num).ToArray()),
                ["f1"] = new JsonArray(s.F1.Select(Num).ToArray()),
                ["miou"] = Num(s.MIoU), ["macc"] = Num(s.MAcc), ["mf1"] = Num(s.MF1),
                ["oa"] = Num(s.OverallAccuracy), ["kappa"] = Num(s.Kappa),
                ["confusion"] = new JsonArray(Enumerable.Range(0, cm.Classes).Select(t =>
                    (JsonNode?)new JsonArray(Enumerable.Range(0, cm.Classes).Select(p => (JsonNode?)JsonValue.Create(cm[t, p])).ToArray())).ToArray()),
            });
        }
        var root = new JsonObject
        {
            ["hierarchy"] = Hierarchy.Name,
            ["pixels"] = EvaluatedPixels,
            ["levels"] = levels,
            ["consistency"] = Num(Consistency),
            ["path_accuracy"] = Num(PathAccuracy),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Per-level Markdown tables: a row per class, then the means.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# {Hierarchy.Name}: {EvaluatedPixels:N0} pixels, consistency {Pct(Consistency)}, path accuracy {Pct(PathAccuracy)}");
        for (int l = 0; l < Hierarchy.Depth; l++)
        {
            var s = Scores(l);
            sb.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"## Level {l + 1}: {Hierarchy.Levels[l].Name}").AppendLine();
            sb.AppendLine("| class | IoU | precision | recall | F1 |").AppendLine("|---|---|---|---|---|");
            for (int c = 0; c < Levels[l].Classes; c++)
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {Hierarchy.Levels[l].Classes[c].Name} | {Pct(s.Iou[c])} | {Pct(s.Precision[c])} | {Pct(s.Recall[c])} | {Pct(s.F1[c])} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| **mean** | **{Pct(s.MIoU)}** | | **{Pct(s.MAcc)}** | **{Pct(s.MF1)}** |").AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"OA {Pct(s.OverallAccuracy)}, kappa {(double.IsNaN(s.Kappa) ? "-" : s.Kappa.ToString("F4", CultureInfo.InvariantCulture))}");
        }
        return sb.ToString();
    }

    /// <summary>CSV: level, class, iou, precision, recall, f1 (fractions; empty where undefined).</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("level,level_name,class,iou,precision,recall,f1\n");
        for (int l = 0; l < Hierarchy.Depth; l++)
        {
            var s = Scores(l);
            for (int c = 0; c < Levels[l].Classes; c++)
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"{l + 1},{Csv(Hierarchy.Levels[l].Name)},{Csv(Hierarchy.Levels[l].Classes[c].Name)},{F(s.Iou[c])},{F(s.Precision[c])},{F(s.Recall[c])},{F(s.F1[c])}");
        }
        return sb.ToString();

        static string F(double v) => double.IsNaN(v) ? "" : v.ToString("F6", CultureInfo.InvariantCulture);
        static string Csv(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }

    static string Pct(double v) => double.IsNaN(v) ? "-" : (100 * v).ToString("F2", CultureInfo.InvariantCulture);
}
