using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace HieraRS.NN.Import;

/// <summary>A pickled tuple (kept apart from lists: torch's persistent ids and sizes are tuples).</summary>
public sealed record PickleTuple(object?[] Items);

/// <summary>A pickled dict, in insertion order (OrderedDict and plain dict alike).</summary>
public sealed class PickleDict
{
    public List<KeyValuePair<object, object?>> Items { get; } = new();
    public void Set(object key, object? value) => Items.Add(new(key, value));
}

/// <summary>A global that the reader allows, named "module.name"; what calling it builds is decided by the reader's owner.</summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>
/// A restricted unpickler for protocols 0-5 as far as torch.save uses them: it builds dicts, lists,
/// tuples, strings, bytes, numbers, booleans and None, and only the globals in the allowed set, which it
/// never calls: a REDUCE on an allowed global is handed to <see cref="Reduce"/>, which rebuilds data.
/// Any other global, and the opcodes that instantiate classes (INST, OBJ, NEWOBJ), are refused with an
/// error naming them. Sizes are checked against the bytes left, so a corrupt length cannot allocate.
/// </summary>
public sealed class Unpickler
{
    readonly byte[] data;
    readonly string path;
    readonly IReadOnlySet<string> allowed;
    int pos;
    readonly List<object?> stack = new();
    readonly Stack<int> marks = new();
    readonly Dictionary<long, object?> memo = new();

    /// <summary>Rebuilds the value of an allowed global called with these arguments (torch's tensor and dict constructors).</summary>
    public required Func<PickleGlobal, object?[], object?> Reduce { get; init; }

    /// <summary>Resolves a persistent id (torch's storage references).</summary>
    public required Func<object?, object?> PersistentLoad { get; init; }

    public Unpickler(byte[] data, string path, IReadOnlySet<string> allowedGlobals, int start = 0)
    {
        this.data = data; this.path = path; allowed = allowedGlobals; pos = start;
    }

    /// <summary>Where the next pickle starts (the legacy torch format stores several in a row).</summary>
    public int Position => pos;

