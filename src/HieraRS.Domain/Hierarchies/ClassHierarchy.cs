using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Domain.Hierarchies;

/// <summary>
/// One class of a level: its index in the level, name, colour and parents (indices in the level
/// above; usually one, several where a class hangs under more than one branch, such as Crop10m's
/// L3 "other", valid under both other/other and vegetation/cropland).
/// </summary>
public sealed record HierarchyClass(int Id, string Name, IReadOnlyList<int> Parents, byte R, byte G, byte B)
{
    /// <summary>The parent when there is exactly one.</summary>
    public int? Parent => Parents.Count == 1 ? Parents[0] : null;
}

/// <summary>One level of the tree, coarse to fine.</summary>
public sealed record HierarchyLevel(string Name, IReadOnlyList<HierarchyClass> Classes)
{
    public int Count => Classes.Count;
}

/// <summary>
/// How label files store classes: stored value -> class of <see cref="Level"/> (usually the finest),
/// and the stored values that mean "no label". A tree may know several (MM-5B's own files and the
/// FBP-24 originals; GID-15 files at L3 and GID-5 files at L2), each under a name.
/// </summary>
public sealed record LabelEncoding(int Level, IReadOnlyDictionary<long, int> Values, IReadOnlySet<long> Unlabelled)
{
    public string Name { get; init; } = ClassHierarchy.DefaultEncoding;

    /// <summary>
    /// Stored byte value -> class (NoClass for unlabelled, -1 for a value the encoding does not know):
    /// decoding a whole label image is then one lookup per pixel.
    /// </summary>
    public short[] ByteTable()
    {
        var t = new short[256];
        for (int v = 0; v < 256; v++)
            t[v] = Values.TryGetValue(v, out int c) ? (short)c : Unlabelled.Contains(v) ? ClassHierarchy.NoClass : (short)-1;
        return t;
    }
}

/// <summary>For a transfer target: which source-tree classes each target class of a level stands for.</summary>
public sealed record SourceCorrespondence(string SourceHierarchy, int Level, IReadOnlyDictionary<int, IReadOnlyList<string>> Classes);

/// <summary>
/// A class tree of any depth (levels coarse to fine, each class with a parent in the level above),
/// its label-file encoding, and the tables derived from it: ancestor maps, descendants, the valid
/// root-to-leaf paths, and the labels of every level from the labels of one.
/// </summary>
public sealed class ClassHierarchy
{
    /// <summary>
    /// The byte for "no class here": unlabelled at this level in labels (ignored by losses and metrics,
    /// MMSeg's ignore index), nodata and no prediction in written class maps.
    /// </summary>
    public const byte NoClass = 255;
    /// <summary>Classes per level: ids are bytes and <see cref="NoClass"/> is taken.</summary>
    public const int MaxClasses = 255;
    /// <summary>Levels: a path is one base-256 number in a long (see PathKey).</summary>
    public const int MaxLevels = 7;
    /// <summary>Valid root-to-leaf paths: joint path selection scores every path at every pixel.</summary>
    public const int MaxPaths = 4096;

    public string Name { get; }
    public string Description { get; }
    public IReadOnlyList<HierarchyLevel> Levels { get; }
    public const string DefaultEncoding = "default";

    /// <summary>The default label encoding.</summary>
    public LabelEncoding Encoding => Encodings[DefaultEncoding];
    /// <summary>Every label encoding by name ("default" always present).</summary>
    public IReadOnlyDictionary<string, LabelEncoding> Encodings { get; }
    public IReadOnlyList<SourceCorrespondence> Sources { get; }

    readonly int[][][] ancestor; // ancestor[from][to][class of from] = its ancestor at level to (to <= from), -1 if it depends on the branch
    readonly int[][] paths;
    readonly Dictionary<long, int> pathIndex; // base-256 code of each valid path -> its index (IsValidPath runs per pixel)

