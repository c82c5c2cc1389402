using System.Buffers.Binary;
using System.Text;
using HieraRS.NN;
using HieraRS.Tensors;
using HieraRS.Testing;

namespace HieraRS.NN.Tests;

public class SafeTensorsTests
{
    static string Temp() => Path.Combine(Path.GetTempPath(), $"st-{Guid.NewGuid()}.safetensors");

    [Fact]
    public void EveryDTypeRoundTrips()
    {
        var sd = new StateDict();
        sd.Add("f32", Tensor.FromArray([1.5f, -2.25f, 3e-8f], 3));
        sd.Add("f16", Tensor.FromArray([1.5f, -2.25f, 65504f], 3), DType.F16);
        sd.Add("bf16", Tensor.FromArray([1.5f, -2.25f, 1f / 3f], 3), DType.BF16);
        sd.Add("i64", Tensor.FromArray([1f, -7f, 1e6f], 3), DType.I64);
        sd.Add("i32", Tensor.FromArray([3f, -4f], 2), DType.I32);
        sd.Add("u8", Tensor.FromArray([0f, 255f, 17f], 3), DType.U8);
        sd.Add("scalar", Tensor.Scalar(4f));
        var path = Temp();
        SafeTensors.Save(path, sd);
        var back = SafeTensors.Load(path).Tensors;
        File.Delete(path);
        Assert.Equal(new[] { 1.5f, -2.25f, 3e-8f }, back["f32"].ToArray());
        Assert.Equal(new[] { 1.5f, -2.25f, 65504f }, back["f16"].ToArray());
        Assert.Equal(0.333984375f, back["bf16"].ToArray()[2]); // 1/3 rounded to 8 mantissa bits
        Assert.Equal(new[] { 1f, -7f, 1e6f }, back["i64"].ToArray());
        Assert.Equal(new[] { 0f, 255f, 17f }, back["u8"].ToArray());
        Assert.Equal(DType.BF16, back.TypeOf("bf16"));
        Assert.Empty(back["scalar"].Shape.ToArray());
    }

    [Fact]
    public void ReadsAFileWrittenByPython() // tools/safetensors_io.py wrote every fixture
    {
        var t = SafeTensors.Load(Path.Combine(AppContext.BaseDirectory, "fixtures", "ops", "conv3x3.safetensors")).Tensors;
        Assert.Equal(new[] { 4, 3, 3, 3 }, t["x1"].Shape.ToArray());
    }

    static void WriteRaw(string path, string header, int dataBytes, ulong? claimedLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        using var fs = File.Create(path);
        var len = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, claimedLength ?? (ulong)h.Length);
        fs.Write(len); fs.Write(h); fs.Write(new byte[dataBytes]);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "cover 8 data bytes but the file holds 4")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unsupported dtype 'Q7'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "expected 0 (gap or overlap)")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "malformed header entry")]
    [InlineData("{not json", 0, "not valid JSON")]
    public void CorruptFilesFailWithAClearError(string header, int dataBytes, string expected)
    {
        var path = Temp();
        WriteRaw(path, header, dataBytes);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        File.Delete(path);
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void OversizedHeaderLengthIsRejected()
    {
        var path = Temp();
        WriteRaw(path, "{}", 0, claimedLength: ulong.MaxValue / 2);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        File.Delete(path);
        Assert.Contains("header length", e.Message);
    }

    [Fact]
    public void SaveReplacesAtomicallyAndLeavesNoTemporaryFile()
    {
        var dir = SharedData.TempDir();
        var path = Path.Combine(dir, "w.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = Tensor.Ones(2) });
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = Tensor.Zeros(3) });
        Assert.Equal(new[] { "w.safetensors" }, Directory.GetFiles(dir).Select(Path.GetFileName));
        Assert.Equal(3, SafeTensors.Load(path).Tensors["a"].Numel);
        Directory.Delete(dir, true);
    }
}
