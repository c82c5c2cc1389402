using HieraRS.Platform;
using HieraRS.Domain.Hierarchies;
using HieraRS.Tensors;

namespace HieraRS.Cli;

/// <summary>`hierars hierarchy show|validate|list`.</summary>
public static class HierarchyCommand
{
    public static int Show(string nameOrPath)
    {
        var h = HierarchyLoader.Resolve(nameOrPath);
        bool colour = !Console.IsOutputRedirected;
        Console.WriteLine($"{h.Name}: {h.Description}");
        Console.WriteLine($"levels {string.Join(" / ", h.Levels.Select(l => $"{l.Name} ({l.Count})"))}; {Plural.Of(h.PathCount, "valid path")}");
        void Print(int level, int id, string indent)
        {
            var c = h.Levels[level].Classes[id];
            string swatch = colour ? $"\u001b[48;2;{c.R};{c.G};{c.B}m  \u001b[0m " : "";
            string extra = c.Parents.Count > 1 ? $"  (also under: {string.Join(", ", c.Parents.Skip(1).Select(p => h.Levels[level - 1].Classes[p].Name))})" : "";
            Console.WriteLine($"{indent}{swatch}{c.Id,2} {c.Name}  #{c.R:x2}{c.G:x2}{c.B:x2}{extra}");
            if (level + 1 < h.Depth)
                foreach (var child in h.Levels[level + 1].Classes.Where(k => k.Parents.Count > 0 && k.Parents[0] == id))
                    Print(level + 1, child.Id, indent + "    ");
        }
        foreach (var root in h.Levels[0].Classes) Print(0, root.Id, "");
        foreach (var e in h.Encodings.Values)
        {
            var byClass = e.Values.GroupBy(kv => kv.Value).OrderBy(g => g.Key)
                .Select(g => $"{string.Join(",", g.Select(kv => kv.Key).Order())}->{h.Levels[e.Level].Classes[g.Key].Name}");
            Console.WriteLine($"label encoding '{e.Name}': level {e.Level + 1} ({h.Levels[e.Level].Name}); {string.Join("; ", byClass)}; " +
                $"unlabelled: {(e.Unlabelled.Count == 0 ? "none" : string.Join(",", e.Unlabelled.Order()))}");
        }
        foreach (var s in h.Sources)
            Console.WriteLine($"from {s.SourceHierarchy}, level {s.Level + 1}: " +
                string.Join("; ", s.Classes.Select(kv => $"{h.Levels[s.Level].Classes[kv.Key].Name} = {string.Join(" + ", kv.Value)}")));
        return 0;
    }

    public static int Validate(string path)
    {
        var h = HierarchyLoader.Resolve(path);
        Console.WriteLine($"ok: {h.Name} ({string.Join("/", h.ClassCounts)}), {Plural.Of(h.PathCount, "valid path")}");
        return 0;
    }

    public static int List()
    {
        foreach (var n in HierarchyLoader.BuiltinNames)
        {
            var h = HierarchyLoader.Builtin(n);
            Console.WriteLine($"{n,-10} {string.Join("/", h.ClassCounts),-9} {h.Description}");
        }
        return 0;
    }
}
