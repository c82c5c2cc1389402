using System.CommandLine;
using HieraRS.Domain.Modeling;
using HieraRS.Geo;
using HieraRS.NN;
using HieraRS.NN.Import;
using HieraRS.Tensors;

namespace HieraRS.Cli;

/// <summary>
/// `hierars weights convert`: weights users have (torch.save, safetensors, ONNX) to a safetensors file by
/// HieraRS' names; `hierars weights show`: the tensors of such a file (or a checkpoint) with their statistics.
/// </summary>
static class WeightsCommand
{
    public static Command Build()
    {
        var input = new Option<string>("--input") { Description = "a torch.save checkpoint (.pt/.pth, zip or legacy), a .safetensors file, or an ONNX model", Required = true };
        var output = new Option<string>("--output") { Description = "the .safetensors file to write", Required = true };
        var prefix = new Option<string?>("--prefix") { Description = "keep only names under this prefix and strip it (MMSeg: backbone.)" };
        var map = new Option<string?>("--map") { Description = "renaming rules FROM=>TO;... (regular expressions, applied in order)" };
        var backbone = new Option<string?>("--backbone") { Description = $"ONNX input: the backbone its graph is ({string.Join(", ", ModelRegistry.Backbones.Keys)})" };
        var convert = new Command("convert", "read weights without running anything from the file, select and rename them, write safetensors; prints what it wrote");
        foreach (var o in new Option[] { input, output, prefix, map, backbone }) convert.Options.Add(o);
        convert.SetAction(pr => Guard.Run(() => Convert(pr.GetValue(input)!, pr.GetValue(output)!, pr.GetValue(prefix), pr.GetValue(map), pr.GetValue(backbone))));
        var showInput = new Option<string>("--input") { Description = "a checkpoint, .safetensors or torch.save file", Required = true };
        var match = new Option<string?>("--match") { Description = "only the tensors whose names match this regular expression" };
        var show = new Command("show", "list a file's tensors: type, shape and statistics (mean, std, min, max, mean |x|); reads without running anything from the file");
        foreach (var o in new Option[] { showInput, match }) show.Options.Add(o);
        show.SetAction(pr => Guard.Run(() => Show(pr.GetValue(showInput)!, pr.GetValue(match))));
        var weights = new Command("weights", "pretrained weights and checkpoints' tensors");
        weights.Subcommands.Add(convert);
        weights.Subcommands.Add(show);
        return weights;
    }

    static int Show(string input, string? match)
    {
        var filter = match is null ? null : new System.Text.RegularExpressions.Regex(match);
        var sd = WeightFile.ReadAll(input);
        var names = sd.Keys.Where(k => filter?.IsMatch(k) ?? true).ToList();
        if (names.Count == 0) throw new ArgumentException($"{input}: no tensor{(match is null ? "" : $" matches '{match}'")} (it holds {sd.Count})");
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{"tensor",-56} {"type",-5} {"shape",-18} {"mean",11} {"std",11} {"min",11} {"max",11} {"mean |x|",11}"));
        foreach (var name in names)
        {
            var s = TensorStats.Of(sd[name].Contiguous().Span);
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{name,-56} {sd.TypeOf(name),-5} {ShapeUtil.Format(sd[name].Shape),-18} {s.Mean,11:G4} {s.Std,11:G4} {s.Min,11:G4} {s.Max,11:G4} {s.MeanAbs,11:G4}"));
        }
        Console.WriteLine($"{names.Count} of {sd.Count} tensors, {names.Sum(n => (long)sd[n].Numel):N0} values");
        return 0;
    }

    static int Convert(string input, string output, string? prefix, string? map, string? backbone)
    {
        if (FileIdentity.Same(input, output))
            throw new ArgumentException($"--output {output} is the input file; choose another name (an output never replaces an input)");
        StateDict sd;
        if (input.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            if (backbone is null) throw new ArgumentException("an ONNX input needs --backbone: its initializers carry no names, so they are mapped onto that module tree");
            var build = ModelRegistry.Backbones.TryGetValue(backbone, out var b) ? b
                : throw new ArgumentException($"--backbone {backbone}: one of {string.Join(", ", ModelRegistry.Backbones.Keys)}");
            sd = OnnxWeights.Map(input, build(new ModelSpec { Backbone = backbone }, 3));
        }
        else sd = WeightFile.Read(input, new WeightSelection { Prefix = prefix, Rules = map is null ? [] : WeightSelection.ParseRules(map) });
        SafeTensors.Save(output, sd, new Dictionary<string, string> { ["source"] = Path.GetFullPath(input) });
        foreach (var (name, t) in sd) Console.WriteLine($"{name,-60} {sd.TypeOf(name),-5} {ShapeUtil.Format(t.Shape)}");
        Console.WriteLine($"wrote {sd.Count} tensor{(sd.Count == 1 ? "" : "s")}, {sd.Values.Sum(t => (long)t.Numel):N0} values, to {output}");
        return 0;
    }
}

/// <summary>Summary statistics of a tensor's values (population std), accumulated in double.</summary>
readonly record struct TensorStats(double Mean, double Std, double Min, double Max, double MeanAbs)
{
    public static TensorStats Of(ReadOnlySpan<float> v)
    {
        if (v.IsEmpty) return new(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        double sum = 0, abs = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (float x in v) { sum += x; abs += Math.Abs(x); min = Math.Min(min, x); max = Math.Max(max, x); }
        double mean = sum / v.Length, sq = 0;
        foreach (float x in v) sq += (x - mean) * (x - mean);
        return new(mean, Math.Sqrt(sq / v.Length), min, max, abs / v.Length);
    }
}
