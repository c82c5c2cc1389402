using System.CommandLine;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Metrics;
using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Cli;

/// <summary><c>hierars score</c>: per-level metrics of prediction rasters from any tool against truth rasters.</summary>
static class ScoreCommand
{
    public static Command Build()
    {
        var hierarchy = new Option<string>("--hierarchy") { Description = "class tree (built-in name or file)", Required = true };
        var pred = new Option<string>("--pred") { Description = "prediction raster, or folder of them (one band per level, or the finest level only)", Required = true };
        var truth = new Option<string>("--truth") { Description = "truth label raster, or folder (matched to predictions by relative path)", Required = true };
        var encoding = new Option<string?>("--truth-encoding") { Description = "label encoding of the truth files (default: the hierarchy's)" };
        var json = new Option<string?>("--json") { Description = "write the metrics JSON here" };
        var report = new Option<string?>("--report") { Description = "folder for metrics.json/.md/.csv and confusion-matrix PNGs" };
        var ignoreGeoref = new Option<bool>("--ignore-georef") { Description = "score a prediction whose geotransform or CRS differs from its truth's (refused otherwise)" };
        var cmd = new Command("score", "score prediction rasters against truth: per-level IoU, precision, recall, F1, OA, kappa, consistency");
        foreach (var o in new Option[] { hierarchy, pred, truth, encoding, json, report, ignoreGeoref }) cmd.Options.Add(o);
        cmd.SetAction(pr => Guard.Run(() =>
        {
            var tree = HierarchyLoader.Resolve(pr.GetValue(hierarchy)!);
            ConsoleProgress? bar = null;
            var r = RasterScoring.Score(tree, pr.GetValue(pred)!, pr.GetValue(truth)!, pr.GetValue(encoding), (done, total) =>
                (bar ??= new ConsoleProgress("score", Math.Max(1, total / 1000), "kpx")).Report(done / 1000), pr.GetValue(ignoreGeoref));
            Console.WriteLine($"{tree.Name}: {Plural.Of(r.Pairs.Count, "file pair")}");
            Console.Write(MetricsReport.ToConsole(r.Metrics));
            for (int l = 0; l < tree.Depth; l++)
                if (r.Unpredicted[l] > 0)
                    Console.WriteLine($"note: {Plural.Of(r.Unpredicted[l], "labelled pixel", grouped: true)} of level {l + 1} had no prediction (255 or nodata) and were left out");
            if (pr.GetValue(json) is { } j)
            {
                AtomicFile.WriteAllText(j, r.Metrics.ToJson());
                Console.WriteLine($"wrote {j}");
            }
            if (pr.GetValue(report) is { } dir)
                Console.WriteLine($"wrote {string.Join(", ", MetricsReport.Save(r.Metrics, dir).Select(Path.GetFileName))} to {dir}");
            return 0;
        }));
        return cmd;
    }
}
