using System.CommandLine;
using System.Globalization;
using HieraRS.Domain.Inference;
using HieraRS.Domain.Modeling;
using HieraRS.Geo;

namespace HieraRS.Cli;

/// <summary><c>hierars predict</c>: georeferenced per-level class maps of whole scenes.</summary>
static class PredictCommand
{
    static readonly string[] RasterExtensions = [".tif", ".tiff", ".img", ".vrt", ".jp2", ".png", ".jpg"];

    public static Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a HieraRS checkpoint", Required = true };
        var input = new Option<string>("--input") { Description = "a raster GDAL reads, a folder of them, or a text file listing them", Required = true };
        var output = new Option<string>("--output") { Description = "output GeoTIFF (or folder when the input is several scenes)", Required = true };
        var window = new Option<int>("--window") { Description = "window size in pixels (a multiple of 32)", DefaultValueFactory = _ => 512 };
        var overlap = new Option<string>("--overlap") { Description = "pixels shared by neighbouring windows, or a fraction of the window (0.25)", DefaultValueFactory = _ => "64" };
        var batch = new Option<int>("--batch") { Description = "windows per forward pass", DefaultValueFactory = _ => 1 };
        var blend = new Option<string>("--blend") { Description = "cosine | linear | none", DefaultValueFactory = _ => "cosine" };
        var tta = new Option<string>("--tta") { Description = "none | flip | d4", DefaultValueFactory = _ => "none" };
        var levels = new Option<string>("--levels") { Description = "all, or 1-based levels such as 1,3", DefaultValueFactory = _ => "all" };
        var confidence = new Option<bool>("--confidence") { Description = "add a confidence band per level (0-254 = 0-1)" };
        var probabilities = new Option<string?>("--probabilities") { Description = "also write per-class probabilities of every level to this GeoTIFF (0-254 = 0-1)" };
        var accumulators = new Option<int>("--accumulator-mb") { Description = "memory for blending logits; wider scenes are cut into column strips that fit", DefaultValueFactory = _ => 192 };
        var cog = new Option<bool>("--cog") { Description = "write a cloud-optimised GeoTIFF" };
        var restart = new Option<bool>("--restart") { Description = "ignore the partial output of an interrupted run instead of continuing it" };
        var cmd = new Command("predict", "per-level class maps of whole scenes: sliding windows blended before joint path selection, streamed in bounded memory; an interrupted run continues where it stopped");
        foreach (var o in new Option[] { checkpoint, input, output, window, overlap, batch, blend, tta, levels, confidence, probabilities, accumulators, cog, restart }) cmd.Options.Add(o);
        cmd.SetAction(pr => Guard.Run(() =>
        {
            var ck = Checkpoint.Load(pr.GetValue(checkpoint)!);
            int win = pr.GetValue(window);
            string ov = pr.GetValue(overlap)!;
            int overlapPx = ov.Contains('.') ? (int)Math.Round(double.Parse(ov, CultureInfo.InvariantCulture) * win) : int.Parse(ov, CultureInfo.InvariantCulture);
            var opts = new PredictOptions
            {
                Window = win, Overlap = overlapPx, Batch = Math.Max(1, pr.GetValue(batch)),
                Blend = pr.GetValue(blend) switch { "linear" => BlendMode.Linear, "none" => BlendMode.None, "cosine" => BlendMode.Cosine,
                    var b => throw new ArgumentException($"--blend {b}: cosine, linear or none") },
                Tta = pr.GetValue(tta)!, Confidence = pr.GetValue(confidence), Probabilities = pr.GetValue(probabilities),
                AccumulatorBudget = Math.Max(1, pr.GetValue(accumulators)) * (1L << 20), Cog = pr.GetValue(cog), Resume = !pr.GetValue(restart),
                Levels = pr.GetValue(levels) is "all" ? null : pr.GetValue(levels)!.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture) - 1).ToArray(),
            };
            var scenes = Inputs(pr.GetValue(input)!);
            string outArg = pr.GetValue(output)!;
            bool many = scenes.Count > 1 || Directory.Exists(pr.GetValue(input)!);
            if (many && opts.Probabilities is not null) throw new ArgumentException("--probabilities names one file: predict one scene at a time with it");
            var predictor = new ScenePredictor(ck, opts);
            foreach (var scene in scenes)
            {
                string outPath = many ? Path.Combine(outArg, Path.GetFileNameWithoutExtension(scene) + ".tif") : outArg;
                ConsoleProgress? bar = null;
                long pixels = 0;
                using (var probe = Raster.Open(scene)) pixels = (long)probe.Width * probe.Height;
                // windows done, shown as the scene's pixels covered so far (Mpx/s and ETA)
                var r = predictor.Predict(scene, outPath, (d, t) => (bar ??= new ConsoleProgress(Path.GetFileName(scene), pixels, "Mpx", 1e6)).Report(pixels * d / t));
                string resumed = r.ResumedRows > 0 ? $"; continued an interrupted run after {r.ResumedRows} rows of windows" : "";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{outPath}: {r.Width} x {r.Height}, {r.Windows} windows ({r.SkippedWindows} all-nodata skipped), {r.Seconds:F1} s, {r.Width * (double)r.Height / 1e6 / r.Seconds:F2} Mpx/s{resumed}"));
                Console.WriteLine($"coloured levels (open in a GIS): {ScenePredictor.ColourVrtPath(outPath)}" + (opts.Probabilities is { } pf ? $"; probabilities: {pf}" : ""));
                if ((long)r.Width * r.Height <= 64L << 20)
                {
                    using var map = Raster.Open(outPath);
                    var lv = opts.Levels ?? Enumerable.Range(0, ck.Tree.Depth).ToArray();
                    var data = lv.Select((_, k) => { var d = new byte[r.Width * r.Height]; map.Read(0, 0, r.Width, r.Height, [k + 1], d); return d; }).ToArray();
                    var full = Enumerable.Range(0, ck.Tree.Depth).Select(l => Array.IndexOf(lv, l) is var k && k >= 0 ? data[k] : new byte[r.Width * r.Height]).ToArray();
                    var pngs = ClassMaps.WriteQuickLooks(Path.GetDirectoryName(Path.GetFullPath(outPath))!, Path.GetFileNameWithoutExtension(outPath), ck.Tree, full, r.Width, r.Height,
                        Path.GetFileNameWithoutExtension(outPath)).Where((_, l) => lv.Contains(l));
                    Console.WriteLine($"quick-looks: {string.Join(", ", pngs.Select(Path.GetFileName))}");
                }
            }
            return 0;
        }));
        return cmd;
    }

    static List<string> Inputs(string input)
    {
        if (Directory.Exists(input))
            return Directory.EnumerateFiles(input).Where(f => RasterExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToList();
        if (input.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) && File.Exists(input))
            return File.ReadLines(input).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
                .Select(l => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(input))!, l))).ToList();
        return [input];
    }
}
