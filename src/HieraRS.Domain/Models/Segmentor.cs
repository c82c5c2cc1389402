using HieraRS.NN;
using HieraRS.Tensors;

namespace HieraRS.Domain.Models;

/// <summary>A backbone: multi-scale features (usually 4 stages at 1/4 ... 1/32) and their channels.</summary>
public interface IBackbone
{
    int[] OutChannels { get; }
    Tensor[] ForwardFeatures(Tensor x);
}

/// <summary>
/// MMSegmentation's EncoderDecoder: <c>backbone</c>, <c>decode_head</c> (any head with the
/// hierarchical classifier) and an optional <c>auxiliary_head</c> used only in training.
/// </summary>
public sealed class Segmentor : Module
{
    public Module Backbone { get; }
    public DecodeHead Head { get; }
    public DecodeHead? Auxiliary { get; }

    public Segmentor(Module backbone, DecodeHead head, DecodeHead? auxiliary = null)
    {
        if (backbone is not IBackbone) throw new ArgumentException($"{backbone.GetType().Name} is not a backbone");
        Backbone = Register("backbone", backbone);
        Head = Register("decode_head", head);
        if (auxiliary is not null) Auxiliary = Register("auxiliary_head", auxiliary);
    }

    Tensor[] Features(Tensor x) => ((IBackbone)Backbone).ForwardFeatures(x);

    /// <summary>Per-level logits of the decode head (at its resolution) and, when training with one, of the auxiliary head.</summary>
    public (Tensor[] Main, Tensor[]? Aux) ForwardTrain(Tensor x)
    {
        var f = Features(x);
        return (Head.Forward(f), Training && Auxiliary is not null ? Auxiliary.Forward(f) : null);
    }

    /// <summary>Per-level logits upsampled bilinearly to the input size (method.md §2.4).</summary>
    public Tensor[] Predict(Tensor x)
    {
        var logits = Head.Forward(Features(x));
        return logits.Select(z => F.Interpolate(z, x.Size(2), x.Size(3))).ToArray();
    }
}
