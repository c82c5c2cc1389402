using System.Globalization;

namespace HieraRS.Platform;

/// <summary>Counts in messages with the noun in the right number: "1 scene", "2 scenes", "1 class", "3 classes".</summary>
public static class Plural
{
    /// <summary><paramref name="n"/> and the noun (singular given), digits grouped ("1,024") when <paramref name="grouped"/>.</summary>
    public static string Of(long n, string noun, bool grouped = false) =>
        $"{n.ToString(grouped ? "N0" : "D", CultureInfo.InvariantCulture)} {(n == 1 ? noun : Many(noun))}";

    static string Many(string noun) => noun switch
    {
        _ when noun.EndsWith('s') || noun.EndsWith('x') || noun.EndsWith("ch") || noun.EndsWith("sh") => noun + "es",
        [.., var c, 'y'] when !"aeiou".Contains(c) => noun[..^1] + "ies",
        _ => noun + "s",
    };
}
