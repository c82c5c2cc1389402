using HieraRS.Domain.Modeling;
using HieraRS.Domain.Config;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Training;
using HieraRS.Geo;
using HieraRS.NN;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

/// <summary>A folder or an oversized file named as input gets an error naming it, from every loader (issue 12, item 3).</summary>
public class InputFileTests
{
    public static TheoryData<string> Loaders => ["checkpoint", "safetensors", "config", "dataset", "hierarchy", "raster"];

    static void LoadAs(string kind, string path)
    {
        switch (kind)
        {
            case "checkpoint": Checkpoint.Load(path); break;
            case "safetensors": SafeTensors.Load(path); break;
            case "config": ExperimentConfig.Load(path); break;
            case "dataset": DatasetSpec.Load(path); break;
            case "hierarchy": HierarchyLoader.Resolve(path); break;
            default: Raster.Open(path).Dispose(); break;
        }
    }

    [Theory]
    [MemberData(nameof(Loaders))]
    public void AFolderIsNamedAsAFolder(string kind)
    {
        string dir = SharedData.TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => LoadAs(kind, dir));
        Assert.Equal($"{dir}: is a folder, not a {Kind(kind)}", e.Message);
    }

    static string Kind(string kind) => kind switch
    {
        "checkpoint" or "safetensors" => "safetensors file", "config" => "config file", "dataset" => "dataset file",
        "hierarchy" => "hierarchy file", _ => "raster file",
    };

    [Theory]
    [MemberData(nameof(Loaders))]
    public void AMissingFileIsNamed(string kind)
    {
        string path = Path.Combine(SharedData.TempDir(), "absent.yaml");
        var e = Assert.ThrowsAny<Exception>(() => LoadAs(kind, path));
        Assert.True(e is FileNotFoundException or HierarchyException, e.GetType().Name);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void AListFileThatIsAFolderIsNamed()
    {
        string dir = SharedData.TempDir();
        var spec = new SplitSpec(SplitMethod.Lists, 0, [], new Dictionary<string, string> { ["train"] = dir });
        var e = Assert.Throws<FileNotFoundException>(() => Datasets.SelectSplit([new TileItem("a", "a.tif", null, "default")], "train", spec));
        Assert.Equal($"{dir}: is a folder, not a list file", e.Message);
    }

    [Theory]
    [InlineData("config")]
    [InlineData("dataset")]
    [InlineData("hierarchy")]
    public void YamlFilesAboveTheBoundAreRefusedBeforeParsing(string kind)
    {
        string path = Path.Combine(SharedData.TempDir(), "big.yaml");
        File.WriteAllText(path, "name: big\n# " + new string('x', YamlReader.MaxFileBytes) + "\n");
        var e = Assert.Throws<InvalidDataException>(() => LoadAs(kind, path));
        Assert.StartsWith($"{path}: 1,048,589 bytes is too large for a {Kind(kind)} (at most 1,048,576)", e.Message);
    }
}
