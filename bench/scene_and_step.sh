#!/usr/bin/env bash
# One round, on a quiet machine, of what docs/performance.md and docs/mpi.md report:
#  - whole-scene prediction of a synthetic SIZE² scene with the demo checkpoint (window 512, overlap 64,
#    2 threads): the native engine at --batch 1, 2 and 4, ONNX Runtime at --batch 1 and 4, the PyTorch twin;
#  - a training step of the demo config: 1 process x 2 threads against mpirun -np 2 x 1 thread.
# usage: bash bench/scene_and_step.sh [SIZE] [OUT]   (defaults 4096, /tmp/hierars-bench; run scripts/demo.sh first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
size=${1:-4096}; out=${2:-/tmp/hierars-bench}
ck=out/demo/train/best.safetensors
[ -f $ck ] || { echo "error: $ck is missing: run bash scripts/demo.sh first" >&2; exit 1; }
H="dotnet src/HieraRS.Cli/bin/Release/net10.0/hierars.dll"
mkdir -p $out
[ -d $out/scene-$size ] || $H synth --out $out/scene-$size --count 1 --size $size > /dev/null
scene=$(ls $out/scene-$size/image/*.tif | head -1)
[ -f $out/demo.onnx ] || $H export --checkpoint $ck --output $out/demo.onnx --window 512 > /dev/null
peak() { grep 'Maximum resident' "$1" | awk '{printf "%.2f GB", $6/1048576}'; }
for run in native:1 native:2 native:4 onnx:1 onnx:4; do
  e=${run%%:*}; b=${run##*:}; m=$ck; [ $e = onnx ] && m=$out/demo.onnx
  log=$out/predict-$e-$b.log
  /usr/bin/time -v $H predict --threads 2 --checkpoint $m --input $scene --output $out/predict-$e-$b.tif \
    --window 512 --overlap 64 --batch $b --restart > $log 2>&1
  echo "$e, batch $b: $(grep -E 'Mpx/s' $log | tail -1 | sed 's/^[^:]*: //'); peak $(peak $log)"
done
py=/usr/bin/python3 # Debian's, where python3-torch installs (a pyenv or venv python3 on PATH lacks it)
if [ -x $py ] && $py -c 'import torch' 2>/dev/null; then
  /usr/bin/time -v $py tools/bench_predict_torch.py $ck --size $size > $out/torch.log 2>&1
  echo "PyTorch twin: $(grep '^{' $out/torch.log); peak $(peak $out/torch.log)"
else echo "PyTorch twin: skipped (apt-get install python3-torch python3-torchvision)"; fi
rm -rf $out/step1 $out/step2
step() { python3 -c "import json,sys; t={e['iter']:e['seconds'] for e in map(json.loads,open(sys.argv[1])) if 'seconds' in e}; print(round((t[20]-t[10])/10,3))" $1/log.jsonl; }
$H --threads 2 train --config configs/demo.yaml --work-dir $out/step1 --stop-after 20 > $out/step1.log 2>&1
echo "training step, 1 process x 2 threads: $(step $out/step1) s (iterations 11-20)"
if command -v mpirun >/dev/null; then
  mpirun=$(command -v mpirun.openmpi || command -v mpirun)
  $mpirun --allow-run-as-root --oversubscribe -np 2 $H --threads 1 train --config configs/demo.yaml --work-dir $out/step2 --stop-after 20 > $out/step2.log 2>&1
  echo "training step, mpirun -np 2 x 1 thread: $(step $out/step2) s (iterations 11-20)"
fi
