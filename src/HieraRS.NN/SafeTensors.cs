using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using HieraRS.Platform;
using HieraRS.Tensors;

namespace HieraRS.NN;

/// <summary>
/// The safetensors format: 8-byte little-endian header length, a JSON header
/// {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the data.
/// Reading treats the file as untrusted; writing goes to a temporary name renamed when complete.
/// </summary>
public static class SafeTensors
{
    const long MaxHeader = 100L << 20;

    public sealed record Content(StateDict Tensors, IReadOnlyDictionary<string, string> Metadata);

    internal static int Size(DType t) => t switch { DType.F32 or DType.I32 => 4, DType.F16 or DType.BF16 => 2, DType.I64 => 8, _ => 1 };

    static DType ParseType(string s, string path, string name) => s switch
    {
        "F32" => DType.F32, "F16" => DType.F16, "BF16" => DType.BF16, "I64" => DType.I64, "I32" => DType.I32, "U8" => DType.U8,
        _ => throw new InvalidDataException($"{path}: tensor '{name}' has unsupported dtype '{s}' (supported: F32, F16, BF16, I64, I32, U8)"),
    };

    /// <summary>Writes tensors (with their state-dict dtypes) and string metadata atomically.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        var entries = new List<(Tensor T, DType Type)>();
        foreach (var (name, t) in tensors)
        {
            var type = tensors is StateDict sd ? sd.TypeOf(name) : DType.F32;
            long bytes = (long)t.Numel * Size(type);
            header[name] = new Dictionary<string, object> { ["dtype"] = type.ToString(), ["shape"] = t.Shape.ToArray(), ["data_offsets"] = new[] { offset, offset + bytes } };
            offset += bytes;
            entries.Add((t, type));
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        int pad = (8 - json.Length % 8) % 8;
        AtomicFile.Write(path, tmp =>
        {
            using var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
            fs.Write(len);
            fs.Write(json);
            for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
            foreach (var (t, type) in entries) WriteData(fs, t.Contiguous().Span, type);
            fs.Flush(true);
        }, ".safetensors");
    }

    static void WriteData(Stream s, ReadOnlySpan<float> data, DType type)
    {
        var buf = new byte[Math.Min(data.Length, 1 << 18) * Size(type)];
        for (int start = 0; start < data.Length; start += 1 << 18)
        {
            int n = Math.Min(1 << 18, data.Length - start), sz = Size(type);
            for (int i = 0; i < n; i++)
            {
                float v = data[start + i];
                var dst = buf.AsSpan(i * sz, sz);
                switch (type)
                {
                    case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(dst, v); break;
                    case DType.F16: BinaryPrimitives.WriteHalfLittleEndian(dst, (Half)v); break;
                    case DType.BF16: BinaryPrimitives.WriteUInt16LittleEndian(dst, ToBf16(v)); break;
                    case DType.I64: BinaryPrimitives.WriteInt64LittleEndian(dst, (long)v); break;
                    case DType.I32: BinaryPrimitives.WriteInt32LittleEndian(dst, (int)v); break;
                    default: dst[0] = (byte)v; break;
                }
            }
            s.Write(buf, 0, n * sz);
        }
    }

