#!/usr/bin/env bash
# Hostile command lines for every example (docs/RELIABILITY.md, item 2): unknown flags, missing
# or non-numeric values, zero or negative sizes, learning rates <= 0 or NaN, data folders that
# do not exist or hold the wrong files. Each must exit non-zero with exactly one line on stderr
# and no "panicked" anywhere. Usage: .ci/example_cli.sh (builds the examples in release).
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=(mlp cnn linear_regression optimizers_2d basics reinforce vae)
cargo build --release -q $(printf -- '--example %s ' "${EXAMPLES[@]}")
BIN=$(cd "${CARGO_TARGET_DIR:-target}/release/examples" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Data folders: one that does not exist, one with garbage under the right names, one with a
# missing file, one with images where labels belong, one with a truncated gzip file.
mkdir -p "$WORK/garbage" "$WORK/missing" "$WORK/swapped" "$WORK/truncated" "$WORK/out"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    echo "not an idx file" > "$WORK/garbage/$f"
done
# A valid 2-image 28x28 images file and a 2-label file (IDX, big-endian header).
idx_images() { printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c\x00\x00\x00\x1c'; head -c 1568 /dev/zero; }
idx_labels() { printf '\x00\x00\x08\x01\x00\x00\x00\x02\x03\x07'; }
idx_images > "$WORK/missing/train-images-idx3-ubyte"
idx_labels > "$WORK/missing/train-labels-idx1-ubyte"
idx_images > "$WORK/missing/t10k-images-idx3-ubyte"
for f in train t10k; do
    idx_images > "$WORK/swapped/$f-images-idx3-ubyte"
    idx_images > "$WORK/swapped/$f-labels-idx1-ubyte"
    idx_images | gzip -c | head -c 40 > "$WORK/truncated/$f-images-idx3-ubyte.gz"
    idx_labels > "$WORK/truncated/$f-labels-idx1-ubyte"
done

# One case a line: the example, then its arguments (words; no quoting needed).
CASES="
mlp --bogus
mlp --lr
mlp --lr abc
mlp --lr 0
mlp --lr -0.1
mlp --lr nan
mlp --lr inf
mlp --batch-size 0
mlp --batch-size -3
mlp --batch-size 2.5
mlp --epochs -1
mlp --epochs ten
mlp --seed -1
mlp --shift x
mlp --optimizer lbfgs
mlp --schedule warm
mlp --data $WORK/does-not-exist
mlp --data $WORK/garbage
mlp --data $WORK/missing
mlp --data $WORK/swapped
mlp --data $WORK/truncated
mlp --out /dev/null/runs --epochs 1
mlp --save-model $WORK/no/such/dir/model.safetensors --epochs 1 --out $WORK/out
mlp extra-positional
cnn --bogus
cnn --lr nan
cnn --lr -1
cnn --batch-size 0
cnn --batch-size
cnn --data $WORK/garbage
cnn --data $WORK/does-not-exist
linear_regression --bogus
linear_regression --lr-gd 0
linear_regression --lr-sgd -1
linear_regression --lr-mb nan
linear_regression --batch 0
linear_regression --batch -2
linear_regression --samples 0
linear_regression --epochs x
linear_regression --out
linear_regression --out /dev/null/x.svg --epochs 1 --samples 20
optimizers_2d --bogus
optimizers_2d --tol 0
optimizers_2d --tol nan
optimizers_2d --valley-steps 0
optimizers_2d --rosenbrock-steps -5
optimizers_2d --out-dir $WORK/does-not-exist
basics --bogus
basics --size 0
basics --size -1
basics --size
basics --seed x
reinforce --bogus
reinforce --episodes 0
reinforce --episodes -1
reinforce --lr 0
reinforce --lr nan
reinforce --seed x
reinforce --out
reinforce --out /dev/null/x.svg --episodes 1
vae --bogus
vae --lr 0
vae --lr nan
vae --batch-size 0
vae --latent 0
vae --hidden -4
vae --epochs x
vae --seed
vae --data $WORK/does-not-exist
vae --data $WORK/garbage
vae --out /dev/null/runs --epochs 1
vae extra-positional
"
n=0
while read -r name args; do
    [ -z "$name" ] && continue
    n=$((n + 1))
    rc=0
    # shellcheck disable=SC2086
    (cd "$WORK/out" && timeout 120 "$BIN/$name" $args) > "$WORK/stdout" 2> "$WORK/stderr" || rc=$?
    lines=$(wc -l < "$WORK/stderr")
    if [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ] || [ "$lines" -ne 1 ] || grep -q panicked "$WORK/stderr" "$WORK/stdout"; then
        echo "example_cli: FAILED: '$name $args' exited $rc with $lines stderr lines:"
        cat "$WORK/stderr"
        exit 1
    fi
    printf '  %-70s exit %d: %s\n' "$name $args" "$rc" "$(cut -c1-110 "$WORK/stderr")"
done <<< "$CASES"
echo "example_cli: $n hostile command lines, each a one-line error and a non-zero exit"
