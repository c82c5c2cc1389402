using System.Globalization;
using System.Text;
using HieraRS.Domain.Visual;
using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Domain.Metrics;

/// <summary>Hierarchical metrics for people: console tables, and a folder with JSON, Markdown, CSV and confusion-matrix PNGs.</summary>
public static class MetricsReport
{
    /// <summary>Per level: a fixed-width table of per-class scores (percent), the means and OA / kappa; then consistency and path accuracy.</summary>
    public static string ToConsole(HierarchicalMetrics m)
    {
        var sb = new StringBuilder();
        var tree = m.Hierarchy;
        for (int l = 0; l < tree.Depth; l++)
        {
            var s = m.Scores(l);
            var names = tree.Levels[l].Classes.Select(c => c.Name).ToList();
            int nw = Math.Max(12, names.Max(n => n.Length));
            sb.AppendLine(CultureInfo.InvariantCulture, $"level {l + 1} ({tree.Levels[l].Name}): {Plural.Of(s.Pixels, "labelled pixel", grouped: true)}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {"class".PadRight(nw)}  {"IoU",6}  {"prec",6}  {"recall",6}  {"F1",6}");
            for (int c = 0; c < names.Count; c++)
                sb.AppendLine(CultureInfo.InvariantCulture, $"  {names[c].PadRight(nw)}  {P(s.Iou[c])}  {P(s.Precision[c])}  {P(s.Recall[c])}  {P(s.F1[c])}");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  {"mean".PadRight(nw)}  {P(s.MIoU)}  {"",6}  {P(s.MAcc)}  {P(s.MF1)}   OA {P(s.OverallAccuracy).Trim()}  kappa {(double.IsNaN(s.Kappa) ? "-" : s.Kappa.ToString("F4", CultureInfo.InvariantCulture))}");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"consistency {P(m.Consistency).Trim()}%, path accuracy {P(m.PathAccuracy).Trim()}% ({Plural.Of(m.EvaluatedPixels, "evaluated pixel", grouped: true)})");
        sb.AppendLine("means are over classes present in truth or prediction; '-' = undefined (class absent)");
        return sb.ToString();

        static string P(double v) => double.IsNaN(v) ? "     -" : (100 * v).ToString("F2", CultureInfo.InvariantCulture).PadLeft(6);
    }

    /// <summary>Writes metrics.json (the stable schema), metrics.md, metrics.csv and confusion_L{k}.png into <paramref name="dir"/>; returns the paths.</summary>
    public static IReadOnlyList<string> Save(HierarchicalMetrics m, string dir, string title = "")
    {
        Directory.CreateDirectory(dir);
        var written = new List<string>();
        void Text(string name, string text)
        {
            string p = Path.Combine(dir, name);
            AtomicFile.WriteAllText(p, text);
            written.Add(p);
        }
        Text("metrics.json", m.ToJson());
        Text("metrics.md", m.ToMarkdown());
        Text("metrics.csv", m.ToCsv());
        for (int l = 0; l < m.Hierarchy.Depth; l++)
        {
            string p = Path.Combine(dir, $"confusion_L{l + 1}.png");
            var lv = m.Hierarchy.Levels[l];
            ConfusionPlot.Render(m.Levels[l], lv, $"{(title.Length > 0 ? title + ": " : "")}{m.Hierarchy.Name} level {l + 1} ({lv.Name}), OA {100 * m.Scores(l).OverallAccuracy:F1}%")
                .SavePng(p);
            written.Add(p);
        }
        return written;
    }
}
