#!/usr/bin/env bash
# Checkpoint safety under real kills (docs/RELIABILITY.md, item 4).
#
# The `kill_resume` example trains the digits MLP, writing a training checkpoint after every
# step and resuming from it when it exists. This script
#   1. writes the reference: the hash of the state (weights, buffers, optimizer) at every step,
#      and checks that its last one equals an uninterrupted run's;
#   2. kills the trainer with SIGKILL KILLS times after random delays, each time checking that
#      the checkpoint on disk loads and equals the reference state at the step it records, and
#      counting the kills that landed inside a save (a temporary file was left);
#   3. aborts it at each test-only fault point of write_atomically (DESCENT_FAULT) and checks the
#      same, then resumes to the end and checks the final state;
#   4. caps the file size (RLIMIT_FSIZE, `ulimit -f`) so a save fails mid-write, and checks the
#      previous checkpoint is intact.
# Usage: .ci/kill_resume.sh [KILLS] (default 20); needs the release build of the example.
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-20}"
STEPS=400
BIN="${CARGO_TARGET_DIR:-target}/release/examples/kill_resume"
cargo build --release --example kill_resume -q
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "kill_resume: FAILED: $*"; exit 1; }

# 1. The reference.
"$BIN" --dir "$WORK/ref" --steps "$STEPS" --reference "$WORK/ref.txt" > "$WORK/ref.out"
"$BIN" --dir "$WORK/straight" --steps "$STEPS" > "$WORK/straight.out"
FINAL=$(awk '{print $2}' "$WORK/straight.out")
[ "$(tail -1 "$WORK/ref.txt")" = "$STEPS $FINAL" ] || fail "the step-by-step reference ends at $(tail -1 "$WORK/ref.txt"), an uninterrupted run at $FINAL"

# 2. Random kills.
inside=0; loaded=0; empty=0; completed=0
for i in $(seq 1 "$KILLS"); do
    "$BIN" --dir "$WORK/run" --steps "$STEPS" > "$WORK/run.out" 2>&1 &
    pid=$!
    sleep "0.$(printf '%03d' $(( 50 + RANDOM % 250 )))"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
    else
        # It finished before the kill: its final state must be the reference's; start over.
        wait "$pid" || fail "the trainer failed: $(cat "$WORK/run.out")"
        grep -q "final $FINAL at step $STEPS" "$WORK/run.out" || fail "a run resumed across kills ended at $(cat "$WORK/run.out"), not $FINAL"
        completed=$((completed + 1))
        rm -rf "$WORK/run"
        continue
    fi
    v=$("$BIN" --dir "$WORK/run" --verify "$WORK/ref.txt" 2>&1) || fail "after kill $i: $v"
    case "$v" in none*) empty=$((empty + 1)) ;; *) loaded=$((loaded + 1)) ;; esac
    case "$v" in *inside-save*) inside=$((inside + 1)) ;; esac
done
# The killed run resumes to the end, equal to the uninterrupted one.
"$BIN" --dir "$WORK/run" --steps "$STEPS" > "$WORK/run.out"
grep -q "final $FINAL at step $STEPS" "$WORK/run.out" || fail "the resumed run ended at $(cat "$WORK/run.out"), not $FINAL"
echo "kill_resume: $KILLS SIGKILLs: checkpoint loaded and equal to the reference state $loaded times (no checkpoint yet $empty times, run completed before the kill $completed times); $inside kills landed inside a save"

# 3. Fault points: abort at the 5th save, check, resume to the end.
for point in mid-temp-write after-temp-write before-fsync before-rename after-rename; do
    dir="$WORK/fault-$point"
    if DESCENT_FAULT="$point:5" "$BIN" --dir "$dir" --steps "$STEPS" > "$WORK/fault.out" 2>&1; then
        fail "DESCENT_FAULT=$point did not stop the trainer"
    fi
    v=$("$BIN" --dir "$dir" --verify "$WORK/ref.txt" 2>&1) || fail "after the fault $point: $v"
    "$BIN" --dir "$dir" --steps "$STEPS" > "$WORK/fault.out"
    grep -q "final $FINAL at step $STEPS" "$WORK/fault.out" || fail "resumed after $point: $(cat "$WORK/fault.out")"
    echo "kill_resume: fault point $point: checkpoint at $v, resumed to the reference's final state"
done

# 4. A save that fails mid-write (the file size capped below the checkpoint's ~1 MB): the
# process is stopped by SIGXFSZ or reports the error; the previous checkpoint stays.
dir="$WORK/fsize"
"$BIN" --dir "$dir" --steps 3 > /dev/null
if (ulimit -f 512; "$BIN" --dir "$dir" --steps 6) > "$WORK/fsize.out" 2>&1; then
    fail "a save past RLIMIT_FSIZE succeeded"
fi
v=$("$BIN" --dir "$dir" --verify "$WORK/ref.txt" 2>&1) || fail "after a failed write: $v"
case "$v" in "step 3"*) ;; *) fail "after a failed write the checkpoint is at '$v', not step 3" ;; esac
echo "kill_resume: a save past RLIMIT_FSIZE left the previous checkpoint ($v)"
