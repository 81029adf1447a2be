"""PyTorch interop fixtures for crates/descent-nn/tests/interop.rs (no Python at test time).

Run from this folder with PyTorch and safetensors installed (PyTorch 2.15 CPU was used):

    python3 gen_torch_interop.py

1. PyTorch writes, descent reads: an MLP and a small CNN with BatchNorm are built with a fixed
   seed, the CNN's BatchNorm is run for a few training steps so its running statistics and
   `num_batches_tracked` are not the defaults, then `model.state_dict()` is written with
   `safetensors.torch.save_file` (torch_mlp.safetensors, torch_cnn.safetensors) and an input with
   PyTorch's eval-mode logits beside it (torch_mlp_io.safetensors, torch_cnn_io.safetensors).
   The Rust test loads each state_dict into the matching descent model (strict) and compares
   logits to 1e-5. torch_batchnorm_steps.safetensors: BatchNorm1d/2d in float64 over three
   training steps (outputs, input gradients, running statistics, num_batches_tracked, momentum
   0.1 and cumulative) and then eval.
2. descent writes, PyTorch reads: descent_mlp.safetensors / descent_cnn.safetensors are written
   by the Rust test (`DESCENT_REGEN_FIXTURES=1 cargo test --release -p descent-nn --test interop`)
   with the logits descent computed beside them (descent_*_io.safetensors). This script loads them
   with `model.load_state_dict(strict=True)` and checks PyTorch's logits against descent's.
"""

import os
import sys

import torch
from safetensors.torch import load_file, save_file
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


def cnn():
    # [N, 1, 8, 8] -> conv 3x3 pad 1 -> BN -> ReLU -> maxpool 2 -> conv 3x3 (groups 2) -> BN
    # -> ReLU -> adaptive avg pool 2x2 -> flatten -> linear 16 -> 3
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((2, 2)),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def write_torch(name, model, x, train_steps=0):
    if train_steps:
        model.train()
        with torch.no_grad():
            for i in range(train_steps):
                model(torch.randn_like(x) * (1 + i) + 0.5)
    model.eval()
    with torch.no_grad():
        logits = model(x)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(HERE, f"torch_{name}.safetensors"))
    save_file({"input": x.contiguous(), "logits": logits.contiguous()},
              os.path.join(HERE, f"torch_{name}_io.safetensors"))
    print(f"torch_{name}: {len(state)} tensors, logits {tuple(logits.shape)}")


def write_batchnorm_steps():
    """BatchNorm2d and BatchNorm1d over three training steps, then eval, in float64: inputs,
    train-mode outputs, running statistics and num_batches_tracked after each step, for momentum
    0.1 and None (cumulative average)."""
    out = {}
    torch.manual_seed(2)
    for tag, make, shape in [("bn2d", nn.BatchNorm2d, (4, 3, 2, 2)), ("bn1d", nn.BatchNorm1d, (5, 3))]:
        for mtag, momentum in [("m01", 0.1), ("cum", None)]:
            bn = make(3, momentum=momentum).double()
            with torch.no_grad():
                bn.weight.copy_(torch.tensor([1.5, -0.5, 2.0], dtype=torch.float64))
                bn.bias.copy_(torch.tensor([0.1, 0.2, -0.3], dtype=torch.float64))
            bn.train()
            for step in range(3):
                x = (torch.randn(shape, dtype=torch.float64) * (step + 1) + step).contiguous()
                x.requires_grad_(True)
                y = bn(x)
                g = torch.randn_like(y)
                y.backward(g)
                key = f"{tag}.{mtag}.{step}"
                out[f"{key}.x"] = x.detach().clone()
                out[f"{key}.y"] = y.detach().clone()
                out[f"{key}.grad_out"] = g
                out[f"{key}.grad_x"] = x.grad.clone()
                out[f"{key}.running_mean"] = bn.running_mean.clone()
                out[f"{key}.running_var"] = bn.running_var.clone()
                out[f"{key}.num_batches_tracked"] = bn.num_batches_tracked.clone()
            bn.eval()
            xe = torch.randn(shape, dtype=torch.float64)
            with torch.no_grad():
                out[f"{tag}.{mtag}.eval.x"] = xe
                out[f"{tag}.{mtag}.eval.y"] = bn(xe)
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(HERE, "torch_batchnorm_steps.safetensors"))
    print(f"torch_batchnorm_steps: {len(out)} tensors")


def check_descent(name, model):
    weights = os.path.join(HERE, f"descent_{name}.safetensors")
    io = os.path.join(HERE, f"descent_{name}_io.safetensors")
    if not (os.path.exists(weights) and os.path.exists(io)):
        print(f"descent_{name}: not written yet (run the Rust test with DESCENT_REGEN_FIXTURES=1)")
        return True
    model.load_state_dict(load_file(weights), strict=True)
    model.eval()
    data = load_file(io)
    with torch.no_grad():
        logits = model(data["input"])
    err = (logits - data["logits"]).abs().max().item()
    ok = err <= 1e-5
    print(f"descent_{name}: loaded into PyTorch strictly, max |logits diff| = {err:.3g}"
          f" {'ok' if ok else 'FAILED'}")
    return ok


def main():
    torch.manual_seed(0)
    write_torch("mlp", mlp(), torch.randn(5, 8))
    torch.manual_seed(1)
    write_torch("cnn", cnn(), torch.randn(3, 1, 8, 8), train_steps=3)
    write_batchnorm_steps()
    ok = check_descent("mlp", mlp()) and check_descent("cnn", cnn())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
