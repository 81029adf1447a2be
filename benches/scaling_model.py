#!/usr/bin/env python3
"""The cluster model of docs/SCALING.md: a data-parallel step on N machines takes
C(B/N) + R(N), the compute of the local batch plus the gradient reduction, with

    R(N) = 2 (N - 1) / N * S / BW + 2 (N - 1) * alpha

(descent's reduction: an all-to-all then an all-gather, each moving (N - 1) / N of the S
gradient bytes per rank, with N - 1 messages each; no overlap with backward).

Usage: python3 benches/scaling_model.py < compute.txt, where compute.txt is the output of
`dist_scaling compute` (step times at local batch B/N on one machine). Prints, per workload and
network, the speedup over one machine and the parallel efficiency."""
import re
import sys

NETWORKS = {  # name: (payload bandwidth bytes/s, per-message latency s)
    "10 GbE (TCP)": (1.15e9, 25e-6),
    "100 Gb/s InfiniBand": (11.5e9, 2e-6),
}
# Gradient bytes per step: W1 269,322 f32 parameters, W2 1,199,882.
SIZES = {"W1": 269_322 * 4, "W2": 1_199_882 * 4}
BATCH = {"W1": 128, "W2": 64}

steps = {"W1": {}, "W2": {}}
for line in sys.stdin:
    m = re.match(r"N=(\d+)\s+W1 step at local batch\s+\d+: ([\d.]+) ms\s+W2 step at local batch\s+\d+: ([\d.]+) ms", line)
    if m:
        n = int(m.group(1))
        steps["W1"][n] = float(m.group(2)) / 1e3
        steps["W2"][n] = float(m.group(3)) / 1e3

for w in ("W1", "W2"):
    one = steps[w][1]
    print(f"\n{w} (global batch {BATCH[w]}, {SIZES[w] / 1e6:.2f} MB of gradients; one machine: "
          f"{one * 1e3:.2f} ms/step, {BATCH[w] / one:.0f} samples/s)")
    print("| N | local batch | compute ms | " + " | ".join(
        f"{net}: reduce ms, samples/s, speedup, efficiency" for net in NETWORKS) + " |")
    print("|---|---|---|" + "---|" * len(NETWORKS))
    for n, c in sorted(steps[w].items()):
        cells = []
        for net, (bw, alpha) in NETWORKS.items():
            r = 0.0 if n == 1 else 2 * (n - 1) / n * SIZES[w] / bw + 2 * (n - 1) * alpha
            t = c + r
            cells.append(f"{r * 1e3:.2f}, {BATCH[w] / t:,.0f}, {one / t:.2f}x, {one / t / n:.0%}")
        print(f"| {n} | {BATCH[w] // n} | {c * 1e3:.2f} | " + " | ".join(cells) + " |")

# Weak scaling: every machine keeps the full batch (global batch N x B; the learning rate then
# usually needs raising), so only the reduction is added to a step.
for w in ("W1", "W2"):
    one = steps[w][1]
    print(f"\n{w} weak scaling (local batch {BATCH[w]} on every machine, global {BATCH[w]} x N)")
    print("| N | " + " | ".join(f"{net}: samples/s, speedup, efficiency" for net in NETWORKS) + " |")
    print("|---|" + "---|" * len(NETWORKS))
    for n in sorted(steps[w]):
        cells = []
        for net, (bw, alpha) in NETWORKS.items():
            r = 0.0 if n == 1 else 2 * (n - 1) / n * SIZES[w] / bw + 2 * (n - 1) * alpha
            t = one + r
            cells.append(f"{n * BATCH[w] / t:,.0f}, {n * one / t:.2f}x, {one / t:.0%}")
        print(f"| {n} | " + " | ".join(cells) + " |")