    public ClassHierarchy(string name, string description, IReadOnlyList<HierarchyLevel> levels, LabelEncoding? encoding = null,
        IReadOnlyList<SourceCorrespondence>? sources = null, IEnumerable<LabelEncoding>? otherEncodings = null)
    {
        if (levels.Count is 0 or > MaxLevels) throw new ArgumentException($"hierarchy '{name}' has {levels.Count} levels; 1 to {MaxLevels} are supported");
        if (levels.Any(l => l.Count == 0 || l.Count > MaxClasses)) throw new ArgumentException($"hierarchy '{name}': every level needs 1..{MaxClasses} classes");
        for (int l = 0; l < levels.Count; l++)
            foreach (var c in levels[l].Classes)
                if ((l == 0) != (c.Parents.Count == 0) || c.Parents.Any(p => l == 0 || (uint)p >= (uint)levels[l - 1].Count))
                    throw new ArgumentException($"hierarchy '{name}': class '{c.Name}' of level {l + 1} has bad parents");
        Name = name; Description = description; Levels = levels;
        var encodings = new Dictionary<string, LabelEncoding>(StringComparer.OrdinalIgnoreCase)
        {
            [DefaultEncoding] = (encoding ?? new LabelEncoding(levels.Count - 1,
                Enumerable.Range(0, levels[^1].Count).ToDictionary(i => (long)i, i => i), new HashSet<long> { NoClass })) with { Name = DefaultEncoding },
        };
        foreach (var e in otherEncodings ?? [])
            if (!encodings.TryAdd(e.Name, e)) throw new ArgumentException($"hierarchy '{name}': encoding '{e.Name}' given twice");
        foreach (var e in encodings.Values)
            if (e.Level < 0 || e.Level >= levels.Count || e.Values.Values.Any(c => (uint)c >= (uint)levels[e.Level].Count))
                throw new ArgumentException($"hierarchy '{name}': encoding '{e.Name}' maps values to classes outside level {e.Level + 1}");
        Encodings = encodings;
        Sources = sources ?? Array.Empty<SourceCorrespondence>();

        if (CountPaths(levels) is var count and > MaxPaths)
            throw new ArgumentException($"hierarchy '{name}' has {count:N0} root-to-leaf paths (classes with several parents multiply them); at most {MaxPaths} are supported");
        // every root-to-leaf path, leaf by leaf, following all parents
        var all = new List<int[]>();
        for (int leaf = 0; leaf < levels[^1].Count; leaf++)
        {
            var found = new List<int[]>();
            Walk(levels.Count - 1, leaf, new int[levels.Count], found);
            all.AddRange(found.OrderBy(p => string.Join(",", p)));
        }
        paths = all.ToArray();
        pathIndex = paths.Select((p, i) => (Key: PathKey(p), i)).ToDictionary(x => x.Key, x => x.i);

        ancestor = new int[levels.Count][][];
        for (int from = 0; from < levels.Count; from++)
        {
            ancestor[from] = new int[from + 1][];
            for (int to = 0; to <= from; to++)
            {
                var map = new int[levels[from].Count];
                for (int c = 0; c < map.Length; c++)
                {
                    var options = paths.Where(p => p[from] == c).Select(p => p[to]).Distinct().ToList();
                    map[c] = options.Count == 1 ? options[0] : -1;
                }
                ancestor[from][to] = map;
            }
        }

        void Walk(int level, int cls, int[] path, List<int[]> found)
        {
            path[level] = cls;
            if (level == 0) { found.Add((int[])path.Clone()); return; }
            foreach (var p in levels[level].Classes[cls].Parents) Walk(level - 1, p, path, found);
        }
    }

    /// <summary>Paths through every class, level by level, without listing them (several parents can multiply them past any bound).</summary>
    static long CountPaths(IReadOnlyList<HierarchyLevel> levels)
    {
        var through = Enumerable.Repeat(1L, levels[0].Count).ToArray();
        for (int l = 1; l < levels.Count; l++)
            through = levels[l].Classes.Select(c => Math.Min(c.Parents.Sum(p => through[p]), long.MaxValue / 256)).ToArray();
        return through.Sum();
    }

    public int Depth => Levels.Count;

