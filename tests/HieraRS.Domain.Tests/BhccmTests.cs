using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Decoding;
using HieraRS.Domain.Losses;
using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

/// <summary>BHCCM, L_HPC, L_HSC and JSPS against an independent PyTorch implementation (tools/make_golden_bhccm.py).</summary>
[Trait("Kernel", "Gemm")] // scripts/test.sh runs these again under OpenBLAS's Haswell kernels
public class BhccmTests
{
    static readonly ClassHierarchy Tree = HierarchyLoader.LoadFile(Path.Combine(AppContext.BaseDirectory, "fixtures", "bhccm", "tree.yaml"));

    [Theory]
    [InlineData("independent", BhccmMode.Independent, false)]
    [InlineData("c2f", BhccmMode.CoarseToFine, false)]
    [InlineData("f2c", BhccmMode.FineToCoarse, false)]
    [InlineData("bi", BhccmMode.Bidirectional, false)]
    [InlineData("bires", BhccmMode.BidirectionalResidual, false)]
    [InlineData("bires_relu", BhccmMode.BidirectionalResidual, true)]
    public void HeadMatchesPyTorchInEveryMode(string fixture, BhccmMode mode, bool relu)
    {
        var t = Golden.Load("bhccm", "head_" + fixture);
        var head = new BhccmClassifier(6, Tree.ClassCounts, mode, dropout: 0.1f, mergeRelu: relu);
        if (mode == BhccmMode.BidirectionalResidual) Assert.Equal(13, t.Count(kv => kv.Key.StartsWith("p.") && kv.Value.Numel == 1)); // method.md: 13 scalars for 3 levels
        // eval mode: dropout off, as in the fixture; the names and shapes load strictly
        Golden.CheckModule(t, head, xs => head.ForwardLevels(xs[0]), 1e-4, train: false);
    }

    [Fact]
    public void FlatHeadIsOneClassifierNamedLikeMmseg()
    {
        var flat = new BhccmClassifier(8, [4, 9, 18], BhccmMode.Flat);
        Assert.Equal(["conv_seg.weight", "conv_seg.bias"], flat.NamedParameters().Select(p => p.Name));
        Assert.Single(flat.ForwardLevels(Tensor.Randn([1, 8, 3, 3])));
        // a flat model's classifier loads into the hierarchical head's finest level
        var hier = new BhccmClassifier(8, [4, 9, 18]);
        var r = hier.LoadStateDict(flat.StateDict(), strict: false);
        Assert.Empty(r.UnexpectedKeys);
        Assert.Equal(flat.StateDict()["conv_seg.weight"].ToArray(), hier.StateDict()["conv_seg.weight"].ToArray());
    }

    [Fact]
    public void LossesAndJspsMatchPyTorch()
    {
        var t = Golden.Load("bhccm", "loss_jsps");
        var z = Enumerable.Range(0, 3).Select(i => { var v = t[$"z{i}"].CloneData(); v.RequiresGrad = true; return v; }).ToArray();
        var labels = Enumerable.Range(0, 3).Select(i => SafeTensors.ToIntTensor(t[$"label{i}"])).ToArray();
        var loss = new HierarchicalLoss(Tree, LossKind.Hsc, alpha: 2.0);
        var (total, terms) = loss.Compute(z, labels);
        Assert.Equal(t["hsc"].Item(), total.Item(), 1e-5f * Math.Abs(t["hsc"].Item()));
        Assert.Equal(t["hpc"].Item(), terms["hpc"], 1e-5f * Math.Abs(t["hpc"].Item()));
        Assert.Equal(t["hce"].Item(), terms["ce1"] + terms["ce2"] + terms["ce3"], 1e-5f * Math.Abs(t["hce"].Item()));
        total.Backward();
        for (int i = 0; i < 3; i++) Golden.AssertClose(t[$"gz{i}"], z[i].Grad!, 1e-4, $"L_HSC gradient of level {i + 1}");
        var (jsps, confidence) = Decoder.Jsps(Tree, t.Where(kv => kv.Key.StartsWith('z')).OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray());
        for (int i = 0; i < 3; i++) Assert.Equal(SafeTensors.ToIntTensor(t[$"jsps{i}"]).Data, jsps[i].Data);
        Assert.All(confidence.ToArray(), c => Assert.InRange(c, 1f / Tree.PathCount, 1f));
    }

    [Theory]
    [InlineData("tm", 0.0, 1.0)]
    [InlineData("tmfocal", 2.0, 5.0)]
    public void TreeMinLossMatchesPyTorch(string key, double gamma, double weight)
    {
        var t = Golden.Load("bhccm", "loss_jsps");
        var z = Enumerable.Range(0, 3).Select(i => { var v = t[$"z{i}"].CloneData(); v.RequiresGrad = true; return v; }).ToArray();
        var labels = Enumerable.Range(0, 3).Select(i => SafeTensors.ToIntTensor(t[$"label{i}"])).ToArray();
        var loss = new TreeMinLoss(Tree, weight, gamma).Compute(z, labels);
        Assert.Equal(t[key].Item(), loss.Item(), 1e-5f * Math.Abs(t[key].Item()));
        loss.Backward();
        for (int i = 0; i < 3; i++) Golden.AssertClose(t[$"g{key}{i}"], z[i].Grad!, 1e-4, $"{key} gradient of level {i + 1}");
    }

