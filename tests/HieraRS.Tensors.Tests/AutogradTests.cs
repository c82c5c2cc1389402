using HieraRS.Tensors;

namespace HieraRS.Tensors.Tests;

public class AutogradTests
{
    [Fact]
    public void LeafGradientsAccumulateAcrossBackwardCalls()
    {
        var x = Tensor.FromArray([1f, 2f, 3f], 3);
        x.RequiresGrad = true;
        (x * x).Sum().Backward();
        (x * 3f).Sum().Backward();
        Assert.Equal(new[] { 5f, 7f, 9f }, x.Grad!.ToArray()); // 2x + 3
    }

    [Fact]
    public void LeavesAreReportedOnceWhenTheirGradientIsFinal()
    {
        Tensor Leaf(params float[] v) { var t = Tensor.FromArray(v, v.Length); t.RequiresGrad = true; return t; }
        var (w1, w2, x) = (Leaf(2f), Leaf(3f), Leaf(5f));
        // z = (w1 * x) * w2 + w1: w1 gets gradients from the first op (last in backward) and from the sum;
        // w2 only from the outer product, so it is final before w1's first op runs
        var z = (w1 * x * w2 + w1).Sum();
        var seen = new List<(Tensor Leaf, float Grad)>();
        z.Backward(leafReady: t => seen.Add((t, t.Grad!.Item())));
        Assert.Equal(3, seen.Count);
        Assert.Equal(3, seen.Select(s => s.Leaf).Distinct(ReferenceEqualityComparer.Instance).Count());
        foreach (var (leaf, grad) in seen) Assert.Equal(leaf.Grad!.Item(), grad); // final when reported
        Assert.Equal(16f, w1.Grad!.Item()); // x * w2 + 1
        Assert.True(seen.FindIndex(s => ReferenceEquals(s.Leaf, w2)) < seen.FindIndex(s => ReferenceEquals(s.Leaf, w1)), "w2 is final before w1");
    }

    [Fact]
    public void ReusedTensorGetsSummedGradient()
    {
        var x = Tensor.FromArray([2f], 1);
        x.RequiresGrad = true;
        var y = x * x;            // y = x^2
        (y * y + y).Sum().Backward(); // d/dx (x^4 + x^2) = 4x^3 + 2x = 36
        Assert.Equal(36f, x.Grad!.Item());
    }

    [Fact]
    public void AReleasedIntermediateServesTheNextTensorOfItsLengthAndNothingElse()
    {
        const int n = (1 << 18) + 4321; // a length no other test asks for (the reuse list is shared)
        var a = Tensor.Empty(n);
        var array = a.AsArray();
        a.Release(); // grad mode on: a later op's backward could hold it
        Assert.NotSame(array, Tensor.Empty(n).AsArray());
        using (GradMode.NoGrad()) a.Release();
        Assert.Same(array, Tensor.Empty(4321 + (1 << 18)).AsArray());
        Assert.NotSame(array, Tensor.Empty(n).AsArray()); // taken once

        // a tensor that requires grad, one in a graph, and a view keep their arrays
        var w = Tensor.Zeros(n);
        w.RequiresGrad = true;
        var inGraph = w * 2f;
        var whole = Tensor.Empty(2, n);
        var view = whole.Narrow(0, 1, 1);
        using (GradMode.NoGrad())
            foreach (var t in new[] { w, inGraph, view }) t.Release();
        for (int i = 0; i < 3; i++)
        {
            var fresh = Tensor.Empty(n).AsArray();
            Assert.False(ReferenceEquals(fresh, w.AsArray()) || ReferenceEquals(fresh, inGraph.AsArray()), "a graph's tensor was handed out");
        }
        Assert.NotSame(whole.AsArray(), Tensor.Empty(2 * n).AsArray());
    }

    [Fact]
    public void NoGradScopeRecordsNothing()
    {
        var x = Tensor.Ones(2);
        x.RequiresGrad = true;
        Tensor y;
        using (GradMode.NoGrad()) y = x * 2f;
        Assert.False(y.RequiresGrad);
        Assert.True((x * 2f).RequiresGrad);
    }

    [Fact]
    public void SecondBackwardThroughFreedGraphThrows()
    {
        var x = Tensor.Ones(2);
        x.RequiresGrad = true;
        var y = (x * 2f).Sum();
        y.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("second time", e.Message);
    }

    [Fact]
    public void BackwardOfNonScalarNeedsGradient()
    {
        var x = Tensor.Ones(2);
        x.RequiresGrad = true;
        Assert.Throws<InvalidOperationException>(() => (x * 2f).Backward());
    }

    [Fact]
    public void DetachCutsTheGraph()
    {
        var x = Tensor.Ones(2);
        x.RequiresGrad = true;
        var y = (x * 2f).Detach();
        Assert.False(y.RequiresGrad);
        Assert.True(y.IsLeaf);
    }

    [Fact]
    public void ViewsShareStorage()
    {
        var x = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        var t = x.Transpose(0, 1);
        Assert.False(t.IsContiguous);
        Assert.Equal(new[] { 1f, 4f, 2f, 5f, 3f, 6f }, t.ToArray());
        x[0, 1] = 20f;
        Assert.Equal(20f, t[1, 0]);
        Assert.Equal(new[] { 4f, 5f, 6f }, x.Narrow(0, 1, 1).ToArray());
    }

    [Fact]
    public void BroadcastErrorsNameTheShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, 3) + Tensor.Zeros(4));
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4]", e.Message);
    }

    [Fact]
    public void CrossEntropyRejectsLabelsOutsideTheClasses()
    {
        var e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.Zeros(1, 3, 2), IntTensor.FromArray(new long[] { 1, 7 }, 1, 2), ignoreIndex: 255));
        Assert.Contains("target value 7", e.Message);
    }

    [Fact]
    public void SameSeedAndThreadsGiveBitIdenticalTraining()
    {
        float[] Run()
        {
            var gen = new Generator(42);
            var x = Tensor.Randn([4, 3, 16, 16], gen);
            var w = Tensor.Randn([8, 3, 3, 3], gen); w.RequiresGrad = true;
            var y = F.BatchNorm(F.Conv2d(x, w, null, padding: 1), null, null, null, null, true).Relu();
            var loss = F.CrossEntropy(y, new IntTensor(4, 16, 16), reduction: Reduction.MeanAll);
            loss.Backward();
            return [loss.Item(), .. w.Grad!.ToArray()];
        }
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void HandComputedConvolution()
    {
        // 1x1x3x3 input 1..9, 2x2 kernel of ones, no padding: sums of each 2x2 window
        var x = Tensor.FromArray([1f, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1, 3, 3);
        var y = F.Conv2d(x, Tensor.Ones(1, 1, 2, 2));
        Assert.Equal(new[] { 12f, 16f, 24f, 28f }, y.ToArray());
    }
}
