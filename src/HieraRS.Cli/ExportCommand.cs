using System.CommandLine;
using HieraRS.Domain.Export;

namespace HieraRS.Cli;

/// <summary>`hierars export`: a checkpoint as an ONNX model for ONNX Runtime and QGIS Deepness.</summary>
static class ExportCommand
{
    public static Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a HieraRS checkpoint (.safetensors)", Required = true };
        var output = new Option<string>("--output") { Description = "the .onnx file to write", Required = true };
        var opset = new Option<int>("--opset") { Description = $"ONNX opset: {OnnxExporter.Opset} (ONNX Runtime 1.13 and later) or {OnnxExporter.MinOpset} (1.12 and later)", DefaultValueFactory = _ => OnnxExporter.Opset };
        var window = new Option<int>("--window") { Description = "the fixed tile size the model takes (Deepness' tiles_size)", DefaultValueFactory = _ => 512 };
        var outputs = new Option<string>("--outputs") { Description = "probabilities (per level, what Deepness shows) | labels (joint path selection in the graph) | both", DefaultValueFactory = _ => "probabilities" };
        outputs.AcceptOnlyFromAmong("probabilities", "labels", "both");
        var dynamic = new Option<bool>("--dynamic-size") { Description = "declare the input's height and width dynamic (FCN, DeepLabV3+; not UPerNet; Deepness needs a fixed size)" };
        var overlap = new Option<int>("--tiles-overlap") { Description = "Deepness' tile overlap, percent", DefaultValueFactory = _ => 15 };
        var resolution = new Option<double?>("--resolution") { Description = "ground resolution in cm per pixel, for Deepness (left out when not given)" };
        var cmd = new Command("export", "write a checkpoint as an ONNX model (per-level probabilities and/or labels, metadata for QGIS Deepness)");
        foreach (var o in new Option[] { checkpoint, output, opset, window, outputs, dynamic, overlap, resolution }) cmd.Options.Add(o);
        cmd.SetAction(pr => Guard.Run(() =>
        {
            var options = new OnnxExportOptions
            {
                Opset = pr.GetValue(opset), Window = pr.GetValue(window), TilesOverlap = pr.GetValue(overlap), Resolution = pr.GetValue(resolution), DynamicSize = pr.GetValue(dynamic),
                Outputs = Enum.Parse<OnnxOutputs>(pr.GetValue(outputs)!, ignoreCase: true),
            };
            var path = pr.GetValue(output)!;
            var model = OnnxExporter.Export(pr.GetValue(checkpoint)!, path, options);
            var g = model.Graph;
            Console.WriteLine($"wrote {path}: {g.Node.Count} nodes, {g.Initializer.Count} initializers, {new FileInfo(path).Length / 1e6:F1} MB, IR {model.IrVersion}, opset {model.OpsetImport[0].Version}");
            foreach (var (kind, v) in g.Input.Select(v => ("input ", v)).Concat(g.Output.Select(v => ("output", v))))
                Console.WriteLine($"{kind} {v.Name} [{string.Join(", ", v.Type.TensorType.Shape.Dim.Select(d => d.DimParam.Length > 0 ? d.DimParam : d.DimValue.ToString()))}]");
            return 0;
        }));
        return cmd;
    }
}
