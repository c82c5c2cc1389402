using HieraRS.Domain.Models;
using HieraRS.NN;
using HieraRS.Tensors;

// Weight interchange check with PyTorch, driven by tools/check_interop.py:
//   Interop IN OUT
// IN (written by Python): torchvision resnet18 weights as "model.*", an input "x" and torch's eval output "y".
// Loads the weights into our ResNet-18 (strict, by name), runs it in eval mode, and writes OUT with our
// own state dict (fresh parameters, I64 num_batches_tracked) as "model.*", the same input, our output
// on IN's weights ("y_in") and our output on our own weights ("y_own") for Python to check.
if (args.Length != 2) { Console.Error.WriteLine("usage: Interop IN.safetensors OUT.safetensors"); return 2; }
var input = SafeTensors.Load(args[0]).Tensors;
var model = ResNet.ResNet18();
model.LoadStateDict(input.Keys.Where(k => k.StartsWith("model.")).ToDictionary(k => k["model.".Length..], k => input[k]));
model.Eval();
Tensor Pool(Module m, Tensor x) { using var _ = GradMode.NoGrad(); return ((ResNet)m).ForwardFeatures(x)[3].Mean([2, 3]); }
var x = input["x"];
var yIn = Pool(model, x);
Engine.ManualSeed(7);
var own = ResNet.ResNet18();
own.Train();
using (GradMode.NoGrad()) own.ForwardFeatures(Tensor.Randn([2, 3, 64, 64], new Generator(3))); // non-trivial running stats
own.Eval();
var yOwn = Pool(own, x);
var output = new StateDict();
foreach (var (k, v) in own.StateDict()) output.Add("model." + k, v, own.StateDict().TypeOf(k));
output.Add("x", x);
output.Add("y_in", yIn);
output.Add("y_own", yOwn);
SafeTensors.Save(args[1], output, new Dictionary<string, string> { ["writer"] = "hierars" });
double diff = yIn.ToArray().Zip(input["y"].ToArray()).Max(p => Math.Abs(p.First - p.Second));
Console.WriteLine($"ours vs torch on torch's weights: max |diff| = {diff:G3}");
return diff < 1e-3 ? 0 : 1;
