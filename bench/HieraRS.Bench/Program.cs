using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using HieraRS.Domain.Data;
using HieraRS.Domain.Export;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Models;
using HieraRS.Domain.Modeling;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using Tensor = HieraRS.Tensors.Tensor;
using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Bench;

/// <summary>
/// Benchmarks each case in its own process (so peak RSS is per case), ours and PyTorch 1.13's
/// (tools/bench_torch.py) side by side, and prints a table; --json writes the results.
///   dotnet run -c Release --project bench -- [CASE ...] [--json FILE] [--threads N] [--no-torch]
/// </summary>
public static class Program
{
    static readonly string[] AllCases = ["sgemm", "conv3x3", "dwconv7", "batchnorm", "bilinear", "resnet18-fpn-train-step", "demo-window", "demo-window-onnx"];
    /// <summary>Cases without a PyTorch twin in tools/bench_torch.py: our engine against ONNX Runtime on the same network.</summary>
    static readonly string[] OursOnly = ["demo-window", "demo-window-onnx", "frozen-conv", "upsample", "conv-forward"];

    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        var cases = new List<string>();
        string? json = null;
        int threads = 2;
        bool torch = true;
        string? child = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = args[++i]; break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--no-torch": torch = false; break;
                case "--child": child = args[++i]; break;
                case "--help" or "-h":
                    Console.WriteLine($"usage: bench [CASE ...] [--json FILE] [--threads N] [--no-torch]\ncases: {string.Join(", ", AllCases)}");
                    return 0;
                default:
                    if (!AllCases.Contains(args[i])) { Console.Error.WriteLine($"unknown case '{args[i]}'; cases: {string.Join(", ", AllCases)}"); return 2; }
                    cases.Add(args[i]); break;
            }
        }
        Engine.Threads = threads;
        if (child is not null) return RunChild(child);
        if (cases.Count == 0) cases.AddRange(AllCases);
        string? python = torch ? FindTorch() : null;
        if (torch && python is null) Console.Error.WriteLine("note: PyTorch not found (apt-get install python3-torch python3-torchvision); timing ours only");

        var results = new List<Dictionary<string, object?>>();
        Console.WriteLine($"{"case",-26} {"ours s/it",10} {"torch s/it",10} {"ratio",7} {"ours MB",8} {"torch MB",9}  note");
        foreach (var c in cases)
        {
            var ours = RunProcess(SelfCommand(), [.. SelfArgs(), "--child", c, "--threads", threads.ToString(CultureInfo.InvariantCulture)]);
            JsonElement? theirs = python is null || OursOnly.Contains(c) ? null : RunProcess(python, [ToolPath("bench_torch.py"), c, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--iters", Iters(c).ToString(CultureInfo.InvariantCulture)]);
            double os = ours.GetProperty("seconds").GetDouble(), om = ours.GetProperty("peak_rss_mb").GetDouble();
            double? ts = theirs?.GetProperty("seconds").GetDouble(), tm = theirs?.GetProperty("peak_rss_mb").GetDouble();
            string note = c == "sgemm" ? $"{2.0 * 2048 * 2048 * 2048 / os / 1e9:F0} GFLOP/s ours" + (ts is null ? "" : $", {2.0 * 2048 * 2048 * 2048 / ts.Value / 1e9:F0} torch") : "";
            Console.WriteLine($"{c,-26} {os,10:F4} {Fmt(ts),10} {(ts is null ? "-" : (os / ts.Value).ToString("F2")),7} {om,8:F0} {Fmt(tm, "F0"),9}  {note}");
            results.Add(new()
            {
                ["case"] = c, ["ours_s"] = os, ["torch_s"] = ts, ["ratio"] = ts is null ? null : os / ts.Value,
                ["ours_peak_rss_mb"] = om, ["torch_peak_rss_mb"] = tm,
            });
        }
        if (json is not null)
        {
            File.WriteAllText(json, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {json}");
        }
        return 0;
    }

    static string Fmt(double? v, string f = "F4") => v is null ? "-" : v.Value.ToString(f, CultureInfo.InvariantCulture);

    static int Iters(string c) => c is "sgemm" or "resnet18-fpn-train-step" ? 10 : 7;

    static string SelfCommand() => Environment.ProcessPath!;
    static string[] SelfArgs() =>
        Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet" ? [typeof(Program).Assembly.Location] : [];

    static string ToolPath(string file)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "tools", file);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"tools/{file} not found above {AppContext.BaseDirectory}");
    }

    static string? FindTorch()
    {
        foreach (var py in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo(py, ["-c", "import torch, torchvision"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
                p.WaitForExit();
                if (p.ExitCode == 0) return py;
            }
            catch (System.ComponentModel.Win32Exception) { }
        }
        return null;
    }

    static JsonElement RunProcess(string exe, string[] args)
    {
        var psi = new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.StartsWith('{'));
        if (p.ExitCode != 0 || line is null)
            throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed (exit {p.ExitCode}):\n{stdout}\n{stderr.Result}");
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    /// <summary>Times one case in this process and prints {"seconds", "peak_rss_mb"}.</summary>
    static int RunChild(string name)
    {
        var step = MakeCase(name);
        int warmup = 3, iters = Iters(name);
        for (int i = 0; i < warmup; i++) step();
        Profiler.Reset(); // the profile is of the timed iterations, JIT warm-up left out
        var times = new List<double>();
        for (int i = 0; i < iters; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            step();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        if (Profiler.Enabled) Console.Error.WriteLine(Profiler.Report()); // HIERARS_PROFILE=1: where the time went, per op
        Console.WriteLine(JsonSerializer.Serialize(new { @case = name, seconds = times[times.Count / 2], peak_rss_mb = MemoryPressure.PeakResidentMegabytes() }));
        return 0;
    }

    static Action MakeCase(string name)
    {
        var g = new Generator(0);
        Tensor R(params int[] s) => Tensor.Randn(s, g);
        switch (name)
        {
            case "sgemm":
            {
                var a = R(2048, 2048); var b = R(2048, 2048);
                return () => a.MatMul(b);
            }
            case "conv3x3" or "dwconv7" or "batchnorm" or "bilinear":
            {
                Func<Tensor> f;
                Tensor[] inputs;
                if (name == "conv3x3")
                {
                    var x = R(8, 64, 112, 112); var w = R(64, 64, 3, 3);
                    inputs = [x, w];
                    f = () => F.Conv2d(x, w, null, padding: 1);
                }
                else if (name == "dwconv7")
                {
                    var x = R(8, 96, 56, 56); var w = R(96, 1, 7, 7); var b = R(96);
                    inputs = [x, w, b];
                    f = () => F.Conv2d(x, w, b, padding: 3, groups: 96);
                }
                else if (name == "batchnorm")
                {
                    var x = R(8, 64, 112, 112); var w = R(64); var b = R(64);
                    var rm = Tensor.Zeros(64); var rv = Tensor.Ones(64);
                    inputs = [x, w, b];
                    f = () => F.BatchNorm(x, rm, rv, w, b, training: true);
                }
                else
                {
                    var x = R(8, 64, 56, 56);
                    inputs = [x];
                    f = () => F.Interpolate(x, 224, 224);
                }
                foreach (var t in inputs) t.RequiresGrad = true;
                Tensor gy;
                using (GradMode.NoGrad()) gy = Tensor.Randn(f().Shape.ToArray(), g);
                return () =>
                {
                    foreach (var t in inputs) t.Grad = null;
                    f().Backward(gy);
                };
            }
            case "resnet18-fpn-train-step":
            {
                Engine.ManualSeed(0);
                var model = new ResNetFpn(ResNet.ResNet18(), 128, 15);
                model.Train();
                var opt = new AdamW(model.Parameters(), lr: 1e-4, weightDecay: 0.05);
                var x = R(8, 3, 224, 224);
                var t = new IntTensor(8, 224, 224);
                for (int i = 0; i < t.Numel; i++) t.Data[i] = g.NextInt(15);
                return () =>
                {
                    opt.ZeroGrad();
                    var loss = F.CrossEntropy(model.Forward(x), t, ignoreIndex: 255);
                    loss.Backward();
                    opt.Step();
                };
            }
            case "allreduce-resnet18-uper" or "allreduce-convnext-b-uper":
            {
                // only under mpirun (`mpirun -np 2 dotnet HieraRS.Bench.dll --child allreduce-...`): one gradient average of the network's size
                var spec = name.Contains("resnet18") ? new ModelSpec { Backbone = "resnet18", Channels = 512 }
                    : new ModelSpec { Backbone = "convnext_base", Channels = 512, AuxChannels = 256 };
                var parameters = spec.Build(HierarchyLoader.Builtin("mm5b"), 4).TrainableParameters().Select(p => p.Parameter).ToList();
                var comm = HieraRS.NN.Distributed.Communicator.World;
                Console.Error.WriteLine($"rank {comm.Rank} of {comm.Size}: {parameters.Sum(p => (long)p.Numel):N0} parameters");
                var averager = new HieraRS.NN.Distributed.GradientAverager(comm, parameters);
                foreach (var p in parameters) p.Grad = Tensor.Ones(p.Shape.ToArray()); // averaged, they stay ones
                return averager.Average;
            }
            case "frozen-conv":
            {
                // one inference convolution as scene prediction runs it (FROZEN="C O H [kernel stride]", default 64 64 128 3 1)
                var d = (Environment.GetEnvironmentVariable("FROZEN") ?? "64 64 128").Split(' ').Select(int.Parse).Concat([3, 1]).ToArray();
                var conv = new FrozenConv2d(R(d[1], d[0], d[3], d[3]), null, (d[4], d[4]), (d[3] / 2, d[3] / 2), (1, 1), 1);
                var x = R(1, d[0], d[2], d[2]);
                return Environment.GetEnvironmentVariable("RECYCLE") == "1" ? () => Tensor.Recycle(conv.Forward(x, relu: true).AsArray()) : () => conv.Forward(x, relu: true);
            }
            case "conv-forward":
            {
                // one plain convolution, forward only (CONV="N C O H kernel", default 1 2 1 128 7: BHCCM's spatial gate)
                var d = (Environment.GetEnvironmentVariable("CONV") ?? "1 2 1 128 7").Split(' ').Select(int.Parse).ToArray();
                var x = R(d[0], d[1], d[3], d[3]); var w = R(d[2], d[1], d[4], d[4]);
                return () => { using var _ = GradMode.NoGrad(); F.Conv2d(x, w, null, padding: d[4] / 2); };
            }
            case "upsample":
            {
                // the scene predictor's last step, forward only (UPSAMPLE="N C H factor", default 2 31 128 4: a batch of two demo windows' scores)
                var d = (Environment.GetEnvironmentVariable("UPSAMPLE") ?? "2 31 128 4").Split(' ').Select(int.Parse).ToArray();
                var x = R(d[0], d[1], d[2], d[2]);
                return () => { using var _ = GradMode.NoGrad(); Tensor.Recycle(F.Interpolate(x, d[2] * d[3], d[2] * d[3]).AsArray()); };
            }
            case "demo-window" or "demo-window-onnx":
            {
                // the demo's network (ResNet-18 + UPerNet 64, BHCCM bidirectional + residual, MM-5B 4 / 9 / 18, 4 bands), one 512² window
                Engine.ManualSeed(0);
                var tree = HierarchyLoader.Builtin("mm5b");
                var backbone = new ResNet(18, 4);
                var model = new Segmentor(backbone, new UPerHead(backbone.OutChannels, 64, tree.ClassCounts));
                model.Inference(); // as predict holds it: batch norms folded, weights transformed once
                var x = R(1, 4, 512, 512);
                if (name == "demo-window") return () => { using var _ = GradMode.NoGrad(); model.Predict(x); };
                var ck = new Checkpoint { Model = model, Spec = new ModelSpec(), Hierarchy = tree, Normalization = Normalization.Identity(4) };
                var bytes = OnnxExporter.Build(ck, new CheckpointIdentity("bench", ""), new OnnxExportOptions()).ToByteArray();
                var session = new InferenceSession(bytes, new SessionOptions { IntraOpNumThreads = Engine.Threads, InterOpNumThreads = 1 });
                var input = new[] { NamedOnnxValue.CreateFromTensor(OnnxExporter.InputName, new DenseTensor(x.ToArray(), new[] { 1, 4, 512, 512 })) };
                return () => session.Run(input).Dispose();
            }
            default: throw new ArgumentException(name);
        }
    }
}
