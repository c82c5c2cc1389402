using HieraRS.Tensors;

namespace HieraRS.NN;

/// <summary>Result of a non-strict state-dict load.</summary>
public sealed record LoadResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>
/// Base of every network building block, as torch.nn.Module: named children, parameters and
/// buffers in registration order, train / eval mode, and state dicts with PyTorch's dotted names.
/// </summary>
public abstract class Module
{
    readonly List<(string Name, Module Module)> children = new();
    readonly List<(string Name, Tensor Tensor)> parameters = new();
    readonly List<(string Name, Tensor Tensor, DType Type)> buffers = new();

    public bool Training { get; private set; } = true;
    /// <summary>Frozen (<see cref="Freeze"/>): stays in eval mode and its parameters take no gradients.</summary>
    public bool Frozen { get; private set; }

    /// <summary>Single-input forward; modules with other signatures define their own methods.</summary>
    public virtual Tensor Forward(Tensor x) => throw new NotSupportedException($"{GetType().Name} has no single-input Forward");

    protected T Register<T>(string name, T module) where T : Module
    {
        CheckName(name);
        children.Add((name, module));
        return module;
    }

    protected Tensor RegisterParameter(string name, Tensor value)
    {
        CheckName(name);
        value.RequiresGrad = true;
        parameters.Add((name, value));
        return value;
    }

    /// <summary>A persistent non-trainable tensor; <paramref name="type"/> is its dtype in checkpoints.</summary>
    protected Tensor RegisterBuffer(string name, Tensor value, DType type = DType.F32)
    {
        CheckName(name);
        buffers.Add((name, value, type));
        return value;
    }

