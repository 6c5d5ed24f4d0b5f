#!/usr/bin/env bash
# Fetches NudeNet v3's detector (320n.onnx from the nudenet 3.4.2 wheel) into var/nudenet/,
# checks its sha256 and prints its absolute path. Safe to run again: a verified cached copy is
# reused without network access. The model is never committed to the repository.
#
#   ops/lib/nudenet-model.sh            # fetch if needed, print the path
#   ops/lib/nudenet-model.sh --path     # print where the model is cached (fetch nothing)
set -euo pipefail
cd "$(dirname "$0")/../.."

version="3.4.2"
sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"
cache="$PWD/var/nudenet"
model="$cache/320n.onnx"

if [ "${1:-}" = "--path" ]; then
  echo "$model"
  exit 0
fi

verify() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha256" ]; }

if ! verify "$model"; then
  mkdir -p "$cache/wheel"
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$cache/wheel" "nudenet==$version" >&2
  wheel="$(ls "$cache"/wheel/nudenet-"$version"-*.whl | head -n1)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  unzip -q -o "$wheel" 'nudenet/320n.onnx' -d "$tmp"
  if ! verify "$tmp/nudenet/320n.onnx"; then
    echo "nudenet-model: sha256 of 320n.onnx in $wheel is not $sha256" >&2
    exit 1
  fi
  mv "$tmp/nudenet/320n.onnx" "$model"
fi
echo "$model"
