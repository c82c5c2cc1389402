using System.Diagnostics;
using System.Text;
using CsCheck;
using HieraRS.Domain.Config;
using HieraRS.Domain.Data;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Training;
using HieraRS.NN;
using HieraRS.NN.Import;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Fuzz.Tests;

/// <summary>
/// Every parser of outside files, fed mutated valid files (issue 12, "also"): each either reads the
/// file or throws the project's own error naming it; never another exception, a hang or a huge
/// allocation. HIERARS_FUZZ_CASES sets the cases per parser (default 300, about 20 s for all);
/// a longer run: <c>HIERARS_FUZZ_CASES=100000 dotnet test tests/HieraRS.Fuzz.Tests -c Release</c>.
/// A failure prints the shrunk input and CsCheck's seed, which reruns it.
/// </summary>
public class ParserFuzzTests
{
    static readonly long Cases = long.TryParse(Environment.GetEnvironmentVariable("HIERARS_FUZZ_CASES"), out var n) ? n : 300;
    static readonly TimeSpan Hang = TimeSpan.FromSeconds(10);
    const long MaxAllocation = 256L << 20;

    static string FindUp()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "configs", "demo.yaml"))) return d.FullName;
        throw new DirectoryNotFoundException("configs/demo.yaml not found above " + AppContext.BaseDirectory);
    }

    static byte[][] Seeds(params string[] relative) => relative.Select(r => File.ReadAllBytes(Path.Combine(FindUp(), r))).ToArray();

    /// <summary>Mutates the seeds, writes each case to <paramref name="name"/> and loads it, expecting success or <typeparamref name="TError"/> naming the file.</summary>
    static void Fuzz<TError>(byte[][] seeds, string name, Action<string> load, Func<byte[], int>? region = null) where TError : Exception
    {
        string path = Path.Combine(SharedData.TempDir("hierars-fuzz-"), name);
        Gen.Select(Gen.Int[0, seeds.Length - 1], Mutation.Plans).Sample(c =>
        {
            var seed = seeds[c.Item1];
            File.WriteAllBytes(path, Mutation.Apply(seed, c.Item2, region?.Invoke(seed) ?? int.MaxValue));
            var run = Task.Run(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try { load(path); }
                catch (TError e) { Assert.Contains(name, e.Message); }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(allocated < MaxAllocation, $"{allocated:N0} bytes allocated");
            });
            if (!run.Wait(Hang)) throw new TimeoutException($"no answer within {Hang.TotalSeconds} s");
            run.GetAwaiter().GetResult();
        }, iter: Cases, threads: 1, print: c => Encoding.UTF8.GetString(Mutation.Apply(seeds[c.Item1], c.Item2, region?.Invoke(seeds[c.Item1]) ?? int.MaxValue)));
    }

    [Fact]
    public void HierarchyFiles() => Fuzz<HierarchyException>(
        [.. Seeds("src/HieraRS.Domain/Hierarchies/Builtin/crop10m.yaml", "src/HieraRS.Domain/Hierarchies/Builtin/gid-crop.yaml", "src/HieraRS.Domain/Hierarchies/Builtin/mm5b.yaml"),
            Encoding.UTF8.GetBytes("""
            {"name": "j", "levels": [{"name": "L1", "classes": [{"name": "a", "colour": "#ff0000"}, {"id": 1, "name": "b", "colour": [0, 0, 255]}]},
              {"classes": [{"name": "a1", "parent": ["a", "b"], "colour": [1, 2, 3]}, {"name": "b1", "parent": 1, "colour": [4, 5, 6]}]}],
             "encoding": {"level": 2, "values": {"1": "a1", "2": 1}, "unlabelled": [0]},
             "encodings": {"coarse": {"level": 1, "reduce_zero_label": true}},
             "sources": [{"hierarchy": "gid", "level": 1, "classes": {"a": ["water"], "b": "vegetation"}}]}
            """)],
        "tree.yaml", p => HierarchyLoader.LoadFile(p));

    [Fact]
    public void DatasetFiles() => Fuzz<ConfigException>(
        [.. Seeds("configs/data/gid-mtl15.yaml", "configs/data/gid-mtl15+5.yaml"),
            Encoding.UTF8.GetBytes("type: folder\nroot: .\nhierarchy: mm5b\nimages: img/{split}/*.tif\nlabels: ann/{split}/{stem}.png\nbands: [3, 2, 1]\n" +
                "normalize: {scale: 0.0001}\nnodata: 0\nlevels: 2\nsplits: {method: hash, seed: 3, train: 0.7, val: 0.3}\n")],
        "data.yaml", p => DatasetSpec.Load(p));

    [Fact]
    public void ExperimentConfigs() => Fuzz<ConfigException>(
        Seeds("configs/demo.yaml", "configs/gid/resnet18-uper-bhccm.yaml", "configs/transfer/gid-crop-translu.yaml", "configs/paper/mm5b-gf2-convnext-b-upernet-bhccm.yaml"),
        "experiment.yaml", p => ExperimentConfig.Load(p));

    [Fact]
    public void ListFiles()
    {
        var items = new[] { "lake/12", "lake/3", "farm/3", "city/a b" }.Select(id => new TileItem(id, id + ".tif", null, "default")).ToList();
        Fuzz<InvalidDataException>([Encoding.UTF8.GetBytes("# validation tiles\nlake/12\n\nfarm/3.tif\n  city/a b  \n3\n")], "val.txt", p =>
            Datasets.SelectSplit(items, "val", new SplitSpec(SplitMethod.Lists, 0, [], new Dictionary<string, string> { ["val"] = p })));
    }

    [Fact]
    public void SafetensorsHeaders()
    {
        string dir = SharedData.TempDir("hierars-fuzz-");
        var sd = new StateDict();
        sd.Add("backbone.conv1.weight", Tensor.FromArray([1f, 2, 3, 4, 5, 6], 2, 3));
        sd.Add("step", Tensor.Scalar(7f), DType.I64);
        sd.Add("mask", Tensor.FromArray([0f, 1], 2), DType.U8);
        sd.Add("half", Tensor.FromArray([0.5f, 1, 2], 3), DType.BF16);
        SafeTensors.Save(Path.Combine(dir, "seed.safetensors"), sd, new Dictionary<string, string> { ["format"] = "x", ["model"] = "{\"a\": 1}" });
        var seed = File.ReadAllBytes(Path.Combine(dir, "seed.safetensors"));
        // the 8-byte length and the JSON header: the data after it is any bytes by design
        Fuzz<InvalidDataException>([seed], "model.safetensors", p => SafeTensors.Load(p), s => 8 + (int)BitConverter.ToUInt64(s, 0));
    }

    [Fact]
    public void TorchCheckpoints() => Fuzz<InvalidDataException>(
        Seeds("tests/fixtures/import/mmseg_nested_legacy.pt", "tests/fixtures/import/small_zip.pt", "tests/fixtures/import/evil_os_system.pt"),
        "weights.pt", p => WeightFile.ReadAll(p));

    [Fact]
    public void OnnxModels() => Fuzz<InvalidDataException>(
        Seeds("tests/fixtures/import/tiny_conv_bn_fc.onnx"), "model.onnx", p =>
        {
            var m = OnnxWeights.ReadModel(p);
            OnnxWeights.Initializers(m, p);
        });
}