    [Fact]
    public void HpcIsZeroWithoutValidPixelsAndJspsAlwaysGivesValidPaths()
    {
        var z = Tree.ClassCounts.Select(k => Tensor.Randn([1, k, 4, 4], new Generator(3))).ToArray();
        var ignored = Enumerable.Range(0, 3).Select(_ => new IntTensor(Enumerable.Repeat(255L, 16).ToArray(), 1, 4, 4)).ToArray();
        Assert.Equal(0f, new HierarchicalLoss(Tree).Hpc(z, ignored).Item());
        var (labels, _) = Decoder.Jsps(Tree, z);
        Span<int> path = stackalloc int[3];
        for (int i = 0; i < 16; i++)
        {
            for (int l = 0; l < 3; l++) path[l] = (int)labels[l].Data[i];
            Assert.True(Tree.IsValidPath(path));
        }
        // independent argmax ignores the tree: with these logits some pixel disagrees with its path
        var ind = Decoder.Independent(z);
        Assert.Contains(Enumerable.Range(0, 16), i =>
        {
            Span<int> p = stackalloc int[3];
            for (int l = 0; l < 3; l++) p[l] = (int)ind[l].Data[i];
            return !Tree.IsValidPath(p);
        });
    }

    [Fact]
    public void HpcByHandOnOnePixel()
    {
        // two levels A{a1, a2}, B{b1}: paths (A,a1) (A,a2) (B,b1)
        var tree = HierarchyLoader.Parse("name: t\nlevels:\n  - classes: [{name: A, colour: [0,0,0]}, {name: B, colour: [0,0,0]}]\n" +
            "  - classes: [{name: a1, parent: A, colour: [0,0,0]}, {name: a2, parent: A, colour: [0,0,0]}, {name: b1, parent: B, colour: [0,0,0]}]\n", "t.yaml");
        var z1 = Tensor.FromArray([1f, 0f], 1, 2, 1, 1);
        var z2 = Tensor.FromArray([0f, 2f, 1f], 1, 3, 1, 1);
        double[] l1 = LogSoftmax([1, 0]), l2 = LogSoftmax([0, 2, 1]);
        double[] s = [l1[0] + l2[0], l1[0] + l2[1], l1[1] + l2[2]];
        double lse = Math.Log(s.Sum(Math.Exp));
        var y = new[] { new IntTensor([0L], 1, 1, 1), new IntTensor([1L], 1, 1, 1) };
        Assert.Equal(-(s[1] - lse), new HierarchicalLoss(tree).Hpc([z1, z2], y).Item(), 1e-6);
        var (jsps, conf) = Decoder.Jsps(tree, [z1, z2]);
        Assert.Equal((0L, 1L), (jsps[0].Data[0], jsps[1].Data[0]));
        Assert.Equal(Math.Exp(s[1] - lse), conf.Item(), 1e-6);

        static double[] LogSoftmax(double[] v)
        {
            double m = Math.Log(v.Sum(Math.Exp));
            return v.Select(x => x - m).ToArray();
        }
    }
}

[Trait("Kernel", "Gemm")] // scripts/test.sh runs these again under OpenBLAS's Haswell kernels
public class DecodeHeadTests
{
    static readonly int[] Counts = HierarchyLoader.LoadFile(Path.Combine(AppContext.BaseDirectory, "fixtures", "bhccm", "tree.yaml")).ClassCounts;

    [Fact]
    public void UPerHeadWithBhccmMatchesPyTorchInTraining()
    {
        var head = new UPerHead([4, 6, 8, 10], 6, Counts, BhccmMode.BidirectionalResidual, dropout: 0);
        Golden.CheckModule(Golden.Load("bhccm", "uper_bires"), head, head.Forward, 2e-4);
    }

    [Fact]
    public void DeepLabV3PlusHeadWithBhccmMatchesPyTorchInTraining()
    {
        var head = new DepthwiseSeparableAsppHead([4, 6, 8, 10], 6, Counts, BhccmMode.BidirectionalResidual, [1, 2, 3], c1Channels: 5, dropout: 0);
        Golden.CheckModule(Golden.Load("bhccm", "aspp_bires"), head, head.Forward, 2e-4);
    }

    [Fact]
    public void FcnHeadNamesAndShapes()
    {
        var aux = new FcnHead(24, 16, [5], inIndex: 2);
        Assert.Equal(["conv_seg.weight", "conv_seg.bias", "convs.0.conv.weight", "convs.0.bn.weight", "convs.0.bn.bias"],
            aux.NamedParameters().Select(p => p.Name));
        var feats = new[] { Tensor.Randn([1, 4, 8, 8]), Tensor.Randn([1, 8, 4, 4]), Tensor.Randn([1, 24, 4, 4]) };
        var y = Assert.Single(aux.Forward(feats));
        Assert.Equal([1, 5, 4, 4], y.Shape.ToArray());
    }
}
