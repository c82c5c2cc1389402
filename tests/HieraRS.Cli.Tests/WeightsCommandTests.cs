using HieraRS.NN;
using HieraRS.Testing;

namespace HieraRS.Cli.Tests;

/// <summary>`hierars weights convert` on files PyTorch wrote (tests/fixtures/import).</summary>
public class WeightsCommandTests
{
    static string Fixture(string name)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "tests", "fixtures", "import", name))) return Path.Combine(d.FullName, "tests", "fixtures", "import", name);
        throw new FileNotFoundException(name);
    }

    [Fact]
    public void ConvertsAnMmsegCheckpointAndNeverWritesOverItsInput()
    {
        string dir = SharedData.TempDir();
        string output = Path.Combine(dir, "head.safetensors");
        var r = CliRun.Of("weights", "convert", "--input", Fixture("mmseg_nested_legacy.pt"), "--output", output, "--prefix", "decode_head.");
        Assert.Equal(0, r.Code);
        Assert.Contains("wrote 4 tensors", r.Out);
        Assert.Equal(["conv_seg.weight", "conv_seg.bias", "view", "slice"], SafeTensors.Load(output).Tensors.Keys);
        string link = Path.Combine(dir, "link.safetensors");
        File.CreateSymbolicLink(link, output);
        var again = CliRun.Of("weights", "convert", "--input", output, "--output", link);
        Assert.Equal(1, again.Code);
        Assert.Contains("is the input file", again.Err);
        var evil = CliRun.Of("weights", "convert", "--input", Fixture("evil_os_system.pt"), "--output", Path.Combine(dir, "e.safetensors"));
        Assert.Equal(1, evil.Code);
        Assert.Contains("'posix.system'", evil.Err);
        Assert.False(File.Exists(Path.Combine(dir, "e.safetensors")));
    }

    [Fact]
    public void ShowsEachTensorWithItsStatistics()
    {
        string file = Path.Combine(SharedData.TempDir(), "w.safetensors");
        var sd = new StateDict();
        sd.Add("gate.gamma", HieraRS.Tensors.Tensor.FromArray([-1f, 3f], 2)); // mean 1, std 2, mean |x| 2
        sd.Add("conv.weight", HieraRS.Tensors.Tensor.Ones(2, 1, 1, 1));
        SafeTensors.Save(file, sd, new Dictionary<string, string>());
        var r = CliRun.Of("weights", "show", "--input", file, "--match", "gamma$");
        Assert.Equal(0, r.Code);
        var line = r.Out.Split('\n').Single(l => l.StartsWith("gate.gamma"));
        Assert.Equal(["gate.gamma", "F32", "[2]", "1", "2", "-1", "3", "2"], line.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("conv.weight", r.Out);
        Assert.Contains("1 of 2 tensors, 2 values", r.Out);
        var none = CliRun.Of("weights", "show", "--input", file, "--match", "^nothing");
        Assert.Equal(1, none.Code);
        Assert.Contains("no tensor matches '^nothing' (it holds 2)", none.Err);
    }
}
