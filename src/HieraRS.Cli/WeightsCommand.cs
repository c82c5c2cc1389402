using System.CommandLine;
using HieraRS.Domain.Modeling;
using HieraRS.Geo;
using HieraRS.NN;
using HieraRS.NN.Import;
using HieraRS.Tensors;

namespace HieraRS.Cli;

/// <summary>`hierars weights convert`: weights users have (torch.save, safetensors, ONNX) to a safetensors file by HieraRS' names.</summary>
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
        var weights = new Command("weights", "pretrained weights");
        weights.Subcommands.Add(convert);
        return weights;
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
