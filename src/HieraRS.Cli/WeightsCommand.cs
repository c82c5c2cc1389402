using System.CommandLine;
using HieraRS.Domain.Models;
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
        var backbone = new Option<string?>("--backbone") { Description = "ONNX input: the backbone its graph is (resnet18|34|50|101[_v1c])" };
        var blocks = new Option<string?>("--blocks") { Description = "ONNX input: blocks per stage when they differ from the depth's (2,2,2,3)" };
        var convert = new Command("convert", "read weights without running anything from the file, select and rename them, write safetensors; prints what it wrote");
        foreach (var o in new Option[] { input, output, prefix, map, backbone, blocks }) convert.Options.Add(o);
        convert.SetAction(pr => Guard.Run(() => Convert(pr.GetValue(input)!, pr.GetValue(output)!, pr.GetValue(prefix), pr.GetValue(map), pr.GetValue(backbone), pr.GetValue(blocks))));
        var weights = new Command("weights", "pretrained weights");
        weights.Subcommands.Add(convert);
        return weights;
    }

    static int Convert(string input, string output, string? prefix, string? map, string? backbone, string? blocks)
    {
        if (File.Exists(output) && Path.GetFullPath(output) == Path.GetFullPath(input) || SameFile(input, output))
            throw new ArgumentException($"--output {output} is the input file; choose another name (an output never replaces an input)");
        StateDict sd;
        if (input.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            if (backbone is null) throw new ArgumentException("an ONNX input needs --backbone: its initializers carry no names, so they are mapped onto that module tree");
            sd = OnnxWeights.Map(input, ResNetFor(backbone, blocks));
        }
        else sd = WeightFile.Read(input, new WeightSelection { Prefix = prefix, Rules = map is null ? [] : WeightSelection.ParseRules(map) });
        SafeTensors.Save(output, sd, new Dictionary<string, string> { ["source"] = Path.GetFullPath(input) });
        foreach (var (name, t) in sd) Console.WriteLine($"{name,-60} {sd.TypeOf(name),-5} {ShapeUtil.Format(t.Shape)}");
        Console.WriteLine($"wrote {sd.Count} tensor{(sd.Count == 1 ? "" : "s")}, {sd.Values.Sum(t => (long)t.Numel):N0} values, to {output}");
        return 0;
    }

    static bool SameFile(string a, string b)
    {
        if (!File.Exists(a) || !File.Exists(b)) return false;
        var ra = new FileInfo(a).ResolveLinkTarget(true)?.FullName ?? Path.GetFullPath(a);
        var rb = new FileInfo(b).ResolveLinkTarget(true)?.FullName ?? Path.GetFullPath(b);
        return ra == rb;
    }

    static ResNet ResNetFor(string name, string? blocks)
    {
        bool v1c = name.EndsWith("_v1c", StringComparison.Ordinal);
        string depth = name.Replace("resnet", "").Replace("_v1c", "");
        if (!int.TryParse(depth, out int d)) throw new ArgumentException($"--backbone {name}: resnet18|34|50|101, optionally _v1c");
        int[]? sb = blocks?.Split(',').Select(s => int.TryParse(s, out int v) ? v : throw new ArgumentException($"--blocks {blocks}: four counts, e.g. 2,2,2,3")).ToArray();
        return new ResNet(d, 3, deepStem: v1c, stageBlocks: sb);
    }
}
