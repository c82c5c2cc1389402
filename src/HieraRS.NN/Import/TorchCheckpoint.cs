using HieraRS.Platform;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using HieraRS.Tensors;

namespace HieraRS.NN.Import;

/// <summary>
/// Reads the tensors of a file written by torch.save, in the zip format (PyTorch 1.6 and later) or the
/// legacy format before it, through the restricted <see cref="Unpickler"/>: nothing in the file runs.
/// Tensors come back as float32 with the dtype they were stored as (float16 / bfloat16 / float64 /
/// integers are converted); the nesting of the checkpoint (state_dict, model, meta, ...) is kept as
/// dotted names, which <see cref="WeightFile"/> then selects from.
/// </summary>
public static class TorchCheckpoint
{
    /// <summary>torch storage classes: their element type and size, and the dtype the tensor is reported as.</summary>
    static readonly Dictionary<string, (Scalar Kind, int Size)> StorageTypes = new()
    {
        ["FloatStorage"] = (Scalar.F32, 4), ["HalfStorage"] = (Scalar.F16, 2), ["BFloat16Storage"] = (Scalar.BF16, 2),
        ["DoubleStorage"] = (Scalar.F64, 8), ["LongStorage"] = (Scalar.I64, 8), ["IntStorage"] = (Scalar.I32, 4),
        ["ShortStorage"] = (Scalar.I16, 2), ["CharStorage"] = (Scalar.I8, 1), ["ByteStorage"] = (Scalar.U8, 1),
        ["BoolStorage"] = (Scalar.U8, 1),
    };

    /// <summary>Globals a checkpoint of tensors and plain data needs; everything else is refused.</summary>
    static readonly HashSet<string> Allowed =
    [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "_codecs.encode", "builtins.set", "builtins.frozenset",
        .. StorageTypes.Keys.Select(k => "torch." + k),
    ];

    enum Scalar { F32, F16, BF16, F64, I64, I32, I16, I8, U8 }

    /// <summary>A storage the pickle refers to: where its bytes are and how to read them.</summary>
    sealed record Storage(string Key, Scalar Kind, int ElementSize)
    {
        public Func<byte[]> Bytes = () => [];
    }

    sealed record TensorRef(Storage Storage, long Offset, int[] Size, long[] Stride);

    static readonly byte[] ZipMagic = [0x50, 0x4b, 0x03, 0x04];

    /// <summary>True when the file starts like a torch.save file (a zip, or a pickle).</summary>
    public static bool Sniff(ReadOnlySpan<byte> head) => head.StartsWith(ZipMagic) || head.Length > 1 && head[0] == 0x80 && head[1] <= 5;