    /// <summary>
    /// The tree's first <paramref name="depth"/> levels (the same name: its classes are the same), with the
    /// source correspondences that stay within them. The label files do not change with the tree, so an
    /// encoding of a dropped level maps each value up to its class's ancestor at the new finest level
    /// (GID-15 label files read as GID-5), and a value whose ancestor there depends on the branch becomes
    /// unlabelled.
    /// </summary>
    public ClassHierarchy Truncate(int depth)
    {
        if (depth < 1 || depth > Depth) throw new ArgumentException($"hierarchy '{Name}' has {Plural.Of(Depth, "level")}; cannot keep {depth}");
        if (depth == Depth) return this;
        var encodings = Encodings.Values.Select(e => e.Level < depth ? e : MappedUp(e, depth - 1)).ToList();
        return new ClassHierarchy(Name, $"{Description} (levels 1-{depth})", Levels.Take(depth).ToList(), encodings.FirstOrDefault(e => e.Name == DefaultEncoding),
            Sources.Where(s => s.Level < depth).ToList(), encodings.Where(e => e.Name != DefaultEncoding));
    }

    LabelEncoding MappedUp(LabelEncoding e, int level)
    {
        var up = AncestorMap(e.Level, level);
        var values = e.Values.Where(kv => up[kv.Value] >= 0).ToDictionary(kv => kv.Key, kv => up[kv.Value]);
        var unlabelled = e.Unlabelled.Concat(e.Values.Where(kv => up[kv.Value] < 0).Select(kv => kv.Key)).ToHashSet();
        return e with { Level = level, Values = values, Unlabelled = unlabelled };
    }
    public int[] ClassCounts => Levels.Select(l => l.Count).ToArray();

    /// <summary>Parent (in level - 1) of every class of <paramref name="level"/> (level >= 1); -1 where a class has several.</summary>
    public int[] ParentMap(int level) => (int[])ancestor[level][level - 1].Clone();

    /// <summary>
    /// Ancestor at level <paramref name="to"/> of every class of level <paramref name="from"/>
    /// (to &lt;= from); -1 where it depends on the branch.
    /// </summary>
    public int[] AncestorMap(int from, int to)
    {
        if (to > from) throw new ArgumentException($"ancestor level {to} is finer than level {from}");
        return (int[])ancestor[from][to].Clone();
    }

    /// <summary>Classes of level <paramref name="at"/> (finer or equal) on a path through class <paramref name="id"/> of <paramref name="level"/>.</summary>
    public int[] Descendants(int level, int id, int at)
    {
        if (at < level) throw new ArgumentException($"descendant level {at} is coarser than level {level}");
        return paths.Where(p => p[level] == id).Select(p => p[at]).Distinct().Order().ToArray();
    }

    /// <summary>The valid root-to-leaf paths: [paths, levels], ordered by leaf.</summary>
    public int[,] Paths
    {
        get
        {
            var r = new int[paths.Length, Depth];
            for (int i = 0; i < paths.Length; i++)
                for (int l = 0; l < Depth; l++) r[i, l] = paths[i][l];
            return r;
        }
    }

    public int PathCount => paths.Length;

    /// <summary>Index (in <see cref="Paths"/>) of the path formed by per-level labels, or -1 when they form none (or any is unlabelled).</summary>
    public int PathIndex(ReadOnlySpan<int> labels)
    {
        if (labels.Length != Depth) return -1;
        for (int l = 0; l < Depth; l++) if ((uint)labels[l] >= (uint)Levels[l].Count) return -1;
        return pathIndex.TryGetValue(PathKey(labels), out int i) ? i : -1;
    }

    /// <summary>
    /// Per level, the class on the first valid path through each finest class (255 for values that
    /// are no class): how a flat model's finest prediction is mapped upward. With one parent per
    /// class this is the ancestor map; a multi-parent leaf takes its first branch.
    /// </summary>
    public byte[][] UpwardMaps()
    {
        var maps = Enumerable.Range(0, Depth).Select(_ => Enumerable.Repeat(NoClass, 256).ToArray()).ToArray();
        for (int p = paths.Length - 1; p >= 0; p--) // the first path wins
            for (int l = 0; l < Depth; l++) maps[l][paths[p][Depth - 1]] = (byte)paths[p][l];
        return maps;
    }

