using System.Text.Json;
using HieraRS.Domain.Config;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Models;

namespace HieraRS.Domain.Modeling;

/// <summary>The keys of TransLU's settings in a config's <c>transfer</c> section and in a checkpoint's <c>transfer</c> metadata.</summary>
public static class TransLuSchema
{
    public static readonly Schema<InjectorOptions> Injector = new(
        Fields<InjectorOptions>.Int("heads", o => o.Heads, (o, v) => o with { Heads = v }, 1, 256),
        Fields<InjectorOptions>.Int("points", o => o.Points, (o, v) => o with { Points = v }, 1, 64),
        Fields<InjectorOptions>.Double("value_ratio", o => o.ValueRatio, (o, v) => o with { ValueRatio = v }, 0.01, 8),
        Fields<InjectorOptions>.Double("ffn_ratio", o => o.FfnRatio, (o, v) => o with { FfnRatio = v }, 0.01, 8),
        Fields<InjectorOptions>.Float("drop_path", o => o.DropPath, (o, v) => o with { DropPath = v }, 0, 0.99));

    public static readonly Schema<TransLuOptions> Options = new(
        Fields<TransLuOptions>.Bool("cdks", o => o.Cdks, (o, v) => o with { Cdks = v }),
        Fields<TransLuOptions>.Bool("cdsa", o => o.Cdsa, (o, v) => o with { Cdsa = v }),
        Fields<TransLuOptions>.Nested("injector", o => o.Injector, (o, v) => o with { Injector = v }, Injector));
}

/// <summary>
/// What a transferred checkpoint records about where it came from: the method (<c>translu</c> or
/// <c>finetune</c> from <see cref="Init"/>), the source checkpoint and iteration, and the source network
/// with its tree and the TransLU settings (from which a TransLU checkpoint rebuilds its frozen branch).
/// </summary>
public sealed record TransferRecord
{
    /// <summary>Checkpoint metadata key holding <see cref="ToJson"/>.</summary>
    public const string MetadataKey = "transfer";
    public const string TransLuMethod = "translu";

    public required string Method { get; init; }
    /// <summary>Where fine-tuning started (<c>scratch</c>, <c>backbone</c>, <c>backbone_head</c>); null for TransLU.</summary>
    public string? Init { get; init; }
    public required string SourceCheckpoint { get; init; }
    public long SourceIteration { get; init; }
    public required ModelSpec SourceSpec { get; init; }
    public required ClassHierarchy SourceHierarchy { get; init; }
    /// <summary>TransLU's settings (a fine-tuning records the defaults).</summary>
    public TransLuOptions Options { get; init; } = new();

    /// <summary>The TransLU variant of the target spec, or null when the transfer was a fine-tuning.</summary>
    public TransLuSpec? TransLu => Method == TransLuMethod ? new TransLuSpec(SourceSpec, SourceHierarchy, Options) : null;

    public string ToJson()
    {
        var d = new Dictionary<string, object?> { ["method"] = Method, ["init"] = Init };
        foreach (var (k, v) in TransLuSchema.Options.ToJsonObject(Options)) d[k] = v;
        d["source_checkpoint"] = SourceCheckpoint;
        d["source_iteration"] = SourceIteration;
        d["source_model"] = SourceSpec.ToJson();
        d["source_hierarchy"] = HierarchyWriter.ToYaml(SourceHierarchy);
        return JsonSerializer.Serialize(d);
    }

    public static TransferRecord FromJson(string json, string where)
    {
        var d = JsonDocument.Parse(json).RootElement;
        string Need(string key) => d.TryGetProperty(key, out var v) && v.GetString() is { } s ? s
            : throw new InvalidDataException($"{where}: the transfer description in its metadata has no '{key}'");
        return new TransferRecord
        {
            Method = Need("method"),
            Init = d.TryGetProperty("init", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString() : null,
            SourceCheckpoint = d.TryGetProperty("source_checkpoint", out var c) ? c.GetString() ?? "" : "",
            SourceIteration = d.TryGetProperty("source_iteration", out var it) ? it.GetInt64() : 0,
            SourceSpec = ModelSpec.FromJson(Need("source_model"), where),
            SourceHierarchy = HierarchyLoader.Parse(Need("source_hierarchy"), $"{where} (source hierarchy)"),
            Options = TransLuSchema.Options.FromJson(d, new TransLuOptions(), where),
        };
    }
}
