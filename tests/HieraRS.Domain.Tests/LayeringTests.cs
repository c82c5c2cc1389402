using System.Text.RegularExpressions;

namespace HieraRS.Domain.Tests;

/// <summary>The Domain's namespaces form layers (docs/architecture.md): each uses only those listed before it.</summary>
public partial class LayeringTests
{
    static readonly string[] Layers =
        ["Config", "Hierarchies", "Visual", "Data", "Models", "Decoding", "Losses", "Metrics", "Modeling", "Export", "Training", "Inference"];

    [GeneratedRegex(@"\bHieraRS\.Domain\.(\w+)")]
    private static partial Regex DomainReference();

    [Fact]
    public void EveryNamespaceUsesOnlyTheLayersBelowIt()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "HieraRS.slnx"))) root = Path.GetDirectoryName(root) ?? throw new DirectoryNotFoundException("HieraRS.slnx not found above the tests");
        var files = Directory.GetFiles(Path.Combine(root, "src", "HieraRS.Domain"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")).ToList();
        Assert.True(files.Count > 40, $"{files.Count} source files");
        var wrong = new List<string>();
        foreach (var f in files)
        {
            var text = File.ReadAllText(f);
            string ns = Regex.Match(text, @"^namespace HieraRS\.Domain\.(\w+)[\w.]*;", RegexOptions.Multiline).Groups[1].Value; // Data.Check is in Data
            int own = Array.IndexOf(Layers, ns);
            if (own < 0) { wrong.Add($"{Path.GetFileName(f)}: namespace '{ns}' is in no layer"); continue; }
            foreach (var used in DomainReference().Matches(text).Select(m => m.Groups[1].Value).Distinct())
                if (used != ns && (Array.IndexOf(Layers, used) is var at && (at < 0 || at > own)))
                    wrong.Add($"{Path.GetFileName(f)} ({ns}) uses {used}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }
}
