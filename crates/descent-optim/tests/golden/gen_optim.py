"""Generates optim_golden.rs: parameter trajectories of torch.optim, the oracle of tests/golden.rs.

Written against torch 2.15.0+cu132 (run on the CPU, single-tensor implementations:
foreach=False), Python 3.11.
Run from this directory:
    /path/to/venv/bin/python gen_optim.py > optim_golden.rs
The tests never run Python: they include the generated file.

The problem: two parameters, w of shape [2, 3] and b of shape [3], and the loss

    L = sum(C * (w - T)^2) + 0.025 * sum(w^4) + 0.5 * sum((b - U)^2)
        + 0.1 * sum(w * b) + 0.01 * sum(w) * sum(b)

(w * b broadcasts b over the rows of w), whose gradient couples w and b and changes every step.
Every initial value and constant is a dyadic rational, exact in f32 and f64. Each case runs STEPS
steps of one optimizer from the same start; its trajectory holds the parameters after every step,
w (row-major) then b. The f64 cases run in float64, the f32 cases in float32 (their values are
stored as the exact f64 of the f32 results).

The options of every case are emitted with it, so the Rust test builds its optimizer from the
same numbers (booleans as 0.0 / 1.0).
"""

import math
import sys
import warnings

import torch

warnings.filterwarnings("ignore")

STEPS = 20

W0 = [[0.5, -1.25, 2.0], [-0.75, 1.5, -2.5]]
B0 = [0.25, -0.5, 1.0]
C = [[1.0, 0.5, 2.0], [1.5, 0.25, 0.75]]
T = [[1.0, 0.25, -0.5], [0.75, -1.0, 0.5]]
U = [1.0, 0.5, -0.75]


def loss_fn(w, b, dtype):
    c = torch.tensor(C, dtype=dtype)
    t = torch.tensor(T, dtype=dtype)
    u = torch.tensor(U, dtype=dtype)
    fit = (c * (w - t) ** 2).sum()
    quartic = (w**4).sum() * 0.025
    bias = ((b - u) ** 2).sum() * 0.5
    coupling = (w * b).sum() * 0.1
    cross = w.sum() * b.sum() * 0.01
    return fit + quartic + bias + coupling + cross


# Torch constructors and their options (the names of the descent config fields).
OPTIMIZERS = {
    "sgd": lambda params, o: torch.optim.SGD(
        params,
        lr=o["lr"],
        momentum=o.get("momentum", 0.0),
        dampening=o.get("dampening", 0.0),
        nesterov=bool(o.get("nesterov", 0.0)),
        weight_decay=o.get("weight_decay", 0.0),
        foreach=False,
    ),
    "adam": lambda params, o: torch.optim.Adam(
        params,
        lr=o["lr"],
        betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
        eps=o.get("eps", 1e-8),
        weight_decay=o.get("weight_decay", 0.0),
        amsgrad=bool(o.get("amsgrad", 0.0)),
        foreach=False,
    ),
    "adamw": lambda params, o: torch.optim.AdamW(
        params,
        lr=o["lr"],
        betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
        eps=o.get("eps", 1e-8),
        weight_decay=o.get("weight_decay", 0.0),
        amsgrad=bool(o.get("amsgrad", 0.0)),
        foreach=False,
    ),
    "rmsprop": lambda params, o: torch.optim.RMSprop(
        params,
        lr=o["lr"],
        alpha=o.get("alpha", 0.99),
        eps=o.get("eps", 1e-8),
        weight_decay=o.get("weight_decay", 0.0),
        momentum=o.get("momentum", 0.0),
        centered=bool(o.get("centered", 0.0)),
        foreach=False,
    ),
    "adagrad": lambda params, o: torch.optim.Adagrad(
        params,
        lr=o["lr"],
        lr_decay=o.get("lr_decay", 0.0),
        weight_decay=o.get("weight_decay", 0.0),
        initial_accumulator_value=o.get("initial_accumulator_value", 0.0),
        eps=o.get("eps", 1e-10),
        foreach=False,
    ),
}


