using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HieraRS.Domain.Config;

/// <summary>A configuration file that does not validate; the message names the file and line at fault.</summary>
public class ConfigException(string message) : Exception(message);

/// <summary>
/// Strict reading of YAML (and JSON, read as YAML so errors carry line numbers too) configuration:
/// every accessor either returns a well-typed value or throws a <see cref="ConfigException"/> naming
/// the source, the line and the key. Unknown keys are errors (<see cref="AllowedKeys"/>), never ignored.
/// </summary>
public sealed class YamlReader(string source, Func<string, ConfigException>? make = null)
{
    public string Source { get; } = source;

    /// <summary>
    /// Bound on a configuration or hierarchy file: the largest real tree (7 levels of 255 classes) is
    /// under 200 kB, and refusing early keeps a wrong file from costing seconds and gigabytes of parsing.
    /// </summary>
    public const int MaxFileBytes = 1 << 20;

    /// <summary>Parses text into its root mapping.</summary>
    public YamlMappingNode Root(string text, string expected)
    {
        if (text.Length > MaxFileBytes)
            throw Fail($"{Source}: {text.Length:N0} characters is too large for a configuration (at most {MaxFileBytes:N0})");
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(text));
        try { stream.Load(parser); }
        catch (YamlException e) { throw Fail($"{Source}:{e.Start.Line}: {e.InnerException?.Message ?? e.Message}"); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException) // YamlDotNet fails so on some malformed text (found by fuzzing)
        {
            throw Fail($"{Source}:{parser.Current?.End.Line ?? 1}: not valid YAML after this line");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw Fail($"{Source}:1: expected a mapping with {expected}");
        return root;
    }

    ConfigException Fail(string message) => make?.Invoke(message) ?? new ConfigException(message);

    public ConfigException Error(YamlNode node, string message) => Fail($"{Source}:{node.Start.Line}: {message}");

    public void AllowedKeys(YamlMappingNode m, params string[] keys)
    {
        foreach (var k in m.Children.Keys)
            if (k is not YamlScalarNode { Value: { } v } || !keys.Contains(v))
                throw Error(k, $"unknown key '{(k as YamlScalarNode)?.Value}' (expected one of: {string.Join(", ", keys)})");
    }

    public bool Has(YamlMappingNode m, string key) => m.Children.ContainsKey(new YamlScalarNode(key));

    public YamlNode? Node(YamlMappingNode m, string key) => m.Children.TryGetValue(new YamlScalarNode(key), out var n) ? n : null;

    public string Scalar(YamlMappingNode m, string key) =>
        OptionalScalar(m, key) ?? throw Error(m, $"missing '{key}'");

    public string? OptionalScalar(YamlMappingNode m, string key) =>
        Node(m, key) is { } n ? n is YamlScalarNode s ? s.Value : throw Error(n, $"'{key}' must be a single value") : null;

    public YamlSequenceNode Sequence(YamlMappingNode m, string key) =>
        Node(m, key) is { } n ? n as YamlSequenceNode ?? throw Error(n, $"'{key}' must be a list") : throw Error(m, $"missing '{key}'");

    /// <summary>The text of a single value (a key, or a value anywhere).</summary>
    public string Text(YamlNode n, string what) => n is YamlScalarNode { Value: { } v } ? v : throw Error(n, $"{what} must be a single value");

    public YamlMappingNode Mapping(YamlNode n, string what) => n as YamlMappingNode ?? throw Error(n, $"{what} must be a mapping");

    public int Int(YamlMappingNode m, string key, string text) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v
            : throw Error(m.Children[new YamlScalarNode(key)], $"'{key}' must be an integer, got '{text}'");

    public long Long(YamlNode n, string what) =>
        n is YamlScalarNode { Value: { } t } && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? v
            : throw Error(n, $"{what} must be an integer, got '{(n as YamlScalarNode)?.Value}'");

    public double Double(YamlNode n, string what) =>
        n is YamlScalarNode { Value: { } t } && double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v
            : throw Error(n, $"{what} must be a number, got '{(n as YamlScalarNode)?.Value}'");

    public int OptionalInt(YamlMappingNode m, string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        if (Node(m, key) is not { } n) return fallback;
        long v = Long(n, $"'{key}'");
        return v >= min && v <= max ? (int)v : throw Error(n, $"'{key}' must be in {min}..{max}, got {v}");
    }

    public double OptionalDouble(YamlMappingNode m, string key, double fallback, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        if (Node(m, key) is not { } n) return fallback;
        double v = Double(n, $"'{key}'");
        return v >= min && v <= max ? v : throw Error(n, $"'{key}' must be in [{min}, {max}], got {v}");
    }

    public bool OptionalBool(YamlMappingNode m, string key, bool fallback) => Node(m, key) switch
    {
        null => fallback,
        YamlScalarNode { Value: "true" or "True" or "yes" } => true,
        YamlScalarNode { Value: "false" or "False" or "no" } => false,
        var n => throw Error(n, $"'{key}' must be true or false"),
    };

    /// <summary>A list of numbers (or one number, repeated <paramref name="repeat"/> times when given).</summary>
    public double[] Doubles(YamlNode n, string what, int repeat = 0) => n switch
    {
        YamlSequenceNode s => s.Children.Select(c => Double(c, $"an element of {what}")).ToArray(),
        YamlScalarNode when repeat > 0 => Enumerable.Repeat(Double(n, what), repeat).ToArray(),
        _ => throw Error(n, $"{what} must be a list of numbers"),
    };

    public string[] Strings(YamlNode n, string what) => n switch
    {
        YamlSequenceNode s => s.Children.Select(c => (c as YamlScalarNode)?.Value ?? throw Error(c, $"an element of {what} must be a single value")).ToArray(),
        YamlScalarNode { Value: { } v } => [v],
        _ => throw Error(n, $"{what} must be a value or a list of values"),
    };

    /// <summary>One of the allowed words (case-insensitive), as given in <paramref name="allowed"/>.</summary>
    public string Choice(YamlMappingNode m, string key, string fallback, params string[] allowed)
    {
        if (OptionalScalar(m, key) is not { } v) return fallback;
        return allowed.FirstOrDefault(a => string.Equals(a, v, StringComparison.OrdinalIgnoreCase))
            ?? throw Error(Node(m, key)!, $"'{key}' must be one of {string.Join(", ", allowed)}, got '{v}'");
    }
}