    /// <summary>Whether per-level labels form a valid path.</summary>
    public bool IsValidPath(ReadOnlySpan<int> labels)
    {
        if (labels.Length != Depth) return false;
        for (int l = 0; l < Depth; l++) if ((uint)labels[l] >= (uint)Levels[l].Count) return false;
        return pathIndex.ContainsKey(PathKey(labels));
    }

    /// <summary>Labels as one number: each level a digit of base 256 (levels have at most 255 classes).</summary>
    static long PathKey(ReadOnlySpan<int> labels)
    {
        long key = 0;
        foreach (var v in labels) key = key * 256 + v;
        return key;
    }

    public int ClassId(int level, string name)
    {
        foreach (var c in Levels[level].Classes)
            if (string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase)) return c.Id;
        throw new KeyNotFoundException($"hierarchy '{Name}' has no class '{name}' at level {level + 1} ({Levels[level].Name})");
    }

    /// <summary>
    /// Fills the labels of every level from labels known at <paramref name="level"/> (NoClass where
    /// unlabelled): coarser levels through the ancestor maps (NoClass where the ancestor depends on the
    /// branch), finer levels NoClass (a partial label).
    /// </summary>
    public void DeriveLevels(ReadOnlySpan<byte> labels, int level, byte[][] perLevel)
    {
        if (perLevel.Length != Depth) throw new ArgumentException($"need {Plural.Of(Depth, "output level")}, got {perLevel.Length}");
        Span<byte> table = stackalloc byte[256];
        for (int l = 0; l < Depth; l++)
        {
            var dst = perLevel[l].AsSpan();
            if (dst.Length != labels.Length) throw new ArgumentException("every level needs as many pixels as the input");
            if (l > level) { dst.Fill(NoClass); continue; }
            table.Fill(NoClass);
            var map = ancestor[level][l];
            for (int c = 0; c < map.Length; c++) table[c] = map[c] < 0 ? NoClass : (byte)map[c];
            for (int i = 0; i < labels.Length; i++) dst[i] = table[labels[i]];
        }
    }

    /// <summary>The encoding of that name ("default" when null); an unknown name is an error listing the known ones.</summary>
    public LabelEncoding GetEncoding(string? name) =>
        Encodings.TryGetValue(name ?? DefaultEncoding, out var e) ? e
            : throw new KeyNotFoundException($"hierarchy '{Name}' has no label encoding '{name}' (it has: {string.Join(", ", Encodings.Keys)})");

    /// <summary>
    /// Stored label values to class ids of the encoding's level (NoClass for unlabelled values);
    /// a value the encoding does not know is an error naming it.
    /// </summary>
    public void Decode(ReadOnlySpan<long> stored, Span<byte> classes, string source = "labels", string? encoding = null)
    {
        var e = GetEncoding(encoding);
        for (int i = 0; i < stored.Length; i++)
        {
            long v = stored[i];
            if (e.Values.TryGetValue(v, out int c)) classes[i] = (byte)c;
            else if (e.Unlabelled.Contains(v)) classes[i] = NoClass;
            else throw new InvalidDataException($"{source}: value {v} at pixel {i} is not in the label encoding '{e.Name}' of hierarchy '{Name}'");
        }
    }

    /// <summary>Byte label values through a table from <see cref="LabelEncoding.ByteTable"/>; an unknown value is an error naming it and its pixel.</summary>
    public static void Decode(ReadOnlySpan<byte> stored, Span<byte> classes, ReadOnlySpan<short> table, string source, int width = 0)
    {
        for (int i = 0; i < stored.Length; i++)
        {
            short c = table[stored[i]];
            if (c < 0)
                throw new InvalidDataException(width > 0
                    ? $"{source}: label value {stored[i]} at row {i / width}, column {i % width} is not in the label encoding"
                    : $"{source}: label value {stored[i]} at pixel {i} is not in the label encoding");
            classes[i] = (byte)c;
        }
    }

    public override string ToString() => $"{Name} ({string.Join("/", ClassCounts)})";
}
