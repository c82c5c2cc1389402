using System.Globalization;
using System.Text.Json;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Config;

/// <summary>
/// One key of a settings record as a YAML config and a checkpoint's JSON metadata know it. Every reader
/// starts from the record's own value, so a default is written once: in the record's initialiser.
/// </summary>
public sealed class Field<T>
{
    public required string Key { get; init; }
    /// <summary>The record with the key's value from a YAML mapping (the record unchanged where the key is absent).</summary>
    public required Func<YamlReader, YamlMappingNode, T, T> FromYaml { get; init; }
    /// <summary>Adds the record's JSON entries (usually one, under <see cref="Key"/>).</summary>
    public required Action<T, IDictionary<string, object?>> ToJson { get; init; }
    /// <summary>The record with the value from a JSON object; absent keys keep the record's value (or fail where required).</summary>
    public required Func<JsonElement, T, string, T> FromJson { get; init; }
}

/// <summary>The keys of a settings record, in the order they are written; reads and writes YAML and JSON.</summary>
public sealed class Schema<T>(params Field<T>[] fields)
{
    public IReadOnlyList<Field<T>> Fields { get; } = fields;
    public string[] Keys => Fields.Select(f => f.Key).ToArray();

    /// <summary>Reads the schema's keys from <paramref name="m"/> (other keys are the caller's to allow or refuse).</summary>
    public T FromYaml(YamlReader r, YamlMappingNode m, T start) => Fields.Aggregate(start, (t, f) => f.FromYaml(r, m, t));

    public Dictionary<string, object?> ToJsonObject(T value)
    {
        var d = new Dictionary<string, object?>();
        foreach (var f in Fields) f.ToJson(value, d);
        return d;
    }

    public string ToJson(T value) => JsonSerializer.Serialize(ToJsonObject(value));

    public T FromJson(JsonElement e, T start, string where) => Fields.Aggregate(start, (t, f) => f.FromJson(e, t, where));
}

/// <summary>Fields of the common kinds: one key, the same in YAML and JSON.</summary>
public static class Fields<T>
{
    static Func<JsonElement, T, string, T> Json<V>(string key, Func<JsonElement, V> read, Func<T, V, T> set, bool required) => (e, t, where) =>
        e.TryGetProperty(key, out var v) ? set(t, read(v))
            : required ? throw new InvalidDataException($"{where}: the model description in its metadata has no '{key}'") : t;

    static Field<T> Make<V>(string key, Func<T, V> get, Func<T, V, T> set, Func<YamlReader, YamlMappingNode, V, V> yaml, Func<JsonElement, V> json, bool required) => new()
    {
        Key = key,
        FromYaml = (r, m, t) => set(t, yaml(r, m, get(t))),
        ToJson = (t, d) => d[key] = get(t),
        FromJson = Json(key, json, set, required),
    };

    public static Field<T> Int(string key, Func<T, int> get, Func<T, int, T> set, int min, int max, bool required = false) =>
        Make(key, get, set, (r, m, v) => r.OptionalInt(m, key, v, min, max), e => e.GetInt32(), required);

    /// <summary>An integer from a fixed set (YAML names the allowed values in its error).</summary>
    public static Field<T> IntChoice(string key, Func<T, int> get, Func<T, int, T> set, params int[] allowed) =>
        Make(key, get, set, (r, m, v) => int.Parse(r.Choice(m, key, S(v), allowed.Select(S).ToArray()), CultureInfo.InvariantCulture), e => e.GetInt32(), false);

    public static Field<T> Double(string key, Func<T, double> get, Func<T, double, T> set, double min, double max) =>
        Make(key, get, set, (r, m, v) => r.OptionalDouble(m, key, v, min, max), e => e.GetDouble(), false);

    public static Field<T> Float(string key, Func<T, float> get, Func<T, float, T> set, double min, double max) =>
        Make(key, get, set, (r, m, v) => (float)r.OptionalDouble(m, key, v, min, max), e => e.GetSingle(), false);

    public static Field<T> Bool(string key, Func<T, bool> get, Func<T, bool, T> set) =>
        Make(key, get, set, (r, m, v) => r.OptionalBool(m, key, v), e => e.GetBoolean(), false);

    public static Field<T> Ints(string key, Func<T, int[]> get, Func<T, int[], T> set) =>
        Make(key, get, set, (r, m, v) => r.Node(m, key) is { } n ? r.Doubles(n, $"'{key}'").Select(x => (int)x).ToArray() : v,
            e => e.EnumerateArray().Select(x => x.GetInt32()).ToArray(), false);

    /// <summary>A word from a fixed list; the JSON value is the word.</summary>
    public static Field<T> Choice(string key, Func<T, string> get, Func<T, string, T> set, IReadOnlyCollection<string> allowed, bool required = false) =>
        Make(key, get, set, (r, m, v) => r.Choice(m, key, v, [.. allowed]), e => e.GetString()!, required);

    /// <summary>An enumeration written as words (a two-way name table).</summary>
    public static Field<T> Named<E>(string key, Func<T, E> get, Func<T, E, T> set, NameTable<E> names, bool required = false) where E : notnull =>
        Make(key, t => names.Name(get(t)), (t, v) => set(t, names.Parse(v)), (r, m, v) => r.Choice(m, key, v, [.. names.Names]), e => e.GetString()!, required);

    /// <summary>A nested record under one key, read and written by its own schema.</summary>
    public static Field<T> Nested<V>(string key, Func<T, V> get, Func<T, V, T> set, Schema<V> schema) => new()
    {
        Key = key,
        FromYaml = (r, m, t) =>
        {
            if (r.Node(m, key) is not { } n) return t;
            var nm = r.Mapping(n, $"'{key}'");
            r.AllowedKeys(nm, schema.Keys);
            return set(t, schema.FromYaml(r, nm, get(t)));
        },
        ToJson = (t, d) => d[key] = schema.ToJsonObject(get(t)),
        FromJson = (e, t, where) => e.TryGetProperty(key, out var v) ? set(t, schema.FromJson(v, get(t), where)) : t,
    };

    static string S(int v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Names of an enumeration's values, both ways, in one table.</summary>
public sealed class NameTable<E>(string what, params (string Name, E Value)[] entries) where E : notnull
{
    public IEnumerable<string> Names => entries.Select(e => e.Name);
    public string Name(E value) => entries.First(e => EqualityComparer<E>.Default.Equals(e.Value, value)).Name;
    public E Parse(string name) => entries.FirstOrDefault(e => e.Name == name) is { Name: not null } e ? e.Value
        : throw new ArgumentException($"unknown {what} '{name}' ({string.Join(", ", Names)})");
}
