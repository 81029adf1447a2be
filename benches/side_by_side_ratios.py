"""Per-pair ratios from the output of benches/side_by_side.sh (read on stdin).

For each workload: every pair's descent and PyTorch medians, their ratio, the load average
before each run, the peak RSS of both processes, and the median (min-max) of the pairs' ratios.
Ratios are descent / PyTorch for throughputs (samples/s, GFLOP/s, GB/s) and PyTorch / descent
for W4's microseconds per op, so above 1 always means descent is faster.

    benches/side_by_side.sh 5 w1 w1b | tee pairs.log
    python3 benches/side_by_side_ratios.py < pairs.log
"""
import re
import statistics
import sys

runs = {}  # (pair, workload, side) -> {"load": .., "rss": .., "lines": {label: median}}
cur = None
for line in sys.stdin:
    m = re.match(r"## pair (\d+) (\w+) (descent|torch|torch-passive) \S+ load ([\d.]+) running (\d+)", line)
    if m:
        cur = {"load": float(m[4]), "running": int(m[5]), "rss": None, "lines": {}}
        runs[(int(m[1]), m[2], m[3])] = cur
        continue
    if cur is None:
        continue
    m = re.match(r"maxrss_kb (\d+)", line)
    if m:
        cur["rss"] = int(m[1]) / 1024
        continue
    m = re.match(r"(.{40}) median ([\d.]+) (\S+)", line)
    if m:
        cur["lines"][m[1].strip()] = (float(m[2]), m[3])

# Which descent line is compared with which PyTorch line.
MATCH = {
    "w1": [("W1 MLP train step, batch 128", "W1 MLP train step, batch 128")],
    "w1b": [("W1b MLP train step, batch 32", "W1b MLP train step, batch 32")],
    "w2": [("W2 CNN train step, batch 64", "W2 CNN train step, batch 64")],
    "w3": [(f"W3 {d} n={n} ({k})", f"W3 torch.mm n={n} ({k})")
           for n in (256, 512, 1024) for d, k in (("gemm kernel", "out="), ("matmul", "alloc"))],
    "w4": [("W4 tape overhead fwd+bwd", "W4 tape overhead fwd+bwd")],
    "w5": [("W5 z = x + y (alloc)", "W5 torch z = x + y (alloc)"),
           ("W5 add kernel into z (out=)", "W5 torch add(x, y, out=z)"),
           ("W5 z = relu(x) (alloc)", "W5 torch z = relu(x) (alloc)"),
           ("W5 x.add_into(&y, &mut z) (out=)", "W5 torch add(x, y, out=z)"),
           ("W5 z.add_(&y) (in place)", "W5 torch add(x, y, out=z)"),
           ("W5 relu kernel into z (out=)", "W5 torch clamp_min(x, 0, out=z)"),
           ("W5 x.relu_into(&mut z) (out=)", "W5 torch clamp_min(x, 0, out=z)"),
           ("W5 z.relu_() (in place)", "W5 torch clamp_min(x, 0, out=z)")],
}

workloads = sorted({w for (_, w, _) in runs}, key=lambda w: list(MATCH).index(w))
for w in workloads:
    pairs = sorted({p for (p, ww, _) in runs if ww == w})
    for dl, tl in MATCH[w]:
        for side in ("torch", "torch-passive"):
            ratios = []
            for p in pairs:
                d, t = runs.get((p, w, "descent")), runs.get((p, w, side))
                if not d or not t or dl not in d["lines"] or tl not in t["lines"]:
                    continue
                if not ratios:
                    print(f"{w}: {dl}  vs  {side} {tl}")
                (dv, unit), (tv, _) = d["lines"][dl], t["lines"][tl]
                r = tv / dv if unit == "us/op" else dv / tv
                ratios.append(r)
                print(f"  pair {p}: descent {dv:g} {unit} (load {d['load']}, rss {d['rss']:.0f} MB)"
                      f"  {side} {tv:g} (load {t['load']}, rss {t['rss']:.0f} MB)  ratio {r:.2f}")
            if ratios:
                print(f"  median ratio {statistics.median(ratios):.2f} "
                      f"(min {min(ratios):.2f}, max {max(ratios):.2f}; {len(ratios)} pairs)")
