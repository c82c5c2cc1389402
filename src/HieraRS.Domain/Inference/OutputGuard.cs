using HieraRS.Geo;

namespace HieraRS.Domain.Inference;

/// <summary>A file a command writes, and what it is (for the error message).</summary>
public readonly record struct OutputFile(string Role, string Path);

/// <summary>
/// Refuses, before any work, outputs that would overwrite an input: the same file under another
/// spelling, through a symlink or a hard link, or a file an input reads (a VRT's sources); outputs that
/// collide with each other; and a folder the run deletes when it holds an input.
/// </summary>
public static class OutputGuard
{
    public static void Check(IEnumerable<string> inputs, IReadOnlyList<OutputFile> outputs, IEnumerable<string>? deletedDirs = null)
    {
        var ins = inputs.Distinct().ToList();
        for (int i = 0; i < outputs.Count; i++)
        {
            var o = outputs[i];
            foreach (var input in ins)
                if (FileIdentity.Same(o.Path, input))
                    throw new ArgumentException($"{o.Role} {o.Path} is the input {input}{(Same(o.Path, input) ? "" : " (the same file)")}: an output never overwrites an input");
            for (int j = 0; j < i; j++)
                if (FileIdentity.Same(o.Path, outputs[j].Path))
                    throw new ArgumentException($"{o.Role} {o.Path} is also the {outputs[j].Role}: give them different names");
        }
        foreach (var dir in deletedDirs ?? [])
            foreach (var input in ins)
                if (FileIdentity.Inside(input, dir))
                    throw new ArgumentException($"the input {input} lies in {dir}, the folder of an unfinished prediction that is deleted when done: move it");
    }

    static bool Same(string a, string b) => Path.GetFullPath(a) == Path.GetFullPath(b);
}
