using System.Globalization;
using System.Text;

namespace HieraRS.Domain.Hierarchies;

/// <summary>A tree as the YAML <see cref="HierarchyLoader"/> reads (so checkpoints carry their tree and need nothing else).</summary>
public static class HierarchyWriter
{
    public static string ToYaml(ClassHierarchy tree)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"name: {Q(tree.Name)}");
        if (tree.Description.Length > 0) sb.AppendLine($"description: {Q(tree.Description)}");
        sb.AppendLine("levels:");
        for (int l = 0; l < tree.Depth; l++)
        {
            sb.AppendLine($"  - name: {Q(tree.Levels[l].Name)}");
            sb.AppendLine("    classes:");
            foreach (var c in tree.Levels[l].Classes)
            {
                string parent = c.Parents.Count == 0 ? "" : $", parent: [{string.Join(", ", c.Parents)}]";
                sb.AppendLine(CultureInfo.InvariantCulture, $"      - {{id: {c.Id}, name: {Q(c.Name)}{parent}, colour: [{c.R}, {c.G}, {c.B}]}}");
            }
        }
        sb.AppendLine("encoding:");
        Encoding(sb, tree.Encoding, "  ");
        var others = tree.Encodings.Values.Where(e => e.Name != ClassHierarchy.DefaultEncoding).ToList();
        if (others.Count > 0)
        {
            sb.AppendLine("encodings:");
            foreach (var e in others)
            {
                sb.AppendLine($"  {Q(e.Name)}:");
                Encoding(sb, e, "    ");
            }
        }
        if (tree.Sources.Count > 0)
        {
            sb.AppendLine("sources:");
            foreach (var s in tree.Sources)
            {
                string classes = string.Join(", ", s.Classes.Select(kv => Q(tree.Levels[s.Level].Classes[kv.Key].Name) + ": [" + string.Join(", ", kv.Value.Select(Q)) + "]"));
                sb.Append("  - {hierarchy: ").Append(Q(s.SourceHierarchy)).Append(", level: ").Append(s.Level + 1)
                    .Append(", classes: {").Append(classes).AppendLine("}}");
            }
        }
        return sb.ToString();
    }

    static void Encoding(StringBuilder sb, LabelEncoding e, string indent)
    {
        sb.AppendLine(CultureInfo.InvariantCulture, $"{indent}level: {e.Level + 1}");
        sb.AppendLine($"{indent}values: {{{string.Join(", ", e.Values.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}"))}}}");
        if (e.Unlabelled.Count > 0) sb.AppendLine($"{indent}unlabelled: [{string.Join(", ", e.Unlabelled.Order())}]");
    }

    static string Q(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
