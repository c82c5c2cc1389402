#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs `hierars demo` (arguments are passed on).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec dotnet src/HieraRS.Cli/bin/Release/net10.0/hierars.dll demo "$@"