    /// <summary>Every tensor in the file, named by its path through the checkpoint's dicts ("state_dict.conv1.weight").</summary>
    public static StateDict Load(string path)
    {
        byte[] head = new byte[4];
        using (var fs = InputFile.OpenRead(path, "torch.save checkpoint")) fs.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        object? root;
        try { root = head.AsSpan().StartsWith(ZipMagic) ? LoadZip(path) : LoadLegacy(path); }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: damaged archive ({e.Message})"); // System.IO.Compression's own words
        }
        var sd = new StateDict();
        Collect(root, "", sd, path);
        if (sd.Count == 0) throw new InvalidDataException($"{path}: holds no tensors");
        return sd;
    }

    static object? LoadZip(string path)
    {
        ZipArchive zip;
        try { zip = ZipFile.OpenRead(path); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: not a readable zip (torch.save) file: {e.Message}"); }
        using var _ = zip;
        var pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') <= 1)
            ?? throw new InvalidDataException($"{path}: a zip without data.pkl is not a torch.save file");
        string prefix = pkl.FullName[..^"data.pkl".Length];
        long fileLength = new FileInfo(path).Length;
        byte[] Entry(string name)
        {
            var e = zip.GetEntry(prefix + name) ?? throw new InvalidDataException($"{path}: the pickle refers to {prefix}{name}, which the archive lacks");
            // sizes come from the archive's directory: checked against the file (deflate expands at most 1032:1)
            if (e.CompressedLength > fileLength || e.Length > Math.Max(e.CompressedLength, 1) * 1032 || e.Length > Array.MaxLength)
                throw new InvalidDataException($"{path}: entry {e.FullName} claims {e.Length:N0} bytes from {e.CompressedLength:N0} stored; corrupt");
            var b = new byte[e.Length];
            try { using var s = e.Open(); s.ReadExactly(b); }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException) { throw new InvalidDataException($"{path}: entry {e.FullName} is corrupt ({ex.Message})"); }
            return b;
        }
        var storages = new Dictionary<string, Storage>();
        var u = new Unpickler(Entry("data.pkl"), path, Allowed)
        {
            Reduce = (g, a) => Rebuild(g, a, path),
            PersistentLoad = pid =>
            {
                // ('storage', storage_type, key, location, numel)
                var t = pid as PickleTuple ?? throw new InvalidDataException($"{path}: a persistent id that is not a tuple");
                var s = StorageOf(t, path, storages);
                var bytes = new Lazy<byte[]>(() => Entry("data/" + s.Key));
                s.Bytes = () => bytes.Value;
                return s;
            },
        };
        var root = u.Load();
        return Materialise(root, path);
    }

    static object? LoadLegacy(string path)
    {
        var info = new FileInfo(path);
        if (info.Length > Array.MaxLength) throw new InvalidDataException($"{path}: a legacy checkpoint over 2 GB is not supported; re-save it with torch.save (zip format)");
        var data = File.ReadAllBytes(path);
        var storages = new Dictionary<string, Storage>();
        int at = 0;
        object? Next(Func<object?, object?>? persistent = null)
        {
            var u = new Unpickler(data, path, Allowed, at)
            {
                Reduce = (g, a) => Rebuild(g, a, path),
                PersistentLoad = persistent ?? (_ => throw new InvalidDataException($"{path}: unexpected persistent id in the header")),
            };
            var v = u.Load();
            at = u.Position;
            return v;
        }
        if (Next() is not BigInteger magic || magic != BigInteger.Parse("119547037146038801333356"))
            throw new InvalidDataException($"{path}: neither a zip nor a legacy torch.save file (no magic number)");
        if (Next() is not long protocol || protocol != 1001) throw new InvalidDataException($"{path}: legacy torch.save protocol other than 1001");
        Next(); // sys_info: byte order and type sizes, little-endian on every platform torch supports today
        var views = new List<(Storage View, Storage Root, long Offset)>();
        var root = Next(pid =>
        {
            // ('storage', storage_type, root_key, location, numel, view_metadata)
            var t = pid as PickleTuple ?? throw new InvalidDataException($"{path}: a persistent id that is not a tuple");
            var s = StorageOf(t, path, storages);
            if (t.Items.Length > 5 && t.Items[5] is PickleTuple view)
            {
                var v = new Storage($"{s.Key}/{view.Items[0]}", s.Kind, s.ElementSize);
                views.Add((v, s, view.Items.Length > 1 && view.Items[1] is long off ? off : throw new InvalidDataException($"{path}: a storage view without an integer offset")));
                return v;
            }
            return s;
        });
        if (Next() is not List<object?> keys) throw new InvalidDataException($"{path}: the storage key list is missing");
        foreach (var k in keys)
        {
            string key = k?.ToString() ?? "";
            if (at > data.Length - 8) throw new InvalidDataException($"{path}: truncated before storage {key}");
            long count = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(at, 8));
            at += 8;
            var s = storages.TryGetValue(key, out var found) ? found : throw new InvalidDataException($"{path}: storage {key} is listed but never used");
            if (count < 0 || count > (data.Length - at) / s.ElementSize) throw new InvalidDataException($"{path}: storage {key} runs past the end of the file; truncated");
            int begin = at, n = (int)count * s.ElementSize;
            s.Bytes = () => data.AsSpan(begin, n).ToArray();
            at += n;
        }
        foreach (var (v, r, off) in views)
            v.Bytes = () =>
            {
                var rb = r.Bytes();
                return off >= 0 && off * r.ElementSize <= rb.Length ? rb.AsSpan((int)(off * r.ElementSize)).ToArray()
                    : throw new InvalidDataException($"{path}: a view of storage {r.Key} starts at element {off}, beyond its {rb.Length / r.ElementSize}");
            };
        return Materialise(root, path);
    }

    static Storage StorageOf(PickleTuple t, string path, Dictionary<string, Storage> storages)
    {
        if (t.Items.Length < 5 || t.Items[0] is not "storage" || t.Items[1] is not PickleGlobal type)
            throw new InvalidDataException($"{path}: a persistent id that is not a storage reference");
        string key = t.Items[2]?.ToString() ?? throw new InvalidDataException($"{path}: a storage without a key");
        var (kind, size) = type.Module == "torch" && StorageTypes.TryGetValue(type.Name, out var st) ? st
            : throw new InvalidDataException($"{path}: storage {key} has the type {type}, not a torch storage class");
        if (!storages.TryGetValue(key, out var s)) storages[key] = s = new Storage(key, kind, size);
        return s;
    }

    /// <summary>What an allowed global builds: tensor references, ordered dicts, parameters (their data), bytes.</summary>
    static object? Rebuild(PickleGlobal g, object?[] a, string path) => g.ToString() switch
    {
        "collections.OrderedDict" => new PickleDict(),
        "torch._utils._rebuild_tensor_v2" or "torch._utils._rebuild_tensor" => new TensorRef(
            a[0] as Storage ?? throw new InvalidDataException($"{path}: a tensor without a storage"),
            Convert.ToInt64(a[1]), Ints(a[2], path).Select(v => checked((int)v)).ToArray(), Ints(a[3], path)),
        "torch._utils._rebuild_parameter" => a[0],
        "_codecs.encode" => System.Text.Encoding.Latin1.GetBytes((string)a[0]!),
        "builtins.set" or "builtins.frozenset" => a.Length > 0 ? a[0] : new List<object?>(),
        _ => g, // a storage class named in a persistent id
    };

    static long[] Ints(object? o, string path) => o switch
    {
        PickleTuple t => t.Items.Select(Convert.ToInt64).ToArray(),
        List<object?> l => l.Select(Convert.ToInt64).ToArray(),
        _ => throw new InvalidDataException($"{path}: a tensor size or stride that is not a tuple"),
    };

    /// <summary>Replaces tensor references by tensors, now that every storage's bytes are known.</summary>
    static object? Materialise(object? o, string path) => o switch
    {
        TensorRef r => ToTensor(r, path),
        PickleDict d => Rebuilt(d, path),
        List<object?> l => l.Select(v => Materialise(v, path)).ToList(),
        PickleTuple t => new PickleTuple(t.Items.Select(v => Materialise(v, path)).ToArray()),
        _ => o,
    };

    static PickleDict Rebuilt(PickleDict d, string path)
    {
        var r = new PickleDict();
        foreach (var (k, v) in d.Items) r.Set(k, Materialise(v, path));
        return r;
    }

    sealed record Loaded(Tensor Tensor, DType Type);

    static Loaded ToTensor(TensorRef r, string path)
    {
        var bytes = r.Storage.Bytes();
        long stored = bytes.Length / r.Storage.ElementSize;
        long numel = 1, last = r.Offset;
        for (int d = 0; d < r.Size.Length; d++)
        {
            if (r.Size[d] < 0 || r.Stride.Length != r.Size.Length || r.Stride[d] < 0) throw new InvalidDataException($"{path}: tensor of storage {r.Storage.Key} has a bad size or stride");
            numel *= r.Size[d];
            if (numel > Array.MaxLength) throw new InvalidDataException($"{path}: tensor of storage {r.Storage.Key} is too large");
            if (r.Size[d] > 0) last += (r.Size[d] - 1) * r.Stride[d];
        }
        if (numel > Math.Max(stored, 1 << 24))
            throw new InvalidDataException($"{path}: tensor of storage {r.Storage.Key} expands {stored} stored values to {numel}; refused as corrupt");
        if (numel > 0 && (r.Offset < 0 || last >= stored))
            throw new InvalidDataException($"{path}: tensor of storage {r.Storage.Key} reaches element {last}, the storage holds {stored}; truncated or corrupt");
        var t = Tensor.Empty(r.Size);
        var dst = t.Span;
        var type = r.Storage.Kind switch { Scalar.F16 => DType.F16, Scalar.BF16 => DType.BF16, Scalar.I64 => DType.I64, Scalar.I32 => DType.I32, Scalar.U8 => DType.U8, Scalar.F32 => DType.F32, _ => (DType?)null };
        if (type is { } direct && IsContiguous(r))
        {
            SafeTensors.Decode(bytes.AsSpan((int)(r.Offset * r.Storage.ElementSize), (int)(numel * r.Storage.ElementSize)), direct, dst);
            return new Loaded(t, direct);
        }
        var idx = new int[r.Size.Length];
        for (long i = 0; i < numel; i++)
        {
            long at = r.Offset;
            for (int d = 0; d < idx.Length; d++) at += idx[d] * r.Stride[d];
            dst[(int)i] = Element(bytes, at, r.Storage);
            for (int d = idx.Length - 1; d >= 0 && ++idx[d] == r.Size[d]; d--) idx[d] = 0;
        }
        return new Loaded(t, type ?? DType.F32);
    }

    static bool IsContiguous(TensorRef r)
    {
        long expect = 1;
        for (int d = r.Size.Length - 1; d >= 0; d--)
        {
            if (r.Size[d] != 1 && r.Stride[d] != expect) return false;
            expect *= r.Size[d];
        }
        return true;
    }

    static float Element(byte[] b, long i, Storage s)
    {
        var p = b.AsSpan((int)(i * s.ElementSize), s.ElementSize);
        return s.Kind switch
        {
            Scalar.F32 => BinaryPrimitives.ReadSingleLittleEndian(p),
            Scalar.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(p),
            Scalar.BF16 => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(p) << 16),
            Scalar.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(p),
            Scalar.I64 => BinaryPrimitives.ReadInt64LittleEndian(p),
            Scalar.I32 => BinaryPrimitives.ReadInt32LittleEndian(p),
            Scalar.I16 => BinaryPrimitives.ReadInt16LittleEndian(p),
            Scalar.I8 => (sbyte)p[0],
            _ => p[0],
        };
    }

    /// <summary>Flattens nested dicts (and lists) into dotted names, keeping only tensors.</summary>
    static void Collect(object? o, string prefix, StateDict sd, string path)
    {
        switch (o)
        {
            case Loaded l:
                if (sd.ContainsKey(prefix)) throw new InvalidDataException($"{path}: two tensors are both named '{prefix}'");
                sd.Add(prefix, l.Tensor, l.Type);
                break;
            case PickleDict d:
                foreach (var (k, v) in d.Items) Collect(v, Join(prefix, k.ToString() ?? ""), sd, path);
                break;
            case List<object?> list:
                for (int i = 0; i < list.Count; i++) Collect(list[i], Join(prefix, i.ToString()), sd, path);
                break;
        }
    }

    static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;
}
