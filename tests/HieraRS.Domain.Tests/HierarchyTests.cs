using HieraRS.Domain.Hierarchies;

namespace HieraRS.Domain.Tests;

/// <summary>Class trees against the tables of ../shared/docs/method.md 1.1, and the validation rules.</summary>
public class HierarchyTests
{
    [Theory]
    [InlineData("mm5b", new[] { 4, 9, 18 })]
    [InlineData("crop10m", new[] { 2, 2, 4 })]
    [InlineData("gid", new[] { 3, 5, 15 })]
    [InlineData("gid-crop", new[] { 2, 2, 4 })]
    [InlineData("whdld", new[] { 6 })]
    public void BuiltinsHaveTheDocumentedLevels(string name, int[] counts) =>
        Assert.Equal(counts, HierarchyLoader.Builtin(name).ClassCounts);

    [Fact]
    public void Mm5bParentMapsMatchTheMethod()
    {
        var h = HierarchyLoader.Builtin("mm5b");
        Assert.Equal(new[] { 0, 0, 1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 6, 7, 7, 7, 7, 8 }, h.ParentMap(2));
        Assert.Equal(new[] { 0, 0, 0, 1, 2, 2, 2, 2, 3 }, h.ParentMap(1));
        Assert.Equal(new[] { 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3 }, h.AncestorMap(2, 0));
        Assert.Equal(18, h.PathCount);
        Assert.Equal(new[] { 13, 14, 15, 16 }, h.Descendants(1, 7, 2)); // transportation
        Assert.Equal((byte)200, h.Levels[2].Classes[17].R); // bare land [200, 100, 50]
    }

    [Fact]
    public void GidParentMapsMatchTheReadme()
    {
        var h = HierarchyLoader.Builtin("gid");
        Assert.Equal(new[] { 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4 }, h.ParentMap(2));
        Assert.Equal(new[] { 0, 1, 1, 1, 2 }, h.ParentMap(1));
    }

    [Fact]
    public void ATruncatedTreeReadsTheSameLabelFilesMappedUp()
    {
        // GID-MTL15 label files (GID-15 values) through gid cut to L1 3 -> L2 5: each value becomes its GID-5 class
        var gid5 = HierarchyLoader.Builtin("gid").Truncate(2);
        Assert.Equal([3, 5], gid5.ClassCounts);
        var e = gid5.Encoding;
        Assert.Equal(1, e.Level);
        var table = e.ByteTable();
        Assert.Equal([0, 1, 2, 3, 4], new[] { 0, 4, 8, 10, 12 }.Select(v => (int)table[v])); // industrial, paddy, arbor, natural grassland, river
        Assert.Equal(ClassHierarchy.NoClass, table[15]);
        Assert.Equal(-1, table[16]);
        Assert.Equal(Enumerable.Range(0, 5), gid5.Encodings["gid5"].Values.Values.Order()); // GID-5 files are at L2 already
    }

    [Fact]
    public void Crop10mHasTheFiveDocumentedPaths()
    {
        var h = HierarchyLoader.Builtin("crop10m");
        var p = h.Paths;
        var rows = Enumerable.Range(0, h.PathCount).Select(i => (p[i, 0], p[i, 1], p[i, 2])).ToHashSet();
        Assert.Equal(new HashSet<(int, int, int)> { (0, 0, 0), (1, 1, 0), (1, 1, 1), (1, 1, 2), (1, 1, 3) }, rows);
        Assert.True(h.IsValidPath([1, 1, 0]));
        Assert.False(h.IsValidPath([1, 0, 0]));
        Assert.False(h.IsValidPath([0, 1, 1]));
        Assert.Equal(-1, h.AncestorMap(2, 1)[0]); // 'other' hangs under both branches
    }

    [Fact]
    public void LabelsOfEveryLevelFromTheFinest()
    {
        var h = HierarchyLoader.Builtin("mm5b");
        byte[] fine = [0, 5, 17, 255, 13];
        var levels = new[] { new byte[5], new byte[5], new byte[5] };
        h.DeriveLevels(fine, 2, levels);
        Assert.Equal(new byte[] { 0, 1, 3, 255, 2 }, levels[0]);
        Assert.Equal(new byte[] { 0, 3, 8, 255, 7 }, levels[1]);
        Assert.Equal(fine, levels[2]);
    }