def case(name, optimizer, options, group_b=None, lr_change=None, dtype="f64", clip=None):
    """A case: `group_b` is the options (lr, weight_decay) of a group holding only b;
    `lr_change` is (k, lr): after k steps the default lr becomes lr, and b's group's lr is scaled
    by the same factor; `clip` is ("norm", max_norm) or ("value", limit), applied to the
    gradients before every step (clip_grad_norm_ / clip_grad_value_)."""
    return dict(
        name=name,
        optimizer=optimizer,
        options=options,
        group_b=group_b,
        lr_change=lr_change,
        dtype=dtype,
        clip=clip,
    )


CASES = [
    # SGD
    case("sgd_plain", "sgd", {"lr": 0.05}),
    case("sgd_weight_decay", "sgd", {"lr": 0.05, "weight_decay": 0.1}),
    case("sgd_momentum", "sgd", {"lr": 0.05, "momentum": 0.9}),
    case("sgd_momentum_dampening", "sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    case("sgd_nesterov", "sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": 1.0}),
    case(
        "sgd_nesterov_weight_decay",
        "sgd",
        {"lr": 0.05, "momentum": 0.8, "nesterov": 1.0, "weight_decay": 0.05},
    ),
    # Adam
    case("adam_default", "adam", {"lr": 0.05}),
    # beta2 = 0.9 so that the second moment shrinks within 20 steps and its maximum matters.
    case("adam_amsgrad", "adam", {"lr": 0.05, "beta2": 0.9, "amsgrad": 1.0}),
    case("adam_weight_decay", "adam", {"lr": 0.05, "weight_decay": 0.1}),
    case("adam_betas_eps", "adam", {"lr": 0.05, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3}),
    # AdamW
    case("adamw_weight_decay", "adamw", {"lr": 0.05, "weight_decay": 0.1}),
    case(
        "adamw_amsgrad",
        "adamw",
        {"lr": 0.05, "beta2": 0.9, "weight_decay": 0.1, "amsgrad": 1.0},
    ),
    # RMSprop
    case("rmsprop_plain", "rmsprop", {"lr": 0.01}),
    case("rmsprop_centered", "rmsprop", {"lr": 0.01, "centered": 1.0}),
    case("rmsprop_momentum", "rmsprop", {"lr": 0.01, "momentum": 0.5}),
    case(
        "rmsprop_centered_momentum_weight_decay",
        "rmsprop",
        {"lr": 0.01, "alpha": 0.9, "centered": 1.0, "momentum": 0.5, "weight_decay": 0.1},
    ),
    # Adagrad
    case("adagrad_plain", "adagrad", {"lr": 0.1}),
    case("adagrad_lr_decay", "adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    case("adagrad_weight_decay", "adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    case("adagrad_initial_accumulator", "adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5}),
    # Parameter groups: b alone with its own lr and no weight decay.
    case(
        "groups_sgd_momentum",
        "sgd",
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1},
        group_b={"lr": 0.02, "weight_decay": 0.0},
    ),
    case(
        "groups_adamw",
        "adamw",
        {"lr": 0.05, "weight_decay": 0.1},
        group_b={"lr": 0.1, "weight_decay": 0.0},
    ),
    # A learning-rate change after step 10 (a group's own lr scales by the same factor).
    case("lr_change_sgd_momentum", "sgd", {"lr": 0.05, "momentum": 0.9}, lr_change=(10, 0.02)),
    case(
        "lr_change_adam_groups",
        "adam",
        {"lr": 0.05, "weight_decay": 0.01},
        group_b={"lr": 0.02, "weight_decay": 0.0},
        lr_change=(10, 0.0125),
    ),
    # Gradient clipping before each step (the first gradients have norm ~10 and elements ~5).
    case("clip_norm_sgd_momentum", "sgd", {"lr": 0.05, "momentum": 0.9}, clip=("norm", 1.0)),
    case("clip_value_adam", "adam", {"lr": 0.05}, clip=("value", 0.5)),
    # float32 runs.
    case("f32_adam", "adam", {"lr": 0.05}, dtype="f32"),
    case("f32_sgd_momentum", "sgd", {"lr": 0.05, "momentum": 0.9}, dtype="f32"),
]


def run(c):
    dtype = {"f64": torch.float64, "f32": torch.float32}[c["dtype"]]
    w = torch.tensor(W0, dtype=dtype, requires_grad=True)
    b = torch.tensor(B0, dtype=dtype, requires_grad=True)
    if c["group_b"] is None:
        params = [w, b]
    else:
        params = [{"params": [w]}, dict({"params": [b]}, **c["group_b"])]
    opt = OPTIMIZERS[c["optimizer"]](params, c["options"])
    out = []
    for k in range(STEPS):
        if c["lr_change"] is not None and k == c["lr_change"][0]:
            factor = c["lr_change"][1] / c["options"]["lr"]
            for g in opt.param_groups:
                g["lr"] = g["lr"] * factor
        opt.zero_grad()
        loss_fn(w, b, dtype).backward()
        if c["clip"] is not None:
            kind, v = c["clip"]
            if kind == "norm":
                torch.nn.utils.clip_grad_norm_([w, b], v)
            else:
                torch.nn.utils.clip_grad_value_([w, b], v)
        opt.step()
        out.append([float(x) for x in w.detach().flatten().tolist() + b.detach().tolist()])
    return out


def rust_f64(x):
    """The shortest literal that round-trips (Python's repr), as Rust source."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"non-finite value {x} in a trajectory")
    s = repr(x)
    return s if ("." in s or "e" in s) else s + ".0"


def rust_options(options):
    return "&[" + ", ".join(f'("{k}", {rust_f64(v)})' for k, v in options.items()) + "]"


def main():
    p = print
    p(f"// @generated by gen_optim.py with torch {torch.__version__}; do not edit.")
    p("// Parameter trajectories of torch.optim on the problem described in gen_optim.py.")
    p()
    p("/// Steps of every case.")
    p(f"pub const STEPS: usize = {STEPS};")
    p()
    for name, v in [("W0", W0), ("C", C), ("T", T)]:
        flat = [x for row in v for x in row]
        p(f"/// `{name}` of the loss, [2, 3] row-major.")
        p(f"pub const {name}: [f64; 6] = [{', '.join(rust_f64(x) for x in flat)}];")
    for name, v in [("B0", B0), ("U", U)]:
        p(f"/// `{name}` of the loss, [3].")
        p(f"pub const {name}: [f64; 3] = [{', '.join(rust_f64(x) for x in v)}];")
    p()
    p("/// One torch run.")
    p("pub struct Case {")
    p("    /// The case's name.")
    p("    pub name: &'static str,")
    p('    /// `"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"` or `"adagrad"`.')
    p("    pub optimizer: &'static str,")
    p('    /// `"f64"` or `"f32"`.')
    p("    pub dtype: &'static str,")
    p("    /// The options of the default group, by descent config field (booleans as 0 / 1).")
    p("    pub options: &'static [(&'static str, f64)],")
    p("    /// The `lr` and `weight_decay` of a group holding only `b`.")
    p("    pub group_b: Option<&'static [(&'static str, f64)]>,")
    p("    /// `(k, lr)`: after `k` steps the default learning rate becomes `lr`.")
    p("    pub lr_change: Option<(usize, f64)>,")
    p('    /// `("norm", max_norm)` or `("value", limit)`: gradient clipping before every step.')
    p("    pub clip: Option<(&'static str, f64)>,")
    p("    /// The parameters after every step: `w` (row-major), then `b`.")
    p("    pub trajectory: &'static [[f64; 9]],")
    p("}")
    p()
    p("/// Every case.")
    p("pub const CASES: &[Case] = &[")
    lo = math.inf
    for c in CASES:
        traj = run(c)
        lo = min(lo, min(abs(x) for row in traj for x in row))
        p("    Case {")
        p(f'        name: "{c["name"]}",')
        p(f'        optimizer: "{c["optimizer"]}",')
        p(f'        dtype: "{c["dtype"]}",')
        p(f"        options: {rust_options(c['options'])},")
        gb = "None" if c["group_b"] is None else f"Some({rust_options(c['group_b'])})"
        p(f"        group_b: {gb},")
        lc = c["lr_change"]
        p(f"        lr_change: {'None' if lc is None else f'Some(({lc[0]}, {rust_f64(lc[1])}))'},")
        cl = c["clip"]
        clip = "None" if cl is None else 'Some(("%s", %s))' % (cl[0], rust_f64(cl[1]))
        p(f"        clip: {clip},")
        p("        trajectory: &[")
        for row in traj:
            p(f"            [{', '.join(rust_f64(x) for x in row)}],")
        p("        ],")
        p("    },")
    p("];")
    print(f"smallest |value| in any trajectory: {lo}", file=sys.stderr)


if __name__ == "__main__":
    main()
