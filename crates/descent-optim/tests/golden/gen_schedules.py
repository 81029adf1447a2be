"""Generates schedules_golden.rs: learning rates of torch.optim.lr_scheduler, the oracle of tests/schedule.rs.

Written against torch 2.15.0+cu132 (run on the CPU; every value is a Python float), Python 3.11.
Run from this directory: python gen_schedules.py > schedules_golden.rs
The tests never run Python: they include the generated file.

Entry k of every array is the learning rate after k calls of `scheduler.step()`, that is the
learning rate of optimizer step k (0-based), which is what `Schedule::lr_at(k)` returns.
For ReduceLROnPlateau, entry k is the learning rate after `scheduler.step(METRICS[k])`.
"""

import warnings

import torch
from torch.optim import lr_scheduler as ls

warnings.filterwarnings("ignore")

STEPS = 30


def optimizer(lr):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def lrs(make, lr, steps=STEPS):
    """The learning rates of steps 0..steps of the scheduler `make(optimizer)`."""
    opt = optimizer(lr)
    sched = make(opt)
    out = [sched.get_last_lr()[0]]
    for _ in range(steps - 1):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def plateau(metrics, **kwargs):
    opt = optimizer(1.0)
    sched = ls.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for m in metrics:
        opt.step()
        sched.step(m)
        out.append(sched.get_last_lr()[0])
    return out


def warmup_cosine(opt):
    warm = ls.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=5)
    cos = ls.CosineAnnealingLR(opt, T_max=20, eta_min=0.001)
    return ls.SequentialLR(opt, schedulers=[warm, cos], milestones=[5])


def warmup_exponential(opt):
    warm = ls.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=3)
    exp = ls.ExponentialLR(opt, gamma=0.9)
    return ls.SequentialLR(opt, schedulers=[warm, exp], milestones=[3])


# Metrics fed to ReduceLROnPlateau: improvements, plateaus, a NaN and an infinity.
METRICS = [
    10.0, 9.0, 9.0, 9.0, 9.0, 8.0, 8.5, 8.5, 8.5, 8.5,
    8.5, 8.5, 7.0, float("nan"), 7.0, 7.0, 6.9999, 7.0, 5.0, 5.0,
    5.0, 5.0, float("inf"), 5.0, 5.0, 4.0, 4.0, 4.0, 4.0, 4.0,
]

CASES = [
    ("STEP_LR", "StepLR(lr=0.1, step_size=3, gamma=0.5)",
     lrs(lambda o: ls.StepLR(o, step_size=3, gamma=0.5), 0.1)),
    ("MULTI_STEP_LR", "MultiStepLR(lr=0.1, milestones=[2, 5, 9], gamma=0.3)",
     lrs(lambda o: ls.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3), 0.1)),
    ("EXPONENTIAL_LR", "ExponentialLR(lr=0.1, gamma=0.9)",
     lrs(lambda o: ls.ExponentialLR(o, gamma=0.9), 0.1)),
    # Steps 0..=T_max only: beyond T_max torch's recursive form rises again.
    ("COSINE", "CosineAnnealingLR(lr=0.1, T_max=20, eta_min=0.001), steps 0..=20",
     lrs(lambda o: ls.CosineAnnealingLR(o, T_max=20, eta_min=0.001), 0.1, 21)),
    ("COSINE_RESTARTS_1", "CosineAnnealingWarmRestarts(lr=0.1, T_0=5, T_mult=1, eta_min=0.001)",
     lrs(lambda o: ls.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=1, eta_min=0.001), 0.1)),
    ("COSINE_RESTARTS_2", "CosineAnnealingWarmRestarts(lr=0.1, T_0=3, T_mult=2, eta_min=0.0)",
     lrs(lambda o: ls.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.0), 0.1)),
    ("WARMUP_COSINE",
     "SequentialLR([LinearLR(start_factor=0.1, total_iters=5), "
     "CosineAnnealingLR(T_max=20, eta_min=0.001)], milestones=[5]), lr=0.1, steps 0..=25",
     lrs(warmup_cosine, 0.1, 26)),
    ("WARMUP_EXPONENTIAL",
     "SequentialLR([LinearLR(start_factor=0.25, total_iters=3), ExponentialLR(gamma=0.9)], "
     "milestones=[3]), lr=0.1",
     lrs(warmup_exponential, 0.1)),
    ("ONE_CYCLE_COS", "OneCycleLR(max_lr=0.1, total_steps=30), defaults",
     lrs(lambda o: ls.OneCycleLR(o, max_lr=0.1, total_steps=30, cycle_momentum=False), 0.1)),
    ("ONE_CYCLE_LINEAR",
     "OneCycleLR(max_lr=0.5, total_steps=30, pct_start=0.25, div_factor=10, "
     "final_div_factor=100, anneal_strategy='linear')",
     lrs(lambda o: ls.OneCycleLR(o, max_lr=0.5, total_steps=30, pct_start=0.25, div_factor=10.0,
                                 final_div_factor=100.0, anneal_strategy="linear",
                                 cycle_momentum=False), 0.1)),
    ("ONE_CYCLE_SHORT", "OneCycleLR(max_lr=0.1, total_steps=3, pct_start=0.2): warm-up phase shorter than one step",
     lrs(lambda o: ls.OneCycleLR(o, max_lr=0.1, total_steps=3, pct_start=0.2, cycle_momentum=False), 0.1, 3)),
    ("PLATEAU_MIN_REL",
     "ReduceLROnPlateau(lr=1, mode='min', factor=0.5, patience=2, threshold=1e-4, "
     "threshold_mode='rel', cooldown=0, min_lr=0.1) fed METRICS",
     plateau(METRICS, mode="min", factor=0.5, patience=2, threshold=1e-4, min_lr=0.1)),
    ("PLATEAU_MIN_ABS_COOLDOWN",
     "ReduceLROnPlateau(lr=1, mode='min', factor=0.1, patience=1, threshold=0.5, "
     "threshold_mode='abs', cooldown=2) fed METRICS",
     plateau(METRICS, mode="min", factor=0.1, patience=1, threshold=0.5, threshold_mode="abs",
             cooldown=2)),
    ("PLATEAU_MAX",
     "ReduceLROnPlateau(lr=1, mode='max', factor=0.5, patience=0, threshold=0.01) fed METRICS",
     plateau(METRICS, mode="max", factor=0.5, patience=0, threshold=0.01)),
]


def rust_f64(x):
    if x != x:
        return "f64::NAN"
    if x == float("inf"):
        return "f64::INFINITY"
    s = repr(float(x))
    return s if ("." in s or "e" in s) else s + ".0"


def main():
    print("// @generated by gen_schedules.py with torch " + torch.__version__ + "; do not edit.")
    print("// Entry k is torch's learning rate after k calls of `scheduler.step()`.")
    print()
    print("/// The metrics fed to ReduceLROnPlateau, one per call of `step(metric)`.")
    print(f"pub const METRICS: [f64; {len(METRICS)}] = [")
    for m in METRICS:
        print(f"    {rust_f64(m)},")
    print("];")
    for name, doc, values in CASES:
        print()
        print(f"/// torch `{doc}`.")
        print(f"pub const {name}: [f64; {len(values)}] = [")
        for v in values:
            print(f"    {rust_f64(v)},")
        print("];")


if __name__ == "__main__":
    main()