    void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.')) throw new ArgumentException($"invalid member name '{name}'");
        if (children.Any(c => c.Name == name) || parameters.Any(p => p.Name == name) || buffers.Any(b => b.Name == name))
            throw new ArgumentException($"'{name}' is already registered in {GetType().Name}");
    }

    /// <summary>Replaces a registered parameter or buffer tensor (same name), e.g. after loading.</summary>
    protected void ReplaceTensor(string name, Tensor value)
    {
        for (int i = 0; i < parameters.Count; i++)
            if (parameters[i].Name == name) { value.RequiresGrad = !Frozen; parameters[i] = (name, value); return; }
        for (int i = 0; i < buffers.Count; i++)
            if (buffers[i].Name == name) { buffers[i] = (name, value, buffers[i].Type); return; }
        throw new ArgumentException($"no tensor '{name}' in {GetType().Name}");
    }

    public IEnumerable<(string Name, Module Module)> NamedChildren() => children;

    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (n, m) in children)
            foreach (var x in m.NamedModules(Join(prefix, n))) yield return x;
    }

    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (n, p) in parameters) yield return (Join(prefix, n), p);
        foreach (var (n, m) in children)
            foreach (var x in m.NamedParameters(Join(prefix, n))) yield return x;
    }

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter);

    public IEnumerable<(string Name, Tensor Buffer, DType Type)> NamedBuffers(string prefix = "")
    {
        foreach (var (n, b, t) in buffers) yield return (Join(prefix, n), b, t);
        foreach (var (n, m) in children)
            foreach (var x in m.NamedBuffers(Join(prefix, n))) yield return x;
    }

    static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    public Module Train(bool on = true)
    {
        SetTraining(on);
        return this;
    }

    void SetTraining(bool on)
    {
        Training = on && !Frozen;
        if (Training) SetInference(false); // training changes the weights
        foreach (var (_, m) in children) m.SetTraining(Training);
    }

    /// <summary>In an inference scope (<see cref="Inference"/>): the weights stay as they are until it ends.</summary>
    protected bool InInference { get; private set; }

    /// <summary>
    /// Inference with weights that do not change until the returned scope ends (scene prediction):
    /// eval mode, and layers may keep derived forms of their weights (a convolution with its batch norm
    /// folded in, its Winograd transform). Training, loading weights or the end of the scope drops them.
    /// </summary>
    public IDisposable Inference()
    {
        Eval();
        foreach (var (_, m) in NamedModules()) m.SetInference(true);
        return new InferenceScope(this);
    }

    sealed class InferenceScope(Module module) : IDisposable
    {
        public void Dispose()
        {
            foreach (var (_, m) in module.NamedModules()) m.SetInference(false);
        }
    }

    void SetInference(bool on)
    {
        if (InInference && !on) DropInferenceState();
        InInference = on;
    }

    /// <summary>Forgets what was derived from the weights for inference (they may change now).</summary>
    protected virtual void DropInferenceState() { }

    /// <summary>
    /// Freezes the module for good: eval mode whatever its parent's mode (batch-norm statistics and
    /// dropout fixed), and no gradients for its parameters (optimizers skip them).
    /// </summary>
    public Module Freeze()
    {
        foreach (var (_, m) in NamedModules()) m.Frozen = true;
        foreach (var p in Parameters()) p.RequiresGrad = false;
        return Train(false);
    }

    /// <summary>The parameters an optimizer updates (those of frozen modules left out).</summary>
    public IEnumerable<(string Name, Tensor Parameter)> TrainableParameters() => NamedParameters().Where(p => p.Parameter.RequiresGrad);

    public Module Eval() => Train(false);

    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.Grad = null;
    }

    /// <summary>Parameters then buffers by dotted name; the tensors are shared, not copied.</summary>
    public StateDict StateDict()
    {
        var sd = new StateDict();
        foreach (var (n, p) in NamedParameters()) sd.Add(n, p);
        foreach (var (n, b, t) in NamedBuffers()) sd.Add(n, b, t);
        return sd;
    }

    /// <summary>
    /// Copies values into this module's tensors. Strict: any missing or unexpected key, or any
    /// shape mismatch, is an error naming it. Non-strict: returns the missing and unexpected keys
    /// (shape mismatches are still errors).
    /// </summary>
    public LoadResult LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
            throw new InvalidDataException("state dict does not match the model: " +
                (missing.Count > 0 ? $"missing keys: {string.Join(", ", missing.Take(20))}{(missing.Count > 20 ? ", ..." : "")}. " : "") +
                (unexpected.Count > 0 ? $"unexpected keys: {string.Join(", ", unexpected.Take(20))}{(unexpected.Count > 20 ? ", ..." : "")}." : ""));
        foreach (var (k, dst) in own)
        {
            if (!state.TryGetValue(k, out var src)) continue;
            if (!ShapeUtil.SameShape(src.Shape, dst.Shape))
                throw new InvalidDataException($"state dict entry '{k}' has shape {ShapeUtil.Format(src.Shape)}, the model expects {ShapeUtil.Format(dst.Shape)}");
            dst.CopyFrom(src);
        }
        RefreshInferenceState();
        return new LoadResult(missing, unexpected);
    }

    /// <summary>
    /// Copies the entries of <paramref name="state"/> whose names (passing <paramref name="include"/>) and
    /// shapes match this module's (pretrained or transferred weights; class-dependent layers keep their
    /// own); returns how many were copied.
    /// </summary>
    public int LoadMatching(IReadOnlyDictionary<string, Tensor> state, Func<string, bool>? include = null)
    {
        var own = StateDict();
        int n = 0;
        foreach (var (k, v) in state)
            if ((include?.Invoke(k) ?? true) && own.TryGetValue(k, out var dst) && ShapeUtil.SameShape(v.Shape, dst.Shape))
            {
                dst.CopyFrom(v);
                n++;
            }
        RefreshInferenceState();
        return n;
    }

    /// <summary>New weights: what inference derived from the old ones goes.</summary>
    void RefreshInferenceState()
    {
        foreach (var (_, m) in NamedModules()) m.DropInferenceState();
    }

    public long ParameterCount() => Parameters().Sum(p => (long)p.Numel);
}
