using System.CommandLine;
using System.Globalization;
using HieraRS.Domain.Config;
using HieraRS.Domain.Data;
using HieraRS.Domain.Data.Check;
using HieraRS.Domain.Training;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Visual;
using HieraRS.Geo;
using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.Cli;

/// <summary><c>hierars synth</c> (synthetic georeferenced scenes) and <c>hierars stats</c> (per-band statistics).</summary>
static class DataCommands
{
    public static Command Synth()
    {
        var hierarchy = new Option<string>("--hierarchy") { Description = "class tree (built-in name or file)", DefaultValueFactory = _ => "mm5b" };
        var outDir = new Option<string>("--out") { Description = "output folder (image/, label/, quicklook/, dataset.yaml)", Required = true };
        var count = new Option<int>("--count") { Description = "number of scenes", DefaultValueFactory = _ => 4 };
        var size = new Option<int>("--size") { Description = "scene width and height in pixels", DefaultValueFactory = _ => 1024 };
        var bands = new Option<int>("--bands") { Description = "bands (4: GaoFen-2-like blue, green, red, NIR)", DefaultValueFactory = _ => 4 };
        var seed = new Option<ulong>("--seed") { Description = "scene seed", DefaultValueFactory = _ => 0UL };
        var collar = new Option<double>("--nodata-collar") { Description = "nodata border around a tilted footprint, fraction of the size", DefaultValueFactory = _ => 0.0 };
        var cmd = new Command("synth", "write synthetic georeferenced scenes with labels for a class tree, as a ready 'folder' dataset");
        foreach (var o in new Option[] { hierarchy, outDir, count, size, bands, seed, collar }) cmd.Options.Add(o);
        cmd.SetAction(pr => Guard.Run(() =>
        {
            var tree = HierarchyLoader.Resolve(pr.GetValue(hierarchy)!);
            string dir = Path.GetFullPath(pr.GetValue(outDir)!);
            int n = pr.GetValue(count), s = pr.GetValue(size);
            var opts = new SyntheticSceneOptions { Size = s, Bands = pr.GetValue(bands), NoDataCollar = pr.GetValue(collar) };
            var data = new SyntheticDataset(tree, opts, n, pr.GetValue(seed));
            var progress = new ConsoleProgress("synth", (long)n * s * s / 1000, "kpx");
            long done = 0;
            for (int i = 0; i < n; i++)
            {
                var scene = data.Scene(i);
                string name = $"scene_{i:D3}";
                scene.Write(Path.Combine(dir, "image", name + ".tif"), Path.Combine(dir, "label", name + ".tif"), null,
                    px => progress.Report((done += px) / 1000));
                if (s <= 4096)
                {
                    var sample = scene.Render(name);
                    QuickLook.Composite(sample.Image, sample.Bands, s, s, sample.Valid, $"{name} (bands 3,2,1)")
                        .SavePng(Path.Combine(dir, "quicklook", name + ".png"));
                    for (int l = 0; l < tree.Depth; l++)
                        QuickLook.ClassMap(sample.Labels[l], s, s, tree.Levels[l], $"{name} {tree.Levels[l].Name}")
                            .SavePng(Path.Combine(dir, "quicklook", $"{name}_{tree.Levels[l].Name}.png"));
                }
            }
            var norm = data.Normalization;
            string hierarchyRef = HierarchyLoader.BuiltinNames.Contains(pr.GetValue(hierarchy)!) ? tree.Name : Path.GetFullPath(pr.GetValue(hierarchy)!);
            File.WriteAllText(Path.Combine(dir, "dataset.yaml"), string.Create(CultureInfo.InvariantCulture, $"""
                # written by `hierars synth`: {Plural.Of(n, "scene")} of {s} x {s}, {Plural.Of(opts.Bands, "band")}, seed {pr.GetValue(seed)}
                type: folder
                root: .
                hierarchy: {hierarchyRef}
                images: image/*.tif
                labels: label/{"{stem}"}.tif
                splits: {"{"}method: hash, seed: 0, train: 0.75, val: 0.25{"}"}
                normalize:
                  mean: [{string.Join(", ", norm.Mean)}]
                  std: [{string.Join(", ", norm.Std)}]

                """));
            Console.WriteLine($"wrote {Plural.Of(n, "scene")} to {dir} (image/, label/, quicklook/, dataset.yaml)");
            return 0;
        }));
        return cmd;
    }

