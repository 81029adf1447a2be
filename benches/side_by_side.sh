#!/usr/bin/env bash
# Alternating same-run pairs of descent_bench and PyTorch's bench_torch.py (docs/PERFORMANCE.md,
# "Workloads through descent-nn"): for each pair and each workload, descent in a fresh process,
# then PyTorch in a fresh process, each under /usr/bin/time for its peak RSS, with the load
# average and the number of running tasks just before each run.
#
#   benches/side_by_side.sh PAIRS WORKLOAD...     e.g. benches/side_by_side.sh 5 w1 w1b
#
# Environment: ANCHORS (default ../shared/anchors), PYTHON (default $ANCHORS/.venv/bin/python,
# or /work/venv/bin/python when that exists), MIN_SECS and REPEATS (passed to both sides),
# CARGO_TARGET_DIR (where the release example is), PASSIVE=1 to also run PyTorch a second time
# with OMP_WAIT_POLICY=PASSIVE (its OpenMP threads sleep instead of spinning while they wait: on a
# loaded machine the default spinning can cost PyTorch 10-40x), FLUSH=1 to run both sides with
# subnormal numbers flushed (descent_bench --flush-denormal, torch.set_flush_denormal(True)).
# Prints one line per run, to be
# read by eye or by benches/side_by_side_ratios.py.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="$1"
shift
ANCHORS="${ANCHORS:-$(cd ../shared/anchors 2>/dev/null && pwd || echo /work/shared/anchors)}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x /work/venv/bin/python ]; then PYTHON=/work/venv/bin/python; else PYTHON="$ANCHORS/.venv/bin/python"; fi
fi
export RAYON_NUM_THREADS=2 MATMUL_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
cargo build --release --example descent_bench >/dev/null 2>&1
BIN="${CARGO_TARGET_DIR:-target}/release/examples/descent_bench"
flags=()
torch_run=(bench_torch.py)
if [ -n "${FLUSH:-}" ]; then
    flags=(--flush-denormal)
    torch_run=(-c 'import runpy, sys, torch; assert torch.set_flush_denormal(True); runpy.run_path("bench_torch.py", run_name="__main__")')
fi
load() { printf 'load %s running %s' "$(cut -d' ' -f1 /proc/loadavg)" "$(grep procs_running /proc/stat | cut -d' ' -f2)"; }
for p in $(seq 1 "$pairs"); do
    for w in "$@"; do
        echo "## pair $p $w descent $(date -u +%H:%M:%S) $(load)"
        /usr/bin/time -f "maxrss_kb %M" "$BIN" "$w" "${flags[@]}" 2>&1 | grep -v '^descent '
        echo "## pair $p $w torch $(date -u +%H:%M:%S) $(load)"
        (cd "$ANCHORS/python" && /usr/bin/time -f "maxrss_kb %M" "$PYTHON" "${torch_run[@]}" "$w" 2>&1 | grep -v '^torch ')
        if [ -n "${PASSIVE:-}" ]; then
            echo "## pair $p $w torch-passive $(date -u +%H:%M:%S) $(load)"
            (cd "$ANCHORS/python" && OMP_WAIT_POLICY=PASSIVE /usr/bin/time -f "maxrss_kb %M" "$PYTHON" bench_torch.py "$w" 2>&1 | grep -v '^torch ')
        fi
    done
done
