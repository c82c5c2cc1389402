using HieraRS.Tensors;

namespace HieraRS.NN;

/// <summary>Element types of stored tensors (safetensors names).</summary>
public enum DType { F32, F16, BF16, I64, I32, U8 }

/// <summary>
/// Named tensors in insertion order, with the dtype each is stored as (F32 unless said otherwise,
/// e.g. I64 for BatchNorm's num_batches_tracked).
/// </summary>
public sealed class StateDict : IReadOnlyDictionary<string, Tensor>
{
    readonly Dictionary<string, (Tensor Tensor, DType Type)> items = new();
    readonly List<string> order = new();

    public void Add(string name, Tensor t, DType type = DType.F32)
    {
        if (items.ContainsKey(name)) throw new ArgumentException($"duplicate state dict key '{name}'");
        items[name] = (t, type);
        order.Add(name);
    }

    public DType TypeOf(string name) => items[name].Type;

    public Tensor this[string key] => items.TryGetValue(key, out var v) ? v.Tensor : throw new KeyNotFoundException($"no state dict entry '{key}'");
    public IEnumerable<string> Keys => order;
    public IEnumerable<Tensor> Values => order.Select(k => items[k].Tensor);
    public int Count => order.Count;
    public bool ContainsKey(string key) => items.ContainsKey(key);

    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Tensor value)
    {
        if (items.TryGetValue(key, out var v)) { value = v.Tensor; return true; }
        value = null; return false;
    }

    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() =>
        order.Select(k => new KeyValuePair<string, Tensor>(k, items[k].Tensor)).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
