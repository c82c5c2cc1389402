using System.Text.Json;
using HieraRS.Domain.Hierarchies;
using HieraRS.Domain.Metrics;

namespace HieraRS.Domain.Tests;

/// <summary>Every figure against hand-computed cases.</summary>
public class MetricsTests
{
    // truth rows / prediction columns: [[2,1,0],[0,1,1],[0,0,1]], one ignored pixel
    static ConfusionMatrix Example(int classes = 3)
    {
        var cm = new ConfusionMatrix(classes);
        cm.Add([0, 0, 0, 1, 1, 2, 255], [0, 0, 1, 1, 2, 2, 0]);
        return cm;
    }

    [Fact]
    public void ScoresOfAHandComputedMatrix()
    {
        var s = new LevelScores(Example());
        Assert.Equal(6, s.Pixels);
        Assert.Equal(new[] { 2 / 3.0, 1 / 3.0, 0.5 }, s.Iou, new Tolerance());
        Assert.Equal(new[] { 1.0, 0.5, 0.5 }, s.Precision, new Tolerance());
        Assert.Equal(new[] { 2 / 3.0, 0.5, 1.0 }, s.Recall, new Tolerance());
        Assert.Equal(new[] { 0.8, 0.5, 2 / 3.0 }, s.F1, new Tolerance());
        Assert.Equal(0.5, s.MIoU, 12);
        Assert.Equal(13 / 18.0, s.MAcc, 12);
        Assert.Equal((0.8 + 0.5 + 2 / 3.0) / 3, s.MF1, 12);
        Assert.Equal(4 / 6.0, s.OverallAccuracy, 12);
        Assert.Equal(0.5, s.Kappa, 12); // po 2/3, pe (3*2 + 2*2 + 1*2)/36 = 1/3
    }

    [Fact]
    public void AbsentClassesAreLeftOutOfTheMeans()
    {
        var s = new LevelScores(Example(classes: 4));
        Assert.True(double.IsNaN(s.Iou[3]) && double.IsNaN(s.F1[3]));
        Assert.Equal(0.5, s.MIoU, 12);
    }

    [Fact]
    public void ClassNeverPredictedHasZeroPrecision()
    {
        var cm = new ConfusionMatrix(2);
        cm.Add([0, 1], [0, 0]);
        var s = new LevelScores(cm);
        Assert.Equal(0, s.Precision[1]);
        Assert.Equal(0, s.F1[1]);
        Assert.Equal(0.25, s.MIoU, 12); // (1/2 + 0) / 2
        Assert.Equal(0, s.Kappa, 12);   // po 1/2, pe (1*2 + 1*0)/4 = 1/2
    }

    [Fact]
    public void AllIgnoredGivesUndefinedScores()
    {
        var cm = new ConfusionMatrix(3);
        cm.Add([255, 255], [0, 1]);
        var s = new LevelScores(cm);
        Assert.Equal(0, s.Pixels);
        Assert.True(double.IsNaN(s.MIoU) && double.IsNaN(s.OverallAccuracy) && double.IsNaN(s.Kappa));
    }

    [Fact]
    public void ConsistencyAndPathAccuracy()
    {
        var h = HierarchyLoader.Builtin("gid");
        var m = new HierarchicalMetrics(h);
        // pixel 0: full path industrial (0,0,0) predicted right; pixel 1: labelled at L2 only (farmland),
        // predicted water/farmland/paddy, an invalid path; pixel 2: unlabelled
        byte[][] truth = [[0, 1, 255], [0, 1, 255], [0, 255, 255]];
        byte[][] pred = [[0, 2, 1], [0, 1, 1], [0, 4, 4]];
        m.Add(truth, pred);
        Assert.Equal(2, m.EvaluatedPixels);
        Assert.Equal(0.5, m.Consistency, 12);
        Assert.Equal(1.0, m.PathAccuracy, 12);
        Assert.Equal(1, m.Levels[2].Total);
        var json = JsonDocument.Parse(m.ToJson()).RootElement;
        Assert.Equal("gid", json.GetProperty("hierarchy").GetString());
        Assert.Equal(2, json.GetProperty("pixels").GetInt64());
        var l1 = json.GetProperty("levels")[0];
        Assert.Equal(1, l1.GetProperty("level").GetInt32());
        Assert.Equal(3, l1.GetProperty("classes").GetArrayLength());
        Assert.Equal(0, l1.GetProperty("iou")[2].GetDouble()); // water: predicted, never true
        Assert.Equal(JsonValueKind.Null, json.GetProperty("levels")[1].GetProperty("iou")[2].ValueKind); // forest: absent
        Assert.Equal(0.5, l1.GetProperty("oa").GetDouble(), 6);
        Assert.Equal(1, l1.GetProperty("confusion")[1][2].GetInt64());
        Assert.Equal(0.5, json.GetProperty("consistency").GetDouble(), 6);
        Assert.Contains("| industrial land | 100.00 |", m.ToMarkdown());
        Assert.StartsWith("level,level_name,class,iou,precision,recall,f1\n1,L1,artificial surface,1.000000,", m.ToCsv());
    }

    sealed class Tolerance : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) < 1e-12;
        public int GetHashCode(double v) => 0;
    }
}
