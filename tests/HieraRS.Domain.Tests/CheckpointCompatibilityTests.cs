using HieraRS.Domain.Models;
using HieraRS.Domain.Modeling;
using HieraRS.Domain.Training;
using HieraRS.NN;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.Domain.Tests;

/// <summary>
/// Checkpoints written by earlier builds (tests/fixtures/checkpoints, written by tools/CheckpointFixtures
/// before the model description moved out of Training) still load, with every stored tensor in place and
/// the logits those builds gave on a fixed input.
/// </summary>
public class CheckpointCompatibilityTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "checkpoints", name + ".safetensors");

    /// <summary>The checkpoint as the earlier build wrote it (kept gzipped: its weights are mostly zeros).</summary>
    static string Written(string name) => SharedData.Unpacked(Fixture(name) + ".gz");

    [Theory]
    [InlineData("bhccm", typeof(Segmentor), new[] { 4, 9, 18 })]
    [InlineData("translu", typeof(TransLuModel), new[] { 2, 2, 4 })]
    public void OldCheckpointsLoadAndGiveTheirLogits(string name, Type kind, int[] classes)
    {
        var ck = Checkpoint.Load(Written(name));
        Assert.IsType(kind, ck.Model);
        Assert.Equal(classes, ck.Hierarchy.ClassCounts);
        // every tensor of the file, exactly, under its name
        var stored = SafeTensors.Load(Written(name)).Tensors;
        var loaded = ck.Model.StateDict();
        Assert.Equal(stored.Keys.Order(), loaded.Keys.Order());
        foreach (var k in stored.Keys) Assert.True(stored[k].ToArray().SequenceEqual(loaded[k].ToArray()), $"{name}: {k} differs");
        // and the network they describe: the logits of the build that wrote them
        var expected = SafeTensors.Load(Fixture(name + "_logits")).Tensors;
        Tensor[] logits;
        using (GradMode.NoGrad()) logits = ck.Model.Predict(expected["x"]);
        Assert.Equal(classes.Length, logits.Length);
        for (int l = 0; l < logits.Length; l++)
        {
            var (e, a) = (expected[$"y{l}"].ToArray(), logits[l].ToArray());
            Assert.Equal(e.Length, a.Length);
            double worst = e.Zip(a, (u, v) => Math.Abs(u - v)).Max();
            Assert.True(worst <= 1e-6, $"{name}: level {l + 1} logits differ by up to {worst:G3}");
        }
    }

    [Theory]
    [InlineData("bhccm")]
    [InlineData("translu")]
    public void ResavedCheckpointsStoreWhatTheEarlierBuildStored(string name)
    {
        var ck = Checkpoint.Load(Written(name));
        string path = Path.Combine(SharedData.TempDir(), name + ".safetensors");
        ck.Save(path);
        var again = SafeTensors.Load(path).Metadata;
        Assert.Equal(ck.Metadata.Keys.Order(), again.Keys.Order());
        foreach (var (k, v) in ck.Metadata)
            if (k is not ("hierars.version" or "dotnet")) Assert.Equal(v, again[k]);
    }
}
