using HieraRS.Platform;
using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using HieraRS.NN;
using HieraRS.NN.Distributed;
using HieraRS.Tensors;

namespace HieraRS.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var threads = new Option<int?>("--threads") { Description = "CPU threads for the engine (default: all cores; under mpirun, the cores shared by the ranks on each machine)", Recursive = true };
        var root = new RootCommand("HieraRS: hierarchical semantic segmentation of remote-sensing imagery");
        root.Options.Add(threads);

        root.Subcommands.Add(TrainCommands.Demo());
        root.Subcommands.Add(TrainCommands.Train());
        root.Subcommands.Add(TrainCommands.Transfer());
        root.Subcommands.Add(TrainCommands.Eval());
        root.Subcommands.Add(PredictCommand.Build());

        var file = new Argument<string>("file") { Description = "a .safetensors file" };
        var inspect = new Command("inspect", "list the tensors (name, dtype, shape) and metadata of a checkpoint");
        inspect.Arguments.Add(file);
        inspect.SetAction(pr => Guard.Run(() => Inspect(pr.GetValue(file)!)));
        var checkpoint = new Command("checkpoint", "checkpoint tools");
        checkpoint.Subcommands.Add(inspect);
        root.Subcommands.Add(checkpoint);

        var tree = new Argument<string>("hierarchy") { Description = "a built-in name (see `hierarchy list`) or a .yaml / .json file" };
        var show = new Command("show", "print a class tree with its colours, label encoding and source correspondences");
        show.Arguments.Add(tree);
        show.SetAction(pr => Guard.Run(() => HierarchyCommand.Show(pr.GetValue(tree)!)));
        var treeFile = new Argument<string>("file") { Description = "a .yaml or .json hierarchy file" };
        var validate = new Command("validate", "check a hierarchy file; errors name the line and class");
        validate.Arguments.Add(treeFile);
        validate.SetAction(pr => Guard.Run(() => HierarchyCommand.Validate(pr.GetValue(treeFile)!)));
        var list = new Command("list", "the built-in hierarchies");
        list.SetAction(_ => HierarchyCommand.List());
        var hierarchy = new Command("hierarchy", "class hierarchies");
        foreach (var c in new[] { show, validate, list }) hierarchy.Subcommands.Add(c);
        root.Subcommands.Add(hierarchy);

        root.Subcommands.Add(DataCommands.Synth());
        root.Subcommands.Add(DataCommands.Stats());
        root.Subcommands.Add(DataCommands.CheckData());
        root.Subcommands.Add(ScoreCommand.Build());
        root.Subcommands.Add(WeightsCommand.Build());
        root.Subcommands.Add(ExportCommand.Build());

        var info = new Command("info", "versions, threads and native libraries");
        info.SetAction(pr =>
        {
            Console.WriteLine($"hierars {typeof(Program).Assembly.GetName().Version}, .NET {Environment.Version}, {Plural.Of(Environment.ProcessorCount, "core")}");
            Console.WriteLine($"engine threads: {Engine.Threads}; GEMMs: {Engine.GemmDescription}");
            return 0;
        });
        root.Subcommands.Add(info);
        return Invoke(root.Parse(args), threads);
    }

    /// <summary>Runs the parsed command; every error, of parsing included, in Guard's one form.</summary>
    static int Invoke(ParseResult parsed, Option<int?> threads)
    {
        if (parsed.Errors.Count == 0 && parsed.GetValue(threads) is { } t)
        {
            if (t < 1) { Guard.Fail("--threads must be at least 1"); return 1; }
            Engine.Threads = t;
        }
        else if (Communicator.LaunchedSize() > 1) Engine.Threads = Communicator.DefaultThreads(); // ranks sharing a machine share its cores
        if (parsed.Errors.Count > 0 && parsed.Action is ParseErrorAction)
        {
            foreach (var e in parsed.Errors) Guard.Fail(e.Message);
            Console.Error.WriteLine($"usage: {CommandPath(parsed.CommandResult)} --help");
            return 1;
        }
        try { return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }); }
        catch (Exception e) // a bug, not bad input (Guard answers that): the trace is what a report needs
        {
            Guard.Fail($"unexpected {e.GetType().Name}: {e.Message} (a bug; please report it with this trace)");
            Console.Error.WriteLine(e);
            return 70;
        }
    }

    /// <summary>"hierars hierarchy validate" for the validate command's result.</summary>
    static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? r = command; r is CommandResult c; r = c.Parent) names.Insert(0, c.Command.Name);
        names[0] = "hierars";
        return string.Join(" ", names);
    }

    static int Inspect(string path)
    {
        var c = SafeTensors.Load(path);
        foreach (var (k, v) in c.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) Console.WriteLine($"# {k} = {v}");
        long total = 0;
        foreach (var (name, t) in c.Tensors)
        {
            Console.WriteLine($"{name,-60} {c.Tensors.TypeOf(name),-5} {ShapeUtil.Format(t.Shape)}");
            total += t.Numel;
        }
        Console.WriteLine($"{Plural.Of(c.Tensors.Count, "tensor")}, {Plural.Of(total, "value", grouped: true)}");
        return 0;
    }
}
