using HieraRS.NN;
using HieraRS.NN.Import;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.NN.Tests;

/// <summary>torch.save files written by Debian's PyTorch 1.13 (tools/make_golden_import.py) against the same tensors as safetensors.</summary>
public class WeightImportTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "import", name);

    static void AssertSame(StateDict expected, StateDict actual)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var k in expected.Keys)
        {
            Assert.Equal(expected[k].Shape.ToArray(), actual[k].Shape.ToArray());
            Assert.Equal(expected[k].ToArray(), actual[k].ToArray()); // exact: the same bits
        }
    }

    [Fact]
    public void ATorchvisionStateDictInTheZipFormatLoadsToExactlyTheTensorsPyTorchHolds()
    {
        var sd = WeightFile.Read(Fixture("torchvision_resnet18_stem.pt"));
        AssertSame(SafeTensors.Load(Fixture("torchvision_resnet18_stem.safetensors")).Tensors, sd);
        Assert.Equal(DType.I64, sd.TypeOf("bn1.num_batches_tracked"));
    }

    [Fact]
    public void AnMmsegCheckpointInTheLegacyFormatUnwrapsWithHalfBfloatAndViews()
    {
        var all = WeightFile.ReadAll(Fixture("mmseg_nested_legacy.pt"));
        AssertSame(SafeTensors.Load(Fixture("mmseg_nested_legacy.safetensors")).Tensors, all); // meta holds no tensors
        Assert.Equal(DType.F16, all.TypeOf("state_dict.module.decode_head.conv_seg.weight"));
        Assert.Equal(DType.BF16, all.TypeOf("state_dict.module.decode_head.conv_seg.bias"));
        var backbone = WeightFile.Read(Fixture("mmseg_nested_legacy.pt"), new WeightSelection { Prefix = "backbone." });
        Assert.Equal(["conv1.weight", "bn1.num_batches_tracked"], backbone.Keys);
        var mapped = WeightFile.Read(Fixture("mmseg_nested_legacy.pt"), new WeightSelection { Rules = WeightSelection.ParseRules(@"^decode_head\.=>head.") });
        Assert.Contains("head.conv_seg.weight", mapped.Keys);
        Assert.Contains("backbone.conv1.weight", mapped.Keys);
    }

    [Theory]
    [InlineData("evil_os_system.pt", "posix.system")]
    [InlineData("evil_eval.pkl", "posix.system")]
    public void APickleNamingAnyOtherGlobalIsRefusedAndRunsNothing(string file, string global)
    {
        string marker = "/tmp/hierars-pwned";
        File.Delete(marker);
        var e = Assert.Throws<InvalidDataException>(() => WeightFile.ReadAll(Fixture(file)));
        Assert.Contains(global, e.Message);
        Assert.Contains(file, e.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void TruncatedAndCorruptedFilesGiveErrorsNamingTheFile()
    {
        string dir = SharedData.TempDir("hierars-import-");
        foreach (var name in new[] { "torchvision_resnet18_stem.pt", "mmseg_nested_legacy.pt" })
        {
            var bytes = File.ReadAllBytes(Fixture(name));
            foreach (int keep in new[] { 5, bytes.Length / 3, bytes.Length / 2, bytes.Length - 9 })
            {
                string p = Path.Combine(dir, $"cut{keep}-{name}");
                File.WriteAllBytes(p, bytes[..keep]);
                var e = Assert.Throws<InvalidDataException>(() => WeightFile.ReadAll(p));
                Assert.Contains(p, e.Message);
            }
            var rng = new Random(3);
            for (int trial = 0; trial < 40; trial++)
            {
                var b = (byte[])bytes.Clone();
                for (int j = 0; j < 4; j++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                string p = Path.Combine(dir, $"flip{trial}-{name}");
                File.WriteAllBytes(p, b);
                try { WeightFile.ReadAll(p); } // a flip inside tensor data still loads: that is fine
                catch (InvalidDataException e) { Assert.Contains(p, e.Message); }
            }
        }
        Assert.Contains("is a folder", Assert.Throws<FileNotFoundException>(() => WeightFile.ReadAll(dir)).Message);
    }

    [Fact]
    public void RgbWeightsMeetFourBandsByTheStatedRule()
    {
        // hand-computed: one output filter, 1x1, RGB weights (1, 2, 6); bands R G B NIR -> (1, 2, 6, mean 3) * 3/4
        var w = Tensor.FromArray([1f, 2f, 6f], 1, 3, 1, 1);
        Assert.Equal([0.75f, 1.5f, 4.5f, 2.25f], BandAdaptation.Default(4, 3).Apply(w).ToArray());
        // BGR weights onto R G B data: band 0 (red) takes channel 2, no rescale when the count is kept
        Assert.Equal([6f, 2f, 1f], new BandAdaptation([2, 1, 0]).Apply(w).ToArray());
    }

    [Fact]
    public void LoadingReportsWhatMatchedAndAdaptsTheFirstConvolution()
    {
        var model = new Sequential(new Conv2d(4, 2, 1, bias: false), new BatchNorm2d(2));
        var sd = new StateDict();
        sd.Add("0.weight", Tensor.FromArray([1f, 2f, 6f, 1f, 1f, 1f], 2, 3, 1, 1));
        sd.Add("1.weight", Tensor.FromArray([5f, 7f], 2));
        sd.Add("1.bias", Tensor.FromArray([1f, 2f, 3f], 3));
        sd.Add("fc.weight", Tensor.Zeros(3, 3));
        var r = PretrainedLoading.LoadInto(model, sd, "w.pt", bands: BandAdaptation.Default);
        Assert.Equal(["0.weight", "1.weight"], r.Loaded);
        Assert.Single(r.Adapted);
        Assert.Equal(2, r.Skipped.Count);
        Assert.Contains("1.bias", r.Missing);
        Assert.Equal([0.75f, 1.5f, 4.5f, 2.25f, 0.75f, 0.75f, 0.75f, 0.75f], model.StateDict()["0.weight"].ToArray());
        var none = new StateDict(); none.Add("x", Tensor.Zeros(1));
        Assert.Contains("none of its 1 tensors", Assert.Throws<InvalidDataException>(() => PretrainedLoading.LoadInto(model, none, "w.pt")).Message);
    }
}
