using System.Text;
using CsCheck;

namespace HieraRS.Fuzz.Tests;

/// <summary>
/// Mutated copies of valid files: bytes replaced, tokens of YAML / JSON syntax or awkward numbers
/// inserted, ranges deleted or duplicated, the file cut short. CsCheck draws (and shrinks) the plan.
/// </summary>
public static class Mutation
{
    static readonly string[] Tokens =
    [
        "{", "}", "[", "]", ":", ": ", "- ", "\"", "'", "\n", "\n  ", "  ", "#", ",", "?", "|", ">", "\t", "\0", "é", "&a ", "*a", "<<: *a",
        "!!binary ", "!!int ", "!!map ", "---\n", "...\n", "%YAML 1.2\n", "-1", "0", "255", "256", "2147483648", "9223372036854775807",
        "99999999999999999999", "1e309", "-0", "NaN", ".inf", "null", "~", "true", "[]", "{}", "\"F32\"", "\"dtype\"", "\"shape\"",
        "\"data_offsets\"", "\"__metadata__\"", "[0,8]", "[-1]", "[1e40]", "[4294967296, 4294967296]",
    ];

    /// <summary>One edit: kind, place, length and token, each drawn over its whole range and reduced when applied.</summary>
    public readonly record struct Edit(int Kind, int Place, int Length, int Token);

    public static Gen<Edit[]> Plans { get; } =
        Gen.Select(Gen.Int[0, 4], Gen.Int[0, int.MaxValue], Gen.Int[1, 64], Gen.Int[0, int.MaxValue], (k, p, l, t) => new Edit(k, p, l, t)).Array[1, 6];

    /// <summary>The file with the edits applied, each within the first <paramref name="region"/> bytes (where a format keeps its structure).</summary>
    public static byte[] Apply(byte[] file, Edit[] plan, int region = int.MaxValue)
    {
        var b = new List<byte>(file);
        foreach (var e in plan)
        {
            int span = Math.Max(1, Math.Min(region, b.Count));
            int at = e.Place % span;
            switch (e.Kind)
            {
                case 0 when b.Count > 0: b[Math.Min(at, b.Count - 1)] = (byte)e.Token; break;
                case 1: b.InsertRange(Math.Min(at, b.Count), Encoding.UTF8.GetBytes(Tokens[e.Token % Tokens.Length])); break;
                case 2: b.RemoveRange(Math.Min(at, b.Count), Math.Min(e.Length, b.Count - Math.Min(at, b.Count))); break;
                case 3:
                    int from = Math.Min(at, b.Count), n = Math.Min(e.Length, b.Count - from);
                    b.InsertRange(Math.Min(e.Token % span, b.Count), b.GetRange(from, n));
                    break;
                default: b.RemoveRange(Math.Min(at + 1, b.Count), b.Count - Math.Min(at + 1, b.Count)); break;
            }
        }
        return b.ToArray();
    }
}
