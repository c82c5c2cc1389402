using HieraRS.Domain.Modeling;
using HieraRS.Domain.Training;
using HieraRS.NN;
using HieraRS.Tensors;

// Writes tests/fixtures/checkpoints: small checkpoints in the format of the code that runs this tool, and
// the logits that code gives on a fixed input, so later code can prove it still loads them unchanged:
//   dotnet run -c Release --project tools/CheckpointFixtures -- tests/fixtures/checkpoints
// A BHCCM model (ConvNeXt-atto + UPerNet, 8 channels, mm5b) and a TransLU model transferred from it to
// crop10m, each trained for one iteration on synthetic scenes. To keep the files small, weights of 1024
// elements or more keep every 8th value, rounded to bfloat16 and stored as BF16 (the loader reads BF16);
// the metadata, names and smaller tensors are exactly as the trainer wrote them. The two checkpoints are
// then committed gzipped (`gzip -9 -n bhccm.safetensors translu.safetensors`; 21 MB -> 3.1 MB).
if (args.Length != 1) { Console.Error.WriteLine("usage: CheckpointFixtures OUT_DIR"); return 2; }
string outDir = Path.GetFullPath(args[0]), work = Path.Combine(Path.GetTempPath(), $"hierars-ckfix-{Environment.ProcessId}");
Directory.CreateDirectory(outDir);
Engine.Threads = 1;

string source = Train("bhccm", """
    name: fixture-bhccm
    seed: 1
    data:
      train: {type: synthetic, hierarchy: mm5b, count: 2, size: 32, seed: 1}
      val: {type: synthetic, hierarchy: mm5b, count: 1, size: 32, seed: 2, split: val}
      batch_size: 2
    model: {backbone: convnext_atto, head: uper, channels: 8, pool_scales: [1, 2], mode: bidirectional_residual, dropout: 0.1, auxiliary: {channels: 8, weight: 0.4}}
    optimizer: {type: adamw, lr: 0.001, weight_decay: 0.01}
    train: {iterations: 1}
    """);
Train("translu", $"""
    name: fixture-translu
    seed: 2
    data:
      train: {"{"}type: synthetic, hierarchy: crop10m, count: 2, size: 32, seed: 5{"}"}
      val: {"{"}type: synthetic, hierarchy: crop10m, count: 1, size: 32, seed: 6, split: val{"}"}
      batch_size: 2
    model: {"{"}mode: bidirectional_residual, dropout: 0{"}"}
    optimizer: {"{"}type: adamw, lr: 0.001, weight_decay: 0.01{"}"}
    train: {"{"}iterations: 1{"}"}
    transfer:
      source: {Path.Combine(work, "bhccm", "latest.safetensors")}
      injector: {"{"}heads: 4, points: 2{"}"}
    """);
Directory.Delete(work, recursive: true);
return 0;

string Train(string name, string config)
{
    var dir = Path.Combine(work, name);
    var result = new Trainer(ExperimentConfig.Parse(config, $"{name}.yaml", dir), dir).Run();
    var written = SafeTensors.Load(result.Best!);
    var small = new StateDict();
    foreach (var k in written.Tensors.Keys)
    {
        var t = written.Tensors[k];
        if (written.Tensors.TypeOf(k) != DType.F32 || t.Numel < 1024) { small.Add(k, t, written.Tensors.TypeOf(k)); continue; }
        var v = t.ToArray();
        for (int i = 0; i < v.Length; i++) v[i] = i % 8 == 0 ? BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(v[i]) & 0xFFFF0000) : 0;
        small.Add(k, Tensor.FromArray(v, t.Shape.ToArray()), DType.BF16);
    }
    string path = Path.Combine(outDir, $"{name}.safetensors");
    SafeTensors.Save(path, small, written.Metadata);
    var model = Checkpoint.Load(path).Model;
    var x = Tensor.Randn([1, 4, 32, 32], new Generator(11));
    var logits = new StateDict();
    logits.Add("x", x);
    using (GradMode.NoGrad())
    {
        var y = model.Predict(x);
        for (int l = 0; l < y.Length; l++) logits.Add($"y{l}", y[l]);
    }
    SafeTensors.Save(Path.Combine(outDir, $"{name}_logits.safetensors"), logits, new Dictionary<string, string> { ["checkpoint"] = $"{name}.safetensors" });
    Console.WriteLine($"{path}: {written.Metadata["model"]}");
    return path;
}
