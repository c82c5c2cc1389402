namespace HieraRS.Tensors;

/// <summary>One recorded operation: its inputs and the function mapping the output gradient to theirs.</summary>
internal sealed class Node(string name, Tensor[] inputs, Func<Tensor, Tensor?[]> backward)
{
    public readonly string Name = name;
    public readonly Tensor[] Inputs = inputs;
    public readonly Func<Tensor, Tensor?[]> Backward = backward;
}

/// <summary>Thread-local switch for recording operations.</summary>
public static class GradMode
{
    [ThreadStatic] static int disabledDepth;

    public static bool Enabled => disabledDepth == 0;

    /// <summary>Within the returned scope no graph is recorded (inference, optimizer updates).</summary>
    public static IDisposable NoGrad() { disabledDepth++; return new Scope(); }

    sealed class Scope : IDisposable
    {
        bool done;
        public void Dispose() { if (!done) { done = true; disabledDepth--; } }
    }
}

public sealed partial class Tensor
{
    /// <summary>Attaches a backward function when grad mode is on and any input requires grad.</summary>
    internal static Tensor Record(Tensor result, string name, Tensor[] inputs, Func<Tensor, Tensor?[]> backward)
    {
        if (!GradMode.Enabled) return result;
        foreach (var i in inputs)
        {
            if (!i.requiresGrad) continue;
            result.requiresGrad = true;
            result.GradFn = new Node(name, inputs, backward);
            return result;
        }
        return result;
    }

    internal static Tensor Record(Tensor result, string name, Tensor input, Func<Tensor, Tensor?> backward) =>
        Record(result, name, new[] { input }, g => new[] { backward(g) });

    /// <summary>
    /// Reverse-mode differentiation from this tensor (a scalar unless <paramref name="grad"/> is given).
    /// Leaf gradients accumulate into <see cref="Grad"/>; the graph is freed afterwards.
    /// </summary>
    public void Backward(Tensor? grad = null)
    {
        if (!requiresGrad) throw new InvalidOperationException("Backward() on a tensor that does not require grad");
        if (grad is null)
        {
            if (Numel != 1) throw new InvalidOperationException($"Backward() without a gradient needs a scalar, got shape {ShapeUtil.Format(shape)}");
            grad = Full(1f, shape);
        }
        else if (!ShapeUtil.SameShape(grad.Shape, shape))
            throw new ArgumentException($"gradient shape {ShapeUtil.Format(grad.Shape)} does not match tensor shape {ShapeUtil.Format(shape)}");

        var order = TopologicalOrder(this);
        foreach (var t in order)
            if (t.graphFreed)
                throw new InvalidOperationException("trying to backward through a graph a second time: its saved tensors were freed by the first Backward()");
        var grads = new Dictionary<Tensor, (Tensor G, bool Owned)>(ReferenceEqualityComparer.Instance) { [this] = (grad, false) };
        using (GradMode.NoGrad())
        {
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var t = order[i];
                if (!grads.Remove(t, out var entry)) { t.FreeGraph(); continue; }
                var node = t.GradFn;
                if (node is null)
                {
                    if (t.Grad is null) t.Grad = entry.Owned && entry.G.IsContiguous ? entry.G : entry.G.CloneData();
                    else t.Grad.AddInPlace(entry.G);
                    continue;
                }
                var inGrads = node.Backward(entry.G);
                t.FreeGraph(); // drops the saved tensors of this op
                for (int k = 0; k < node.Inputs.Length; k++)
                {
                    var input = node.Inputs[k];
                    var g = inGrads[k];
                    if (g is null || !input.requiresGrad) continue;
                    if (!ShapeUtil.SameShape(g.Shape, input.Shape))
                        throw new InvalidOperationException($"internal error: {node.Name} backward produced gradient {ShapeUtil.Format(g.Shape)} for input {ShapeUtil.Format(input.Shape)}");
                    if (grads.TryGetValue(input, out var prev))
                    {
                        if (prev.Owned && prev.G.IsContiguous) prev.G.AddInPlace(g);
                        else grads[input] = (prev.G.Add(g), true);
                    }
                    else grads[input] = (g, false);
                }
            }
        }
    }

    bool graphFreed;

    void FreeGraph()
    {
        if (GradFn is null) return;
        GradFn = null;
        graphFreed = true;
    }

    static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor T, int Next)>();
        stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (t, next) = stack.Pop();
            var inputs = t.GradFn?.Inputs;
            if (inputs is not null && next < inputs.Length)
            {
                stack.Push((t, next + 1));
                var c = inputs[next];
                if (c.requiresGrad && visited.Add(c)) stack.Push((c, 0));
            }
            else order.Add(t);
        }
        return order;
    }
}