    InvalidDataException Bad(string what) => new($"{path}: {what} (pickle byte {pos})");

    ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > data.Length - pos) throw Bad($"a length of {n} runs past the end of the data; file truncated or corrupt");
        var s = data.AsSpan(pos, (int)n);
        pos += (int)n;
        return s;
    }

    byte Byte() => Take(1)[0];
    string Line() { int e = Array.IndexOf(data, (byte)'\n', pos); if (e < 0) throw Bad("unterminated text line"); var s = Encoding.ASCII.GetString(data, pos, e - pos); pos = e + 1; return s; }

    object? Pop() => stack.Count > 0 ? PopAt(stack.Count - 1) : throw Bad("stack underflow");
    object? PopAt(int i) { var v = stack[i]; stack.RemoveAt(i); return v; }
    object? Top => stack.Count > 0 ? stack[^1] : throw Bad("stack underflow");

    List<object?> PopMark()
    {
        if (marks.Count == 0) throw Bad("no mark on the stack");
        int m = marks.Pop();
        if (m > stack.Count) throw Bad("mark above the stack");
        var items = stack.GetRange(m, stack.Count - m);
        stack.RemoveRange(m, stack.Count - m);
        return items;
    }

    void Push(object? v)
    {
        if (stack.Count > 10_000_000) throw Bad("more than 10 million values on the stack");
        stack.Add(v);
    }

    /// <summary>Reads one pickle up to its STOP and returns its value.</summary>
    public object? Load()
    {
        stack.Clear(); marks.Clear(); memo.Clear();
        while (true)
        {
            byte op = Byte();
            switch ((char)op)
            {
                case '\x80': Byte(); break;                                     // PROTO
                case '\x95': Take(8); break;                                    // FRAME: the framing is only a hint
                case '.': return Pop();                                         // STOP
                case '(': marks.Push(stack.Count); break;                       // MARK
                case 'N': Push(null); break;
                case '\x88': Push(true); break;
                case '\x89': Push(false); break;
                case 'K': Push((long)Byte()); break;                            // BININT1
                case 'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case 'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case '\x8a': Push(Long(Byte())); break;                         // LONG1
                case '\x8b': Push(Long(BinaryPrimitives.ReadInt32LittleEndian(Take(4)))); break; // LONG4
                case 'I': Push(IntLine(Line())); break;                         // INT (protocol 0)
                case 'L': Push(Long0(Line())); break;                           // LONG (protocol 0)
                case 'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case 'F': Push(double.TryParse(Line(), System.Globalization.CultureInfo.InvariantCulture, out double fv) ? fv : throw Bad("bad FLOAT line")); break;
                case 'X': Push(Utf8(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                case '\x8c': Push(Utf8(Byte())); break;                         // SHORT_BINUNICODE
                case '\x8d': Push(Utf8(Length8())); break;
                case 'T': Push(Encoding.Latin1.GetString(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))))); break; // BINSTRING
                case 'U': Push(Encoding.Latin1.GetString(Take(Byte()))); break;  // SHORT_BINSTRING
                case 'B': Push(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray()); break;
                case 'C': Push(Take(Byte()).ToArray()); break;                  // SHORT_BINBYTES
                case '\x8e': Push(Take(Length8()).ToArray()); break;
                case ')': Push(new PickleTuple([])); break;
                case '\x85': Push(new PickleTuple([Pop()])); break;
                case '\x86': { var b = Pop(); var a = Pop(); Push(new PickleTuple([a, b])); break; }
                case '\x87': { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PickleTuple([a, b, c])); break; }
                case 't': Push(new PickleTuple(PopMark().ToArray())); break;
                case ']': Push(new List<object?>()); break;
                case 'l': Push(PopMark()); break;
                case '}': Push(new PickleDict()); break;
                case 'd': { var d = new PickleDict(); var items = PopMark(); SetItems(d, items); Push(d); break; }
                case 'a': { var v = Pop(); AsList(Top).Add(v); break; }          // APPEND
                case 'e': { var items = PopMark(); AsList(Top).AddRange(items); break; } // APPENDS
                case 's': { var v = Pop(); var k = Pop(); AsDict(Top).Set(Key(k), v); break; }
                case 'u': { var items = PopMark(); SetItems(AsDict(Top), items); break; }
                case 'q': memo[Byte()] = Top; break;                            // BINPUT
                case 'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top; break;
                case 'p': memo[LineNumber()] = Top; break;                // PUT
                case '\x94': memo[memo.Count] = Top; break;                     // MEMOIZE
                case 'h': Push(Memo(Byte())); break;                            // BINGET
                case 'j': Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                case 'g': Push(Memo(LineNumber())); break;
                case 'c': { string m = Line(); Push(Global(m, Line())); break; } // GLOBAL
                case '\x93': { var n = Pop(); var m = Pop(); Push(Global(m as string ?? throw Bad("STACK_GLOBAL without a module name"), n as string ?? throw Bad("STACK_GLOBAL without a name"))); break; }
                case 'R': { var args = Pop(); var f = Pop(); Push(Call(f, args)); break; }  // REDUCE
                case 'b': Pop(); break;                                         // BUILD: object state (OrderedDict._metadata) is not needed
                case 'Q': Push(PersistentLoad(Pop())); break;                   // BINPERSID
                case 'P': Push(PersistentLoad(Line())); break;                  // PERSID
                case '0': Pop(); break;                                         // POP
                case '1': PopMark(); break;                                     // POP_MARK
                case '2': Push(Top); break;                                     // DUP
                case 'i' or 'o' or '\x81' or '\x92':
                    throw Bad($"opcode 0x{op:x2} instantiates a class; refused (only tensors and plain data are read)");
                default:
                    throw Bad($"unsupported or invalid pickle opcode 0x{op:x2}");
            }
        }
    }

    /// <summary>An 8-byte length; one beyond what a long holds is certainly beyond the data (Take refuses it).</summary>
    long Length8() => (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)), long.MaxValue);

    long LineNumber() => long.TryParse(Line(), out long v) ? v : throw Bad("bad memo index line");

    object? Memo(long k) => memo.TryGetValue(k, out var v) ? v : throw Bad($"memo entry {k} read before it was written");

    string Utf8(long n)
    {
        try { return new UTF8Encoding(false, true).GetString(Take(n)); }
        catch (DecoderFallbackException) { throw Bad("a string is not valid UTF-8"); }
    }

    object Long(int n)
    {
        if (n > 16 || n < 0) throw Bad($"an integer of {n} bytes is beyond what a checkpoint holds");
        var b = new BigInteger(Take(n), isUnsigned: false, isBigEndian: false);
        return b >= long.MinValue && b <= long.MaxValue ? (long)b : b;
    }

    object IntLine(string s) => s switch { "00" => false, "01" => true, _ => long.TryParse(s, out long v) ? v : throw Bad($"bad INT '{s}'") };
    object Long0(string s) => long.TryParse(s.TrimEnd('L'), out long v) ? v : throw Bad($"bad LONG '{s}'");

    List<object?> AsList(object? o) => o as List<object?> ?? throw Bad($"APPEND to a {Describe(o)}");
    PickleDict AsDict(object? o) => o as PickleDict ?? throw Bad($"SETITEM on a {Describe(o)}");

    object Key(object? k) => k switch
    {
        string or long or bool or double or BigInteger => k,
        PickleTuple t => t,
        _ => throw Bad($"a dict key of type {Describe(k)}"),
    };

    void SetItems(PickleDict d, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Bad("SETITEMS with an odd number of values");
        for (int i = 0; i < items.Count; i += 2) d.Set(Key(items[i]), items[i + 1]);
    }

    PickleGlobal Global(string module, string name)
    {
        var g = new PickleGlobal(module, name);
        if (!allowed.Contains(g.ToString()))
            throw new InvalidDataException($"{path}: the pickle names the global '{g}', which is not a tensor or plain data; refused, nothing from the file was run");
        return g;
    }

    object? Call(object? f, object? args)
    {
        if (f is not PickleGlobal g) throw Bad($"REDUCE calls a {Describe(f)}");
        if (args is not PickleTuple t) throw Bad($"REDUCE of {g} without an argument tuple");
        try { return Reduce(g, t.Items); }
        catch (Exception e) when (e is InvalidCastException or IndexOutOfRangeException or ArgumentException or OverflowException or FormatException or KeyNotFoundException)
        {
            throw Bad($"{g} called with unexpected arguments ({e.Message})");
        }
    }

    public static string Describe(object? o) => o switch
    {
        null => "None",
        PickleGlobal g => $"global {g}",
        _ => o.GetType().Name,
    };
}
