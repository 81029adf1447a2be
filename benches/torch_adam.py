"""One torch.optim.Adam step over 1M and 10M float32 parameters, the anchor of benches/optim.rs.

Run beside `cargo bench --bench optim` on the same machine (ratios only hold within one run):
    python3 benches/torch_adam.py
Needs torch (see docs/anchors.md for the venv). Prints the median of 30 steps per
variant: the default (on CPU: the per-parameter for-loop), foreach=True and fused=True.
"""
import statistics
import time

import torch

torch.set_num_threads(2)


def bench(n, **kw):
    p = torch.nn.Parameter(torch.randn(n))
    p.grad = torch.randn(n) * 1e-3
    opt = torch.optim.Adam([p], lr=1e-3, **kw)
    opt.step()
    times = []
    for _ in range(30):
        t = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return med, 28 * n / med / 1e9


print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
for label, n in [("1M", 1 << 20), ("10M", 10_000_000)]:
    for name, kw in [("default", {}), ("foreach", {"foreach": True}), ("fused", {"fused": True})]:
        med, gbs = bench(n, **kw)
        print(f"adam_{label} {name:8s} median {med * 1e3:8.3f} ms  {gbs:6.1f} GB/s (28 B/param)")