    [Fact]
    public void PartialLabelsIgnoreFinerLevels()
    {
        var h = HierarchyLoader.Builtin("gid");
        byte[] l2 = [0, 1, 4, 255];
        var levels = new[] { new byte[4], new byte[4], new byte[4] };
        h.DeriveLevels(l2, 1, levels);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, levels[0]);
        Assert.Equal(l2, levels[1]);
        Assert.All(levels[2], v => Assert.Equal(ClassHierarchy.NoClass, v));
    }

    [Fact]
    public void EncodingsDecodeStoredValues()
    {
        var mm = HierarchyLoader.Builtin("mm5b");
        var cls = new byte[3];
        mm.Decode([0, 1, 18], cls);
        Assert.Equal(new byte[] { 255, 0, 17 }, cls); // reduce_zero_label
        var crop = HierarchyLoader.Builtin("gid-crop");
        crop.Decode([4, 6, 12, 15], cls = new byte[4]);
        Assert.Equal(new byte[] { 1, 3, 0, 255 }, cls);
        var e = Assert.Throws<InvalidDataException>(() => mm.Decode([19], new byte[1], "tile.tif"));
        Assert.Contains("tile.tif: value 19", e.Message);
    }

    [Fact]
    public void Fbp24TableMatchesMethod()
    {
        // method.md 1.1: FBP id -> MM-5B file value (1..18, class = value - 1; 0 = unlabelled)
        int[] fileValue = [0, 9, 1, 2, 2, 3, 3, 3, 13, 4, 5, 6, 10, 7, 8, 8, 0, 18, 11, 12, 13, 14, 15, 16, 17];
        var mm = HierarchyLoader.Builtin("mm5b");
        var t = mm.GetEncoding("fbp24").ByteTable();
        for (int fbp = 0; fbp < fileValue.Length; fbp++)
            Assert.Equal(fileValue[fbp] == 0 ? ClassHierarchy.NoClass : fileValue[fbp] - 1, t[fbp]);
        Assert.Equal(-1, t[25]);
        Assert.Equal(2, mm.GetEncoding("fbp24").Level);
        var e = Assert.Throws<InvalidDataException>(() => ClassHierarchy.Decode([2, 25], new byte[2], t, "fbp.tif", width: 2));
        Assert.Contains("fbp.tif: label value 25 at row 0, column 1", e.Message);
        Assert.Throws<KeyNotFoundException>(() => mm.GetEncoding("nope"));
    }

    [Fact]
    public void GidHasFineAndCoarseEncodings()
    {
        var gid = HierarchyLoader.Builtin("gid");
        Assert.Equal(2, gid.Encoding.Level);
        var g5 = gid.GetEncoding("gid5");
        Assert.Equal(1, g5.Level);
        Assert.Equal(new short[] { 0, 1, 2, 3, 4, 255, -1 }, g5.ByteTable()[..7]);
    }

    [Fact]
    public void JsonFilesLoadLikeYaml()
    {
        var h = HierarchyLoader.Parse("""
            {"name": "tiny", "levels": [
              {"name": "coarse", "classes": [{"name": "a", "colour": "#ff0000"}]},
              {"name": "fine", "classes": [{"name": "a1", "parent": "a", "colour": [1, 2, 3]}, {"name": "a2", "parent": 0, "colour": [4, 5, 6]}]}]}
            """, "tiny.json");
        Assert.Equal(new[] { 1, 2 }, h.ClassCounts);
        Assert.Equal((byte)255, h.Levels[0].Classes[0].R);
        Assert.Equal(new[] { 0, 0 }, h.ParentMap(1));
    }

    const string Good = """
        name: t
        levels:
          - name: coarse
            classes:
              - {name: a, colour: [1, 2, 3]}
              - {name: b, colour: [1, 2, 3]}
          - name: fine
            classes:
              - {name: a1, parent: a, colour: [1, 2, 3]}
              - {name: b1, parent: b, colour: [1, 2, 3]}
        """;

    [Theory]
    [InlineData("parent: a, colour", "parent: z, colour", 9, "unknown parent 'z'")]
    [InlineData("{name: b1, parent: b, colour: [1, 2, 3]}", "{name: b1, colour: [1, 2, 3]}", 10, "needs a parent")]
    [InlineData("{name: b, colour", "{name: a, colour", 6, "duplicate class name 'a'")]
    [InlineData("{name: a1, parent: a, colour: [1, 2, 3]}", "{name: a1, parent: a, colour: [1, 2, 300]}", 9, "bad colour")]
    [InlineData("{name: a, colour: [1, 2, 3]}", "{name: a, parent: x, colour: [1, 2, 3]}", 5, "first level cannot have a parent")]
    [InlineData("name: t", "name: t\nextra: 1", 2, "unknown key 'extra'")]
    public void ValidationErrorsNameFileLineAndClass(string find, string replace, int line, string message)
    {
        string text = Good.Replace(find, replace);
        Assert.NotEqual(Good, text);
        var e = Assert.Throws<HierarchyException>(() => HierarchyLoader.Parse(text, "tree.yaml"));
        Assert.Contains(message, e.Message);
        Assert.StartsWith($"tree.yaml:{line}:", e.Message);
    }

    [Fact]
    public void ValueMappedTwiceIsAnError()
    {
        var e = Assert.Throws<HierarchyException>(() => HierarchyLoader.Parse(Good + "\nencoding:\n  values: {1: a1, 1: b1}\n", "tree.yaml"));
        Assert.Contains("tree.yaml:12:", e.Message);
        var e2 = Assert.Throws<HierarchyException>(() => HierarchyLoader.Parse(Good + "\nencoding:\n  values: {1: a1}\n  unlabelled: [1]\n", "tree.yaml"));
        Assert.Contains("both a class and unlabelled", e2.Message);
    }

    [Fact]
    public void EmptyLevelIsAnError()
    {
        var e = Assert.Throws<HierarchyException>(() => HierarchyLoader.Parse("name: t\nlevels:\n  - name: c\n    classes: []\n", "tree.yaml"));
        Assert.StartsWith("tree.yaml:4:", e.Message);
        Assert.Contains("level 'c' has no classes", e.Message);
    }

    [Fact]
    public void DuplicateIdsAreErrors()
    {
        var text = Good.Replace("{name: a, colour", "{id: 0, name: a, colour").Replace("{name: b, colour", "{id: 0, name: b, colour");
        var e = Assert.Throws<HierarchyException>(() => HierarchyLoader.Parse(text, "tree.yaml"));
        Assert.Contains("duplicate class id 0", e.Message);
    }
    /// <summary>A tree text: level sizes, each class under every class of the level above when <paramref name="allParents"/>.</summary>
    static string Tree(int[] counts, bool allParents = false)
    {
        var t = new System.Text.StringBuilder("name: t\nlevels:\n");
        for (int l = 0; l < counts.Length; l++)
        {
            t.Append($"  - name: L{l + 1}\n    classes:\n");
            for (int c = 0; c < counts[l]; c++)
            {
                string parent = l == 0 ? "" : allParents ? $"parent: [{string.Join(", ", Enumerable.Range(0, counts[l - 1]))}], " : "parent: 0, ";
                t.Append($"      - {{name: c{c}, {parent}colour: [1, 2, 3]}}\n");
            }
        }
        return t.ToString();
    }

    [Fact]
    public void ALevelOf256ClassesNamesTheLineOfThe256th() // issue 12, item 2: was an unhandled exception
    {
        var e = Assert.Throws<HierarchyException>(() => HierarchyLoader.Parse(Tree([2, 256]), "tree.yaml"));
        // lines: 1 name, 2 levels, 3-4 L1 header, 5-6 its classes, 7-8 L2 header, 9 its class 0: class 255 is on line 264
        Assert.Equal("tree.yaml:264: level 'L2' has 256 classes; at most 255 (class ids are bytes and 255 means no label)", e.Message);
        Assert.Equal([2, 255], HierarchyLoader.Parse(Tree([2, 255]), "tree.yaml").ClassCounts);
    }

    [Fact]
    public void MoreThanSevenLevelsIsAFileLineError()
    {
        var e = Assert.Throws<HierarchyException>(() => HierarchyLoader.Parse(Tree([1, 1, 1, 1, 1, 1, 1, 1]), "tree.yaml"));
        Assert.Equal("tree.yaml:24: 8 levels; at most 7 are supported", e.Message);
    }

    [Fact]
    public void PathsMultipliedBySeveralParentsAreBounded()
    {
        // every class under every class above: 4^7 = 16384 paths, counted without listing them
        var e = Assert.Throws<HierarchyException>(() => HierarchyLoader.Parse(Tree([4, 4, 4, 4, 4, 4, 4], allParents: true), "tree.yaml"));
        Assert.Equal("tree.yaml:1: hierarchy 't' has 16,384 root-to-leaf paths (classes with several parents multiply them); at most 4096 are supported", e.Message);
        Assert.Equal(1024, HierarchyLoader.Parse(Tree([4, 4, 4, 4, 4], allParents: true), "tree.yaml").PathCount);
    }
}
