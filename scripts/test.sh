#!/usr/bin/env bash
# The tests: installs what is missing, builds, and runs every test project (no Python needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test HieraRS.slnx -c Release --no-build -nologo 2>&1 | tee "$log" || status=$?
# OpenBLAS and our own kernels pick their code by CPU (AVX-512 machines run other code than AVX2 machines):
# the goldens that go through GEMM run again as on an AVX2 machine (OpenBLAS's Haswell kernels, .NET's
# 512-bit vectors off), so a pass here holds on both kinds.
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
  echo "GEMM goldens again under OPENBLAS_CORETYPE=Haswell DOTNET_EnableAVX512F=0"
  OPENBLAS_CORETYPE=Haswell DOTNET_EnableAVX512F=0 dotnet test HieraRS.slnx -c Release --no-build -nologo --filter "Kernel=Gemm" 2>&1 | tee -a "$log" || status=$?
fi
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
skipped=$(grep -oE 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