    /// <summary>float32 to bfloat16 with round-to-nearest-even (NaN kept quiet).</summary>
    static ushort ToBf16(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        if (float.IsNaN(v)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Reads every tensor as float32 (remembering its stored dtype) plus the metadata.</summary>
    public static Content Load(string path)
    {
        using var fs = InputFile.OpenRead(path, "safetensors file", 1 << 20);
        long fileLen = fs.Length;
        if (fileLen < 8) throw new InvalidDataException($"{path}: not a safetensors file (only {fileLen} bytes)");
        Span<byte> len = stackalloc byte[8];
        fs.ReadExactly(len);
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (headerLen > (ulong)Math.Min(MaxHeader, fileLen - 8))
            throw new InvalidDataException($"{path}: header length {headerLen} exceeds the file or the {MaxHeader >> 20} MiB limit; file corrupt or not safetensors");
        var hb = new byte[headerLen];
        fs.ReadExactly(hb);
        long dataStart = 8 + (long)headerLen, dataLen = fileLen - dataStart;
        if (!System.Text.Unicode.Utf8.IsValid(hb)) throw new InvalidDataException($"{path}: header is not valid UTF-8; file corrupt or not safetensors");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(hb); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: header is not valid JSON ({e.Message})"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: header is not a JSON object");
        var meta = new Dictionary<string, string>();
        var specs = new List<(string Name, DType Type, int[] Shape, long Begin, long End)>();
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: __metadata__ must be an object of strings");
                foreach (var m in prop.Value.EnumerateObject())
                    meta[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw new InvalidDataException($"{path}: metadata '{m.Name}' is not a string");
                continue;
            }
            if (specs.Any(s => s.Name == prop.Name)) throw new InvalidDataException($"{path}: tensor '{prop.Name}' is given twice");
            specs.Add(ParseSpec(prop, path));
        }
        // offsets must tile the data section exactly: sorted, no gaps, no overlaps
        long expect = 0;
        foreach (var s in specs.OrderBy(s => s.Begin))
        {
            if (s.Begin != expect) throw new InvalidDataException($"{path}: tensor '{s.Name}' starts at byte {s.Begin}, expected {expect} (gap or overlap)");
            expect = s.End;
        }
        if (expect != dataLen) throw new InvalidDataException($"{path}: tensors cover {expect} data bytes but the file holds {dataLen} (truncated or padded)");
        var sd = new StateDict();
        foreach (var s in specs)
        {
            fs.Seek(dataStart + s.Begin, SeekOrigin.Begin);
            var raw = new byte[s.End - s.Begin];
            fs.ReadExactly(raw);
            var t = Tensor.Empty(s.Shape);
            Decode(raw, s.Type, t.Span);
            sd.Add(s.Name, t, s.Type);
        }
        return new Content(sd, meta);
    }

    static (string, DType, int[], long, long) ParseSpec(JsonProperty prop, string path)
    {
        string name = prop.Name;
        try
        {
            var v = prop.Value;
            var type = ParseType(v.GetProperty("dtype").GetString() ?? "", path, name);
            var shape = v.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var offs = v.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (shape.Any(d => d < 0)) throw new InvalidDataException($"{path}: tensor '{name}' has a negative dimension");
            if (offs.Length != 2 || offs[0] < 0 || offs[1] < offs[0]) throw new InvalidDataException($"{path}: tensor '{name}' has bad data_offsets");
            long numel = 1;
            foreach (var d in shape) { numel *= d; if (numel > Array.MaxLength) throw new InvalidDataException($"{path}: tensor '{name}' is too large"); }
            if (numel * Size(type) != offs[1] - offs[0])
                throw new InvalidDataException($"{path}: tensor '{name}' of shape {ShapeUtil.Format(shape)} and dtype {type} needs {numel * Size(type)} bytes, offsets give {offs[1] - offs[0]}");
            return (name, type, shape, offs[0], offs[1]);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: tensor '{name}' has a malformed header entry ({e.Message})");
        }
    }

    internal static void Decode(ReadOnlySpan<byte> raw, DType type, Span<float> dst)
    {
        int sz = Size(type);
        for (int i = 0; i < dst.Length; i++)
        {
            var b = raw.Slice(i * sz, sz);
            dst[i] = type switch
            {
                DType.F32 => BinaryPrimitives.ReadSingleLittleEndian(b),
                DType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
                DType.BF16 => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
                DType.I64 => BinaryPrimitives.ReadInt64LittleEndian(b),
                DType.I32 => BinaryPrimitives.ReadInt32LittleEndian(b),
                _ => b[0],
            };
        }
    }

    /// <summary>Reads an integer tensor exactly (labels, indices) from a loaded float entry.</summary>
    public static IntTensor ToIntTensor(Tensor t)
    {
        var s = t.Contiguous().Span;
        var d = new long[s.Length];
        for (int i = 0; i < d.Length; i++) d[i] = (long)s[i];
        return new IntTensor(d, t.Shape.ToArray());
    }
}