    public static Command CheckData()
    {
        var data = new Option<string?>("--data") { Description = "dataset YAML (a data section: type, root, ...)" };
        var config = new Option<string?>("--config") { Description = "experiment YAML: checks its training and validation data" };
        var split = new Option<string?>("--split") { Description = "with --data: the split to check (default: the file's, 'all' for every tile)" };
        var cmd = new Command("check-data", "check every tile before training: files readable, bands present, labels the size of their image " +
            "and inside the tree's encoding; every problem at once; scans are cached, so a rerun on unchanged files is quick");
        foreach (var o in new Option[] { data, config, split }) cmd.Options.Add(o);
        cmd.SetAction(pr => Guard.Run(() =>
        {
            var specs = (pr.GetValue(data), pr.GetValue(config)) switch
            {
                ({ } d, null) => [DatasetSpec.Load(d) is var s ? (s, pr.GetValue(split) ?? s.Split) : default],
                (null, { } c) => ExperimentConfig.Load(c) is var cfg
                    ? new[] { cfg.Train, cfg.Val }.OfType<DatasetSpec>().Select(s => (s, s.Split)).ToArray() : [],
                _ => throw new ArgumentException("give either --data FILE or --config FILE"),
            };
            var datasets = specs.Select(s => Datasets.Open(s.Item1, s.Item2)).ToList();
            var results = DataCheck.Require(datasets, progress: d =>
            {
                var bar = new ConsoleProgress($"check {d.Name}", d.Count, "tiles");
                return (done, _) => { lock (bar) bar.Report(done); };
            });
            foreach (var r in results)
                Console.WriteLine($"ok: {r.Dataset}: {Plural.Of(r.Tiles, "tile")}, {Plural.Of(r.Files, "file")} ({r.Cached} from the cache)");
            return 0;
        }));
        return cmd;
    }

    public static Command Stats()
    {
        var data = new Option<string>("--data") { Description = "dataset YAML (a data section: type, root, ...)", Required = true };
        var split = new Option<string?>("--split") { Description = "split to measure (default: the file's, 'all' for every tile)" };
        var outFile = new Option<string?>("--out") { Description = "write the normalisation as YAML to this file" };
        var cmd = new Command("stats", "per-band mean and std over valid pixels, and class pixel shares per level, in bounded memory");
        foreach (var o in new Option[] { data, split, outFile }) cmd.Options.Add(o);
        cmd.SetAction(pr => Guard.Run(() =>
        {
            var spec = DatasetSpec.Load(pr.GetValue(data)!);
            var ds = Datasets.Open(spec, pr.GetValue(split));
            var total = new BandStatistics(ds.Bands, ds.Hierarchy.ClassCounts);
            var progress = new ConsoleProgress("stats", ds.Count, "tiles");
            int done = 0;
            var gate = new object();
            Parallel.For(0, ds.Count, new ParallelOptions { MaxDegreeOfParallelism = Engine.Threads },
                () => new BandStatistics(ds.Bands, ds.Hierarchy.ClassCounts),
                (i, _, local) =>
                {
                    local.Add(ds.Load(i));
                    lock (gate) progress.Report(++done);
                    return local;
                },
                local => { lock (gate) total.Add(local); });
            Console.WriteLine($"{ds.Name}: {Plural.Of(ds.Count, "tile")}, {Plural.Of(total.Pixels, "valid pixel", grouped: true)}");
            var (mean, std) = (total.Mean, total.Std);
            for (int b = 0; b < ds.Bands; b++) Console.WriteLine($"band {b + 1}: mean {mean[b]:G6}  std {std[b]:G6}");
            for (int l = 0; l < ds.Hierarchy.Depth; l++)
            {
                var counts = total.ClassPixels[l];
                long sum = counts.Sum();
                Console.WriteLine($"{ds.Hierarchy.Levels[l].Name}: {Plural.Of(sum, "labelled pixel", grouped: true)}; " + (sum == 0 ? "no labels at this level" :
                    string.Join(", ", counts.Select((c, k) => $"{ds.Hierarchy.Levels[l].Classes[k].Name} {100.0 * c / sum:F1}%"))));
            }
            string yaml = string.Create(CultureInfo.InvariantCulture,
                $"normalize:\n  mean: [{string.Join(", ", mean.Select(v => v.ToString("G7", CultureInfo.InvariantCulture)))}]\n" +
                $"  std: [{string.Join(", ", std.Select(v => v.ToString("G7", CultureInfo.InvariantCulture)))}]\n");
            if (pr.GetValue(outFile) is { } f)
            {
                AtomicFile.WriteAllText(f, $"# hierars stats --data {pr.GetValue(data)} ({ds.Name}, {Plural.Of(ds.Count, "tile")}, {Plural.Of(total.Pixels, "pixel")})\n" + yaml);
                Console.WriteLine($"wrote {f}");
            }
            else Console.Write(yaml);
            return 0;
        }));
        return cmd;
    }
}
