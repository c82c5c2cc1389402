namespace HieraRS.Tensors;

/// <summary>
/// Where an input's gradient goes: the node that produced it, or the leaf tensor that accumulates
/// it. Edges hold no non-leaf tensor, so activations live only as long as an op saves them.
/// </summary>
internal readonly record struct Edge(Node? Fn, Tensor? Leaf)
{
    public bool Active => Fn is not null || Leaf is not null;
}

/// <summary>One recorded operation: the edges to its inputs and the function mapping the output gradient to theirs.</summary>
internal sealed class Node(string name, Edge[] next, int[] outShape, Func<Tensor, Tensor?[]> backward)
{
    public readonly string Name = name;
    public readonly Edge[] Next = next;
    public readonly int[] OutShape = outShape;
    public Func<Tensor, Tensor?[]>? Backward = backward;
    public bool Freed => Backward is null;
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
        if (Profiler.Enabled) Profiler.Forward(name);
        if (!GradMode.Enabled || !inputs.Any(i => i.requiresGrad)) return result;
        var edges = new Edge[inputs.Length];
        for (int k = 0; k < inputs.Length; k++)
        {
            var i = inputs[k];
            if (i.requiresGrad) edges[k] = i.GradFn is { } fn ? new Edge(fn, null) : new Edge(null, i);
        }
        result.requiresGrad = true;
        result.GradFn = new Node(name, edges, result.shape, backward);
        return result;
    }

    internal static Tensor Record(Tensor result, string name, Tensor input, Func<Tensor, Tensor?> backward) =>
        Record(result, name, new[] { input }, g => new[] { backward(g) });

    /// <summary>
    /// Reverse-mode differentiation from this tensor (a scalar unless <paramref name="grad"/> is given).
    /// Leaf gradients accumulate into <see cref="Grad"/>; each op's saved tensors are released as soon
    /// as its backward has run, and the graph cannot be traversed again.
    /// </summary>
    /// <param name="leafReady">called once for each leaf the graph reaches, as soon as no later op can add to its
    /// gradient (its <see cref="Grad"/> is then final, or null if nothing reached it), while the rest of the
    /// backward pass still runs: data-parallel training starts reducing those gradients there.</param>
    public void Backward(Tensor? grad = null, Action<Tensor>? leafReady = null)
    {
        if (!requiresGrad) throw new InvalidOperationException("Backward() on a tensor that does not require grad");
        if (grad is null)
        {
            if (Numel != 1) throw new InvalidOperationException($"Backward() without a gradient needs a scalar, got shape {ShapeUtil.Format(shape)}");
            grad = Full(1f, shape);
        }
        else if (!ShapeUtil.SameShape(grad.Shape, shape))
            throw new ArgumentException($"gradient shape {ShapeUtil.Format(grad.Shape)} does not match tensor shape {ShapeUtil.Format(shape)}");

        using var _ = GradMode.NoGrad();
        if (GradFn is null) { Accumulate(this, grad, owned: false); leafReady?.Invoke(this); return; }
        Profiler.InBackward = true;
        try { RunBackward(grad, leafReady); }
        finally { Profiler.InBackward = false; Profiler.Mark(); }
    }

    void RunBackward(Tensor grad, Action<Tensor>? leafReady)
    {
        var order = TopologicalOrder(GradFn!);
        var lastUse = leafReady is null ? null : LastUse(order);
        var grads = new Dictionary<Node, (Tensor G, bool Owned)>(ReferenceEqualityComparer.Instance) { [GradFn!] = (grad, false) };
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var node = order[i];
            if (!grads.Remove(node, out var entry)) { node.Backward = null; Ready(node, i); continue; }
            long t0 = Profiler.Enabled ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            var inGrads = node.Backward!(entry.G);
            if (Profiler.Enabled) Profiler.Add(node.Name + " bwd", System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            node.Backward = null; // drops the tensors this op saved
            for (int k = 0; k < node.Next.Length; k++)
            {
                var edge = node.Next[k];
                var g = inGrads[k];
                if (g is null || !edge.Active) continue;
                if (edge.Leaf is { } leaf)
                {
                    CheckShape(node, g, leaf.shape);
                    Accumulate(leaf, g, owned: false);
                    continue;
                }
                var fn = edge.Fn!;
                CheckShape(node, g, fn.OutShape);
                if (grads.TryGetValue(fn, out var prev))
                {
                    if (prev.Owned && prev.G.IsContiguous) prev.G.AddInPlace(g);
                    else grads[fn] = (prev.G.Add(g), true);
                }
                else grads[fn] = (g, false);
            }
            Ready(node, i);
        }

        void Ready(Node node, int i)
        {
            if (lastUse is null) return;
            foreach (var edge in node.Next)
                if (edge.Leaf is { } leaf && lastUse.TryGetValue(leaf, out int last) && last == i)
                {
                    lastUse.Remove(leaf); // once, though this node may send it two gradients
                    leafReady!(leaf);
                }
        }
    }

    /// <summary>The leaves (tensors that require grad and have no producing op) this tensor's graph reaches.</summary>
    public IReadOnlySet<Tensor> GraphLeaves()
    {
        var leaves = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        if (GradFn is null) { if (requiresGrad) leaves.Add(this); return leaves; }
        foreach (var node in TopologicalOrder(GradFn))
            foreach (var edge in node.Next)
                if (edge.Leaf is { } leaf) leaves.Add(leaf);
        return leaves;
    }

    /// <summary>For each leaf, the position in <paramref name="order"/> of the last node (in backward order) that sends it a gradient.</summary>
    static Dictionary<Tensor, int> LastUse(List<Node> order)
    {
        var last = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        for (int i = order.Count - 1; i >= 0; i--) // backward runs from the end: the smallest position comes last
            foreach (var edge in order[i].Next)
                if (edge.Leaf is { } leaf) last[leaf] = i;
        return last;
    }

    static void CheckShape(Node node, Tensor g, int[] expected)
    {
        if (!ShapeUtil.SameShape(g.Shape, expected))
            throw new InvalidOperationException($"internal error: {node.Name} backward produced gradient {ShapeUtil.Format(g.Shape)} for input {ShapeUtil.Format(expected)}");
    }

    /// <summary>Adds into a leaf's gradient; a gradient that may alias other buffers is copied first.</summary>
    static void Accumulate(Tensor leaf, Tensor g, bool owned)
    {
        if (leaf.Grad is null) leaf.Grad = owned && g.IsContiguous ? g : g.CloneData();
        else leaf.Grad.AddInPlace(g);
    }

    static List<Node> TopologicalOrder(Node root)
    {
        var order = new List<Node>();
        var visited = new HashSet<Node>(ReferenceEqualityComparer.Instance) { root };
        var stack = new Stack<(Node N, int Next)>();
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (n, next) = stack.Pop();
            if (n.Freed)
                throw new InvalidOperationException($"trying to backward through a graph a second time ({n.Name}): its saved tensors were freed by the first Backward()");
            if (next < n.Next.Length)
            {
                stack.Push((n, next + 1));
                var c = n.Next[next].Fn;
                if (c is not null && visited.Add(c)) stack.Push((c, 0));
            }
            else order.Add(n);
        }
        return order;
    }
}
