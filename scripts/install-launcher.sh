#!/usr/bin/env bash
# Puts a `hierars` command on the PATH: a small launcher that runs this checkout's Release build
# (`dotnet .../hierars.dll "$@"`). Called by setup.sh after the build; safe to run again.
# Where: $HIERARS_BIN_DIR if set, else /usr/local/bin for root and ~/.local/bin otherwise.
# A `hierars` there that is not a HieraRS launcher is left alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dll="$PWD/src/HieraRS.Cli/bin/Release/net10.0/hierars.dll"
dotnet=$(command -v dotnet) || { echo "error: dotnet is not on the PATH" >&2; exit 1; }
[ -f "$dll" ] || { echo "error: $dll is missing: build first (bash scripts/setup.sh)" >&2; exit 1; }
if [ -n "${HIERARS_BIN_DIR:-}" ]; then bin="$HIERARS_BIN_DIR"
elif [ "$(id -u)" -eq 0 ]; then bin=/usr/local/bin
else bin="${HOME:?HOME is not set}/.local/bin"
fi
marker="# HieraRS launcher"
target="$bin/hierars"
if [ -e "$target" ] && ! grep -q "^$marker" "$target" 2>/dev/null; then
  echo "note: $target exists and is not a HieraRS launcher; left as it is. Run HieraRS as: dotnet $dll COMMAND" >&2
  exit 0
fi
mkdir -p "$bin"
tmp=$(mktemp "$bin/.hierars.XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '#!/bin/sh\n%s (scripts/install-launcher.sh): runs the build of %s\nexec %q %q "$@"\n' "$marker" "$PWD" "$dotnet" "$dll" > "$tmp"
chmod 755 "$tmp"
mv -f "$tmp" "$target"
trap - EXIT
case ":$PATH:" in
  *":$bin:"*) echo "installed the hierars command: $target" ;;
  *) echo "installed $target, but $bin is not on your PATH: add it (export PATH=\"$bin:\$PATH\") or run $target COMMAND" ;;
esac
