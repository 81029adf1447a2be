#!/usr/bin/env bash
# Data-parallel training over MPI (docs/SCALING.md): installs Open MPI and libclang from Debian
# when missing, checks the default build links no MPI, builds the `mpi` feature, runs the
# scenarios of crates/descent-dist/tests/scenarios at 2 and 3 processes, the failure cases
# (each must end the whole job within a bound, never hang), and the mlp example under mpirun.
# Run from the repository root; called by .ci/run.
set -euo pipefail

need=()
command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
dpkg -s libopenmpi-dev >/dev/null 2>&1 || need+=(libopenmpi-dev)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} from Debian"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
fi
mpirun --version | head -1

# The default build (README's commands) must not need MPI.
if cargo tree --workspace -e normal,build --prefix none | grep -q '^mpi-sys'; then
    echo "the default build depends on mpi-sys"; exit 1
fi
echo "default build: no MPI in the dependency graph"

cargo clippy -p descent-dist -p descent --features mpi --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p descent-dist --features mpi
cargo build --release -p descent-dist --features mpi --example mpi_check
cargo build --release -p descent --features mpi --example mlp

# Inside containers Open MPI's shared-memory transport may need this.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Two or three processes on two cores: one compute thread each.
export RAYON_NUM_THREADS=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
CHECK=target/release/examples/mpi_check
LOG=$(mktemp -d)

# `run NP SCENARIO [ARGS]`: every rank must print its line and exit 0.
run() {
    local np=$1; shift
    timeout 300 "${MPIRUN[@]}" -np "$np" "$CHECK" "$@" > "$LOG/out" 2>&1 \
        || { cat "$LOG/out"; echo "mpi: $* on $np processes failed"; exit 1; }
    sort "$LOG/out"
    [ "$(grep -c '^rank [0-9]*: ' "$LOG/out")" -eq "$np" ] \
        || { echo "mpi: $* on $np processes: not every rank reported"; exit 1; }
}
for np in 2 3; do
    for s in equality determinism transports mismatch batchnorm; do run "$np" "$s"; done
done
# A checkpoint written by 2 processes resumes on 3, one written by 3 on 2.
for pair in "2 3" "3 2"; do
    read -r n m <<< "$pair"
    dir=$(mktemp -d)
    run "$n" resume-write "$dir"
    run "$m" resume-read "$dir"
    rm -rf "$dir"
done

# `fails SCENARIO BOUND PATTERN`: the job must end non-zero within BOUND seconds and say PATTERN.
fails() {
    local start took
    start=$(date +%s)
    if DESCENT_DIST_TIMEOUT=5 timeout 120 "${MPIRUN[@]}" -np 3 "$CHECK" "$1" > "$LOG/fail" 2>&1; then
        cat "$LOG/fail"; echo "mpi: $1 should end the job with an error"; exit 1
    fi
    took=$(( $(date +%s) - start ))
    grep -q "$3" "$LOG/fail" || { cat "$LOG/fail"; echo "mpi: $1 did not say '$3'"; exit 1; }
    [ "$took" -le "$2" ] || { echo "mpi: $1 took $took s to end the job (bound $2 s)"; exit 1; }
    echo "mpi: $1 ended every rank in $took s: $(grep -m1 "$3" "$LOG/fail")"
}
fails rank-fails 30 "rank 2 fails on purpose"
fails rank-panics 30 "rank 2 panicked; aborting the MPI job"
fails rank-hangs 60 "waited more than 5 s in an MPI"

# The main example, data-parallel on 2 processes: rank 0 alone prints, the accuracy stays.
# (mpirun gives ranks a terminal, so the log has progress bars: print the summary lines only.)
timeout 300 "${MPIRUN[@]}" -np 2 target/release/examples/mlp --out "$LOG/runs" > "$LOG/mlp.log" 2>&1 \
    || { tail -c 3000 "$LOG/mlp.log"; echo "mlp under mpirun failed"; exit 1; }
tr '\r' '\n' < "$LOG/mlp.log" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -a '^mlp: \|^epoch *[0-9]*/[0-9]* *loss' | uniq
grep -q "data-parallel over 2 processes" "$LOG/mlp.log" || { echo "mlp did not run data-parallel"; exit 1; }
[ "$(grep -c 'test accuracy' "$LOG/mlp.log")" -eq 1 ] || { echo "mlp: more than rank 0 printed"; exit 1; }
acc=$(grep -o 'test accuracy [0-9.]*%' "$LOG/mlp.log" | grep -o '[0-9.]*' | head -1)
awk -v a="$acc" 'BEGIN { exit !(a > 96) }' || { echo "mlp on 2 processes: $acc% is not above 96%"; exit 1; }
echo "mlp on 2 processes: test accuracy $acc%"

# The CNN example on 2 processes, and the mlp's checkpoint of a 2-process run resumed on 3.
summary() { tr '\r' '\n' < "$1" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | grep -a "^$2: \|^epoch *[0-9]*/[0-9]* *loss" | uniq; }
cargo build --release -p descent --features mpi --example cnn
timeout 300 "${MPIRUN[@]}" -np 2 target/release/examples/cnn --epochs 3 --out "$LOG/runs" > "$LOG/cnn.log" 2>&1 \
    || { tail -c 3000 "$LOG/cnn.log"; echo "cnn under mpirun failed"; exit 1; }
summary "$LOG/cnn.log" cnn
acc=$(grep -ao 'test accuracy [0-9.]*%' "$LOG/cnn.log" | grep -o '[0-9.]*' | head -1)
awk -v a="$acc" 'BEGIN { exit !(a > 80) }' || { echo "cnn on 2 processes: $acc% after 3 epochs is not above 80%"; exit 1; }
timeout 300 "${MPIRUN[@]}" -np 2 target/release/examples/mlp --epochs 2 --out "$LOG/resume" > "$LOG/r2.log" 2>&1 \
    || { tail -c 3000 "$LOG/r2.log"; exit 1; }
timeout 300 "${MPIRUN[@]}" -np 3 target/release/examples/mlp --epochs 3 --resume --out "$LOG/resume" > "$LOG/r3.log" 2>&1 \
    || { tail -c 3000 "$LOG/r3.log"; exit 1; }
summary "$LOG/r3.log" mlp
grep -aq "data-parallel over 3 processes" "$LOG/r3.log" && grep -aq "after 3 epochs" "$LOG/r3.log" \
    && [ "$(summary "$LOG/r3.log" mlp | grep -c '^epoch')" -eq 1 ] \
    || { echo "mlp: a 2-process checkpoint did not resume on 3 processes for the last epoch"; exit 1; }
echo "mlp: a checkpoint of 2 processes resumed on 3 for its last epoch"

# Launched by mpirun but built without MPI: a clear error, not a silent single-process run.
cargo build --release --example mlp 2>/dev/null
if OMPI_COMM_WORLD_SIZE=2 target/release/examples/mlp --epochs 1 > "$LOG/nompi" 2>&1; then
    echo "mlp built without MPI ran under an MPI launcher"; exit 1
fi
grep -q "built without MPI: build with \`--features mpi\`" "$LOG/nompi" || { cat "$LOG/nompi"; exit 1; }
echo "mlp built without MPI under a launcher: $(head -1 "$LOG/nompi")"
