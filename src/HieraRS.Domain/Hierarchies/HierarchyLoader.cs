using HieraRS.Platform;
using System.Globalization;
using System.Reflection;
using HieraRS.Domain.Config;
using HieraRS.Tensors;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Hierarchies;

/// <summary>A hierarchy file that does not validate; the message names the file, line and class at fault.</summary>
public sealed class HierarchyException(string message) : ConfigException(message);

/// <summary>
/// Reads class hierarchies from YAML or JSON (JSON is read as YAML, so errors carry line numbers too)
/// and the built-in ones (<see cref="BuiltinNames"/>), validating everything a tree needs.
/// </summary>
public static class HierarchyLoader
{
    public static IReadOnlyList<string> BuiltinNames { get; } = typeof(HierarchyLoader).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith("hierarchy.", StringComparison.Ordinal)).Select(n => n["hierarchy.".Length..^".yaml".Length]).Order().ToList();

    /// <summary>A built-in name (e.g. mm5b, gid) or a path to a .yaml / .yml / .json file.</summary>
    public static ClassHierarchy Resolve(string nameOrPath)
    {
        if (BuiltinNames.Contains(nameOrPath)) return Builtin(nameOrPath);
        if (File.Exists(nameOrPath) || Directory.Exists(nameOrPath)) return LoadFile(nameOrPath);
        throw new HierarchyException($"'{nameOrPath}' is neither a built-in hierarchy ({string.Join(", ", BuiltinNames)}) nor an existing file");
    }

    public static ClassHierarchy Builtin(string name)
    {
        using var s = typeof(HierarchyLoader).Assembly.GetManifestResourceStream($"hierarchy.{name}.yaml")
            ?? throw new HierarchyException($"no built-in hierarchy '{name}' (built-in: {string.Join(", ", BuiltinNames)})");
        using var r = new StreamReader(s);
        return Parse(r.ReadToEnd(), $"built-in:{name}");
    }

    public static ClassHierarchy LoadFile(string path) => Parse(InputFile.ReadAllText(path, "hierarchy file", YamlReader.MaxFileBytes), path);

    /// <summary>Parses and validates hierarchy text; <paramref name="source"/> names it in errors.</summary>
    public static ClassHierarchy Parse(string text, string source)
    {
        var ctx = new YamlReader(source, m => new HierarchyException(m));
        var root = ctx.Root(text, "'name' and 'levels'");
        ctx.AllowedKeys(root, "name", "description", "levels", "encoding", "encodings", "sources");
        string name = ctx.Scalar(root, "name");
        string description = ctx.OptionalScalar(root, "description") ?? "";
        var levelsNode = ctx.Sequence(root, "levels");
        if (levelsNode.Children.Count == 0) throw ctx.Error(levelsNode, "'levels' is empty");
        if (levelsNode.Children.Count > ClassHierarchy.MaxLevels)
            throw ctx.Error(levelsNode.Children[ClassHierarchy.MaxLevels], $"{levelsNode.Children.Count} levels; at most {ClassHierarchy.MaxLevels} are supported");
        var levels = new List<HierarchyLevel>();
        foreach (var ln in levelsNode.Children)
        {
            var lm = ctx.Mapping(ln, $"level {levels.Count + 1}");
            ctx.AllowedKeys(lm, "name", "classes");
            string lname = ctx.OptionalScalar(lm, "name") ?? $"L{levels.Count + 1}";
            var cs = ctx.Sequence(lm, "classes");
            if (cs.Children.Count == 0) throw ctx.Error(cs, $"level '{lname}' has no classes");
            if (cs.Children.Count > ClassHierarchy.MaxClasses)
                throw ctx.Error(cs.Children[ClassHierarchy.MaxClasses], $"level '{lname}' has {cs.Children.Count} classes; at most " +
                    $"{ClassHierarchy.MaxClasses} (class ids are bytes and {ClassHierarchy.NoClass} means no label)");
            levels.Add(ParseLevel(ctx, lname, cs, levels.Count == 0 ? null : levels[^1]));
        }
        var encoding = root.Children.TryGetValue(new YamlScalarNode("encoding"), out var en)
            ? ParseEncoding(ctx, ctx.Mapping(en, "encoding"), levels) : null;
        var sources = ctx.Has(root, "sources")
            ? ctx.Sequence(root, "sources").Children.Select(s => ParseSource(ctx, ctx.Mapping(s, "source"), levels)).ToList() : null;
        var others = new List<LabelEncoding>();
        if (root.Children.TryGetValue(new YamlScalarNode("encodings"), out var ens))
            foreach (var (k, v) in ctx.Mapping(ens, "encodings").Children)
            {
                string ename = (k as YamlScalarNode)?.Value ?? "";
                if (ename.Length == 0 || string.Equals(ename, ClassHierarchy.DefaultEncoding, StringComparison.OrdinalIgnoreCase)
                    || others.Any(o => string.Equals(o.Name, ename, StringComparison.OrdinalIgnoreCase)))
                    throw ctx.Error(k, $"encoding name '{ename}' is empty, 'default' (that is 'encoding') or given twice");
                others.Add(ParseEncoding(ctx, ctx.Mapping(v, $"encoding '{ename}'"), levels) with { Name = ename });
            }
        try { return new ClassHierarchy(name, description, levels, encoding, sources, others); }
        catch (ArgumentException e) { throw ctx.Error(root, e.Message); } // what only the whole tree shows (too many paths)
    }

    static HierarchyLevel ParseLevel(YamlReader ctx, string lname, YamlSequenceNode cs, HierarchyLevel? above)
    {
        var parsed = new List<(YamlMappingNode Node, int? Id, string Name, List<int> Parents, byte[] Rgb)>();
        foreach (var cn in cs.Children)
        {
            var cm = ctx.Mapping(cn, $"a class of level '{lname}'");
            ctx.AllowedKeys(cm, "id", "name", "parent", "colour", "color");
            string cname = ctx.Scalar(cm, "name");
            int? id = ctx.OptionalScalar(cm, "id") is { } ids ? ctx.Int(cm, "id", ids) : null;
            var parents = new List<int>();
            if (cm.Children.TryGetValue(new YamlScalarNode("parent"), out var pn))
            {
                if (above is null) throw ctx.Error(pn, $"class '{cname}' of the first level cannot have a parent");
                var names = pn is YamlSequenceNode seq ? seq.Children : [pn];
                foreach (var one in names)
                {
                    string p = (one as YamlScalarNode)?.Value ?? "";
                    var byName = above.Classes.FirstOrDefault(c => string.Equals(c.Name, p, StringComparison.OrdinalIgnoreCase));
                    int pid;
                    if (byName is not null) pid = byName.Id;
                    else if (int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out pid) && pid < above.Count) { }
                    else throw ctx.Error(one, $"class '{cname}': unknown parent '{p}' (level '{above.Name}' has {string.Join(", ", above.Classes.Select(c => c.Name))})");
                    if (parents.Contains(pid)) throw ctx.Error(one, $"class '{cname}': parent '{p}' given twice");
                    parents.Add(pid);
                }
            }
            else if (above is not null) throw ctx.Error(cm, $"class '{cname}' of level '{lname}' needs a parent in level '{above.Name}'");
            parsed.Add((cm, id, cname, parents, ParseColour(ctx, cm, cname)));
        }
        if (parsed.Any(p => p.Id is not null) && parsed.Any(p => p.Id is null))
            throw ctx.Error(cs, $"level '{lname}': give an id to every class or to none");
        var seenNames = new Dictionary<string, YamlMappingNode>(StringComparer.OrdinalIgnoreCase);
        var seenIds = new HashSet<int>();
        foreach (var p in parsed)
        {
            if (!seenNames.TryAdd(p.Name, p.Node)) throw ctx.Error(p.Node, $"duplicate class name '{p.Name}' in level '{lname}'");
            if (p.Id is { } id && !seenIds.Add(id)) throw ctx.Error(p.Node, $"duplicate class id {id} in level '{lname}'");
            if (p.Id is { } id2 && (id2 < 0 || id2 >= parsed.Count))
                throw ctx.Error(p.Node, $"class '{p.Name}': id {id2} outside 0..{parsed.Count - 1} (ids number the classes of a level from 0)");
        }
        var ordered = parsed.Select((p, i) => (p, Id: p.Id ?? i)).OrderBy(x => x.Id);
        return new HierarchyLevel(lname, ordered.Select(x => new HierarchyClass(x.Id, x.p.Name, x.p.Parents, x.p.Rgb[0], x.p.Rgb[1], x.p.Rgb[2])).ToList());
    }

    static byte[] ParseColour(YamlReader ctx, YamlMappingNode cm, string cname)
    {
        if (!cm.Children.TryGetValue(new YamlScalarNode("colour"), out var node) && !cm.Children.TryGetValue(new YamlScalarNode("color"), out node))
            throw ctx.Error(cm, $"class '{cname}' has no colour ([r, g, b] or \"#rrggbb\")");
        if (node is YamlScalarNode s && s.Value is { } hex && hex.StartsWith('#') && hex.Length == 7
            && int.TryParse(hex[1..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int v))
            return [(byte)(v >> 16), (byte)(v >> 8), (byte)v];
        if (node is YamlSequenceNode q && q.Children.Count == 3 && q.Children.All(c => c is YamlScalarNode { Value: { } t }
            && int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int x) && x <= 255))
            return q.Children.Select(c => byte.Parse(((YamlScalarNode)c).Value!, CultureInfo.InvariantCulture)).ToArray();
        throw ctx.Error(node, $"class '{cname}': bad colour (expected [r, g, b] with 0..255 each, or \"#rrggbb\")");
    }

    static LabelEncoding ParseEncoding(YamlReader ctx, YamlMappingNode m, List<HierarchyLevel> levels)
    {
        ctx.AllowedKeys(m, "level", "values", "unlabelled", "reduce_zero_label");
        int level = ctx.OptionalScalar(m, "level") is { } ls ? ctx.Int(m, "level", ls) - 1 : levels.Count - 1;
        if (level < 0 || level >= levels.Count) throw ctx.Error(m, $"encoding level {level + 1} outside 1..{levels.Count}");
        var lv = levels[level];
        var values = new Dictionary<long, int>();
        var unlabelled = new HashSet<long>();
        bool reduceZero = ctx.OptionalScalar(m, "reduce_zero_label") is "true" or "True";
        if (reduceZero)
        {
            // files hold class k as k + 1 and 0 as unlabelled (MMSegmentation's reduce_zero_label)
            for (int c = 0; c < lv.Count; c++) values[c + 1] = c;
            unlabelled.Add(0);
        }
        if (m.Children.TryGetValue(new YamlScalarNode("values"), out var vn))
        {
            if (reduceZero) throw ctx.Error(vn, "give either 'values' or 'reduce_zero_label', not both");
            foreach (var (k, v) in ctx.Mapping(vn, "values").Children)
            {
                long key = ctx.Long(k, "a stored value");
                string target = ctx.Text(v, $"the class of stored value {key}");
                int cls = lv.Classes.FirstOrDefault(c => string.Equals(c.Name, target, StringComparison.OrdinalIgnoreCase))?.Id
                    ?? (int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out int id) && id < lv.Count ? id
                        : throw ctx.Error(v, $"stored value {key} maps to unknown class '{target}' of level '{lv.Name}'"));
                if (!values.TryAdd(key, cls)) throw ctx.Error(k, $"stored value {key} is mapped twice");
            }
        }
        if (ctx.Has(m, "unlabelled"))
            foreach (var u in ctx.Sequence(m, "unlabelled").Children)
            {
                long val = ctx.Long(u, "an unlabelled value");
                if (values.ContainsKey(val)) throw ctx.Error(u, $"stored value {val} is both a class and unlabelled");
                unlabelled.Add(val);
            }
        if (values.Count == 0) throw ctx.Error(m, "the encoding maps no stored value to a class ('values' or 'reduce_zero_label')");
        return new LabelEncoding(level, values, unlabelled);
    }

    static SourceCorrespondence ParseSource(YamlReader ctx, YamlMappingNode m, List<HierarchyLevel> levels)
    {
        ctx.AllowedKeys(m, "hierarchy", "level", "classes");
        string src = ctx.Scalar(m, "hierarchy");
        int level = ctx.Int(m, "level", ctx.Scalar(m, "level")) - 1;
        if (level < 0 || level >= levels.Count) throw ctx.Error(m, $"source level {level + 1} outside 1..{levels.Count}");
        var map = new Dictionary<int, IReadOnlyList<string>>();
        foreach (var (k, v) in ctx.Mapping(ctx.Node(m, "classes") ?? throw ctx.Error(m, "a source needs 'classes'"), "classes").Children)
        {
            string cname = ctx.Text(k, "a class name");
            var cls = levels[level].Classes.FirstOrDefault(c => string.Equals(c.Name, cname, StringComparison.OrdinalIgnoreCase))
                ?? throw ctx.Error(k, $"unknown class '{cname}' of level '{levels[level].Name}'");
            map[cls.Id] = ctx.Strings(v, $"the source classes of '{cname}'");
        }
        return new SourceCorrespondence(src, level, map);
    }
}
