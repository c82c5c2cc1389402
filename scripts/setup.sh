#!/usr/bin/env bash
# Installs what HieraRS needs on a Debian/Ubuntu machine, if missing, and builds it in Release.
# Needs the .NET 10 SDK; Debian packages come from apt (sudo is used when not root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v dotnet >/dev/null || { echo "error: the .NET 10 SDK is required: https://learn.microsoft.com/dotnet/core/install/linux" >&2; exit 1; }

sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
apt_updated=0
ensure() { # ensure PACKAGE [ALTERNATIVE ...]: installs the first candidate apt knows unless one is installed
  local p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 && return 0; done
  if [ $apt_updated -eq 0 ]; then "${sudo_cmd[@]}" apt-get update -q >/dev/null; apt_updated=1; fi
  for p in "$@"; do
    if [ -n "$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"')" ]; then
      echo "installing $p"
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "$p" >/dev/null
      return 0
    fi
  done
  echo "error: none of these packages can be installed: $*" >&2
  return 1
}
ensure libopenblas0-pthread libopenblas0
ensure libgdal32 libgdal34t64 libgdal34 libgdal36 libgdal35
ensure libopenmpi3t64 libopenmpi3 # data-parallel training (mpirun); without it, training runs in one process
ensure openmpi-bin
ensure libmpich12 # MPICH, the other MPI: its launcher (mpiexec.mpich) works too; mpirun stays Open MPI's
ensure mpich

dotnet build HieraRS.slnx -c Release -nologo -v quiet -clp:ErrorsOnly
bash scripts/install-launcher.sh
