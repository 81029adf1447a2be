//! The anchor workloads W1, W1b, W2, W3, W4 and W5 of `docs/anchors.md`, run by descent the way
//! `../shared/anchors/python/bench_torch.py` runs them in PyTorch, for side-by-side ratios.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release --example descent_bench -- w1 w1b
//! RAYON_NUM_THREADS=2 cargo run --release --example descent_bench -- w2 --profile
//! cargo run --release --example descent_bench -- all --quick     # CI: each workload runs and prints
//! ```
//!
//! - W1 / W1b / W2 are training steps of descent-nn models (`Sequential` of `Linear`/`ReLU`, and
//!   `Conv2d`/`MaxPool2d`/`Flatten` for the CNN) through [`train_step`], the step
//!   `Learner::fit` takes for each batch: a training forward, mean cross-entropy, backward, an
//!   Adam step (lr 1e-3, PyTorch's defaults). As in `bench_torch.py`, one fixed batch of seeded
//!   normal inputs with labels uniform in 0..10 is reused every step, and the loss is read back
//!   (`train_step` returns it; the PyTorch script does not read it, the Rust peers do).
//! - W3 is `Tensor::matmul` (allocates C, as `torch.mm(A, B)`) and the GEMM kernel into a
//!   preallocated C (as `torch.mm(A, B, out=C)`), square n = 256, 512, 1024.
//! - W4 is the tape: `y = tanh(y * 1.0001 + 0.001)` 1000 times on a `[64]` variable, `sum`,
//!   backward; microseconds per recorded op (3000 per step).
//! - W5 is `z = x + y` and `z = relu(x)` on 2^24 floats, through the tensor API (a new output),
//!   the kernels into a preallocated output (as torch's `out=`), and the tensor API's `out=` and
//!   in-place forms (`x.add_into(&y, &mut z)`, `z.add_(&y)`, `x.relu_into(&mut z)`, `z.relu_()`).
//!
//! Timing is the anchors' protocol (`benchutil.py`): 3 warm-up steps, the number of steps that
//! lasts `--secs` seconds (default 3; calibrated by doubling until a batch of steps takes
//! 0.25 s), repeated `--repeats` times (default 5); each line prints the median and the min and
//! max of the repeats in the anchor's unit, in the Python script's format, and the peak RSS of
//! the process during the workload (`VmHWM`, reset before each workload through
//! `/proc/self/clear_refs` where the kernel allows it). `MIN_SECS` and `REPEATS` in the
//! environment set the defaults, as for the Python harness. Threads: set `RAYON_NUM_THREADS=2`
//! as the anchors do (all of descent's threads are rayon's; GEMMs included, so
//! `MATMUL_NUM_THREADS` no longer matters); the header line prints what is in effect.
//!
//! `--profile` replaces the timing of W1, W1b and W2 with a breakdown of `--profile-steps` steps
//! (after the warm-up): forward (with the loss), backward and optimizer wall times, and the
//! tape's per-op profile (`Tape::enable_profile`) of the forward ops and backward rules,
//! in milliseconds per step. `--quick` runs every workload for a couple of steps, to check
//! that it runs (CI). Figures and ratios are in `docs/PERFORMANCE.md`.

#[path = "common/workload_models.rs"]
mod workload_models;

use descent::kernels::matmul::{MatRef, gemm, gemm_bias};
use descent::kernels::{BinaryOp, UnaryOp, elementwise};
use descent::prelude::*;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::exit;
use std::time::{Duration, Instant};
use workload_models::{w1_mlp, w2_cnn};

/// The workloads, in the order `all` runs them.
const WORKLOADS: [&str; 6] = ["w1", "w1b", "w2", "w3", "w4", "w5"];

/// How long and how often to time.
#[derive(Clone, Debug)]
struct Config {
    workloads: Vec<String>,
    /// Seconds per repeat (the anchors' `MIN_SECS`).
    secs: f64,
    /// Timed repeats (the anchors' `REPEATS`).
    repeats: usize,
    /// Untimed steps first.
    warmup: usize,
    /// A fixed number of steps per repeat instead of the calibrated one.
    steps: Option<usize>,
    profile: bool,
    profile_steps: usize,
    /// Blocks of 2000 steps to time one by one instead of the timed repeats.
    trace: Option<usize>,
    /// W1, W1b: the step against the time of its products at their shapes (`--gemm-time`).
    gemm_time: bool,
}

/// Median, min and max of the repeats, in units per second.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    steps: usize,
}

/// The anchors' timing loop (`benchutil.bench`): `units` units of work per call of `step`.
fn bench(cfg: &Config, units: f64, mut step: impl FnMut()) -> Stats {
    for _ in 0..cfg.warmup {
        step();
    }
    let steps = match cfg.steps {
        Some(n) => n.max(1),
        None => {
            let mut n = 1usize;
            let per_step = loop {
                let t = Instant::now();
                for _ in 0..n {
                    step();
                }
                let dt = t.elapsed().as_secs_f64();
                if dt >= 0.25 {
                    break dt / n as f64;
                }
                n *= 2;
            };
            ((cfg.secs / per_step) + 0.999) as usize
        }
    }
    .max(1);
    let mut vals: Vec<f64> = (0..cfg.repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..steps {
                step();
            }
            units * steps as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    vals.sort_by(f64::total_cmp);
    let mid = vals.len() / 2;
    let median = if vals.len() % 2 == 1 {
        vals[mid]
    } else {
        (vals[mid - 1] + vals[mid]) / 2.0
    };
    Stats {
        median,
        min: vals[0],
        max: vals[vals.len() - 1],
        steps,
    }
}

/// One result line, in the format of `benchutil.fmt`.
fn report(name: &str, s: &Stats, unit: &str, scale: f64, prec: usize) {
    println!(
        "{name:<40} median {:.prec$} {unit} (min {:.prec$}, max {:.prec$}; {} steps/repeat)",
        s.median * scale,
        s.min * scale,
        s.max * scale,
        s.steps
    );
}

/// A `/proc/self/status` field in kB (`VmHWM`: the peak resident set), if readable.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS to the current RSS (Linux: `5` into `clear_refs`); false if refused.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn print_peak_rss(what: &str, since_reset: bool) {
    match status_kb("VmHWM:") {
        Some(kb) => println!(
            "{what:<40} peak RSS {:.1} MB{}",
            kb as f64 / 1024.0,
            if since_reset {
                ""
            } else {
                " (process peak since start)"
            }
        ),
        None => println!("{what:<40} peak RSS unknown (no /proc/self/status)"),
    }
}

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// A fixed batch: `shape` normal features and `shape[0]` labels uniform in 0..10.
fn batch(shape: &[usize], seed: u64) -> (Tensor, IntTensor) {
    let mut r = rng(seed);
    let x = Tensor::randn(shape, &mut r);
    let labels: Vec<usize> = (0..shape[0]).map(|_| r.random_range(0..10)).collect();
    (x, IntTensor::from(&labels[..]))
}

fn cross_entropy(out: &Var, labels: &IntTensor) -> Result<Var> {
    out.try_cross_entropy(labels)
}

fn adam() -> Adam {
    Adam::new(AdamConfig {
        lr: 1e-3,
        ..AdamConfig::default()
    })
    .expect("a valid learning rate")
}

/// Times a training workload (W1, W1b, W2), or profiles it with `--profile`.
fn train_workload(cfg: &Config, name: &str, mut model: Sequential, x: &Tensor, y: &IntTensor) {
    let mut opt = adam();
    let mut step = 0u64;
    if cfg.profile {
        return profile(cfg, name, &mut model, &mut opt, x, y);
    }
    let mut one_step = || {
        let ctx = Ctx::train(0, 0, step);
        step += 1;
        train_step(
            &mut model,
            &mut opt,
            &Tape::new(),
            x,
            y,
            &ctx,
            &cross_entropy,
        )
        .expect("a W1/W2 step does not fail")
    };
    if cfg.gemm_time {
        return gemm_time(cfg, name, x.shape()[0], one_step);
    }
    if let Some(blocks) = cfg.trace {
        // The rate over consecutive blocks of steps, from the first step on: where training on
        // one fixed batch reaches subnormal numbers, the rate drops.
        const BLOCK: usize = 2000;
        for b in 1..=blocks {
            let t = Instant::now();
            let mut loss = 0.0;
            for _ in 0..BLOCK {
                loss = one_step();
            }
            let rate = (BLOCK * x.shape()[0]) as f64 / t.elapsed().as_secs_f64();
            println!(
                "{name}: steps {:>6}: {rate:>8.0} samples/s, loss {loss:.3e}",
                b * BLOCK
            );
        }
        return;
    }
    let s = bench(cfg, x.shape()[0] as f64, || {
        black_box(one_step());
    });
    report(name, &s, "samples/s", 1.0, 0);
}

/// The products of one training step of an MLP of `linear` layers (`dims[0] -> dims[1] -> ...`)
/// on a batch of `m`, with the layouts `linear` gives them, on buffers allocated once: forward
/// `x W^T + b` (`gemm_bias`, `W^T` read through its strides), backward `dW = G^T x` for every
/// layer and `dx = G W` for every layer but the first (its input needs no gradient). The values
/// are seeded normals (no subnormals: the step's scans find none either). Returns the closure
/// that runs them once and their floating-point operations.
fn mlp_products(m: usize, dims: &[usize]) -> (impl FnMut(), f64) {
    let mut r = rng(7);
    let mut randn = |n: usize, scale: f32| -> Vec<f32> {
        Tensor::randn([n], &mut r)
            .to_vec_f32()
            .into_iter()
            .map(|v| v * scale)
            .collect()
    };
    struct Layer {
        k: usize,
        n: usize,
        x: Vec<f32>,
        w: Vec<f32>,
        b: Vec<f32>,
        g: Vec<f32>,
        y: Vec<f32>,
        dx: Vec<f32>,
        dw: Vec<f32>,
    }
    let layers: Vec<Layer> = dims
        .windows(2)
        .map(|d| {
            let (k, n) = (d[0], d[1]);
            Layer {
                k,
                n,
                x: randn(m * k, 1.0),
                w: randn(n * k, 0.05),
                b: randn(n, 0.05),
                g: randn(m * n, 0.01),
                y: vec![0.0; m * n],
                dx: vec![0.0; m * k],
                dw: vec![0.0; n * k],
            }
        })
        .collect();
    let flops = layers
        .iter()
        .enumerate()
        .map(|(i, l)| 2.0 * (m * l.k * l.n) as f64 * if i == 0 { 2.0 } else { 3.0 })
        .sum();
    let mut layers = layers;
    fn row(data: &[f32], rs: usize) -> MatRef<'_, f32> {
        MatRef {
            data,
            offset: 0,
            rs,
            cs: 1,
        }
    }
    fn col(data: &[f32], cs: usize) -> MatRef<'_, f32> {
        MatRef {
            data,
            offset: 0,
            rs: 1,
            cs,
        }
    }
    let run = move || {
        for l in layers.iter_mut() {
            let (k, n) = (l.k, l.n);
            gemm_bias(m, k, n, row(&l.x, k), col(&l.w, k), Some(&l.b), &mut l.y);
        }
        for (i, l) in layers.iter_mut().enumerate().rev() {
            let (k, n) = (l.k, l.n);
            if i > 0 {
                gemm(m, n, k, row(&l.g, n), row(&l.w, k), &mut l.dx);
            }
            gemm(n, m, k, col(&l.g, n), row(&l.x, k), &mut l.dw);
        }
        black_box((&layers[0].y, &layers[0].dw));
    };
    (run, flops)
}

/// `--gemm-time` for W1 and W1b: blocks of training steps alternate with blocks of the step's
/// products alone (`mlp_products`, the same thread setup), so both see the same state of the
/// machine; prints the medians and the median of the blocks' ratios, step time over product
/// time (issue 12's "step within 1.3x of its GEMM time").
fn gemm_time(cfg: &Config, name: &str, m: usize, mut one_step: impl FnMut() -> f64) {
    let (mut products, flops) = mlp_products(m, &[784, 256, 256, 10]);
    for _ in 0..cfg.warmup.max(1) {
        one_step();
        products();
    }
    // Blocks of ~0.1 s of steps, each followed by as many runs of the products.
    let t = Instant::now();
    one_step();
    let n = ((0.1 / t.elapsed().as_secs_f64()) as usize).clamp(1, 10_000);
    let blocks = (cfg.repeats * 4).max(5);
    let (mut steps, mut prods, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..blocks {
        let t = Instant::now();
        for _ in 0..n {
            black_box(one_step());
        }
        let s = t.elapsed().as_secs_f64() / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            products();
        }
        let p = t.elapsed().as_secs_f64() / n as f64;
        steps.push(s);
        prods.push(p);
        ratios.push(s / p);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (s, p) = (median(&mut steps), median(&mut prods));
    let (lo, hi) = (
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
    let r = median(&mut ratios);
    println!(
        "{name}: {blocks} blocks of {n} steps then {n} runs of the step's products: step {:.3} ms, \
         products {:.3} ms ({:.0} MFLOP at {:.0} GFLOP/s); step / products median {r:.3} \
         (min {lo:.3}, max {hi:.3})",
        s * 1e3,
        p * 1e3,
        flops * 1e-6,
        flops / p * 1e-9,
    );
}

/// One op's forward and backward totals over the profiled steps.
#[derive(Default)]
struct OpTotals {
    forward_calls: u64,
    forward: Duration,
    backward_calls: u64,
    backward: Duration,
}

/// Where a training step's time goes: the steps of [`train_step`] (the same public calls, with
/// a clock between them) on a profiling tape.
fn profile(
    cfg: &Config,
    name: &str,
    model: &mut Sequential,
    opt: &mut Adam,
    x: &Tensor,
    y: &IntTensor,
) {
    let steps = cfg.profile_steps.max(1);
    let (mut fwd, mut bwd, mut upd, mut total) = (0.0, 0.0, 0.0, 0.0);
    let mut ops: BTreeMap<&'static str, OpTotals> = BTreeMap::new();
    for i in 0..cfg.warmup + steps {
        let ctx = Ctx::train(0, 0, i as u64);
        let t0 = Instant::now();
        let tape = Tape::new();
        tape.enable_profile();
        let out = model
            .forward(&tape.constant(x), &ctx)
            .expect("forward runs");
        let loss = cross_entropy(&out, y).expect("loss");
        black_box(loss.value().try_item().expect("scalar loss"));
        let t1 = Instant::now();
        let grads = loss.backward();
        let t2 = Instant::now();
        opt.step(model, &grads).expect("finite step");
        drop(grads);
        drop(out);
        let t3 = Instant::now();
        if i < cfg.warmup {
            continue;
        }
        fwd += (t1 - t0).as_secs_f64();
        bwd += (t2 - t1).as_secs_f64();
        upd += (t3 - t2).as_secs_f64();
        total += (t3 - t0).as_secs_f64();
        for p in tape.profile() {
            let e = ops.entry(p.op).or_default();
            e.forward_calls += p.forward_calls;
            e.forward += p.forward_time;
            e.backward_calls += p.backward_calls;
            e.backward += p.backward_time;
        }
    }
    let n = steps as f64;
    let ms = |s: f64| 1e3 * s / n;
    let pct = |s: f64| 100.0 * s / total;
    let batch = x.shape()[0] as f64;
    println!(
        "{name}: profile of {steps} steps after {} warm-up: {:.3} ms per step ({:.0} samples/s \
         with the profiler on)",
        cfg.warmup,
        ms(total),
        batch * n / total
    );
    let op_fwd: f64 = ops.values().map(|o| o.forward.as_secs_f64()).sum();
    let op_bwd: f64 = ops.values().map(|o| o.backward.as_secs_f64()).sum();
    println!("  {:<44} {:>9} {:>7}", "phase", "ms/step", "share");
    for (what, s) in [
        ("forward + loss (wall)", fwd),
        ("  of which recorded ops", op_fwd),
        ("  of which outside ops (modules, tape)", fwd - op_fwd),
        ("backward (wall)", bwd),
        ("  of which backward rules", op_bwd),
        ("  of which the walk (accumulate, free)", bwd - op_bwd),
        ("optimizer step (Adam, checks included)", upd),
    ] {
        println!("  {what:<44} {:>9.3} {:>6.1}%", ms(s), pct(s));
    }
    let mut rows: Vec<_> = ops.into_iter().collect();
    rows.sort_by(|a, b| {
        (b.1.forward + b.1.backward)
            .cmp(&(a.1.forward + a.1.backward))
            .then(a.0.cmp(b.0))
    });
    println!(
        "  {:<24} {:>9} {:>11} {:>9} {:>11} {:>7}",
        "op", "fwd/step", "fwd ms", "bwd/step", "bwd ms", "share"
    );
    for (op, o) in rows {
        println!(
            "  {op:<24} {:>9.1} {:>11.3} {:>9.1} {:>11.3} {:>6.1}%",
            o.forward_calls as f64 / n,
            ms(o.forward.as_secs_f64()),
            o.backward_calls as f64 / n,
            ms(o.backward.as_secs_f64()),
            pct((o.forward + o.backward).as_secs_f64())
        );
    }
}

/// W3: square GEMM, allocating and into a preallocated output.
fn w3(cfg: &Config) {
    let sizes: &[usize] = if cfg.steps.is_some_and(|s| s <= 2) {
        &[256]
    } else {
        &[256, 512, 1024]
    };
    for &n in sizes {
        let a = Tensor::randn([n, n], &mut rng(1));
        let b = Tensor::randn([n, n], &mut rng(2));
        let flops = 2.0 * (n as f64).powi(3);
        let (av, bv) = (a.to_vec_f32(), b.to_vec_f32());
        let mut c = vec![0.0f32; n * n];
        let m = |data| MatRef {
            data,
            offset: 0,
            rs: n,
            cs: 1,
        };
        let s = bench(cfg, flops, || {
            gemm(n, n, n, m(&av), m(&bv), black_box(&mut c))
        });
        report(
            &format!("W3 gemm kernel n={n} (out=)"),
            &s,
            "GFLOP/s",
            1e-9,
            1,
        );
        let s = bench(cfg, flops, || {
            black_box(a.matmul(&b));
        });
        report(&format!("W3 matmul n={n} (alloc)"), &s, "GFLOP/s", 1e-9, 1);
    }
}

/// W4: the tape's overhead per recorded op.
fn w4(cfg: &Config) {
    let x0 = Tensor::randn([64], &mut rng(3));
    let s = bench(cfg, 3000.0, || {
        let tape = Tape::new();
        let x = tape.var(&x0);
        let mut y = x.clone();
        for _ in 0..1000 {
            y = (&y * 1.0001 + 0.001).tanh();
        }
        let grads = y.sum_all().backward();
        black_box(grads.wrt(&x).expect("x requires a gradient"));
    });
    // Microseconds per op = 1e6 / (ops per second); the slowest repeat gives the largest time.
    println!(
        "{:<40} median {:.3} us/op (min {:.3}, max {:.3}; {} steps/repeat)",
        "W4 tape overhead fwd+bwd",
        1e6 / s.median,
        1e6 / s.max,
        1e6 / s.min,
        s.steps
    );
}

/// W5: streaming elementwise ops on 2^24 floats.
fn w5(cfg: &Config) {
    let n = 1usize << 24;
    let x = Tensor::randn([n], &mut rng(4));
    let y = Tensor::randn([n], &mut rng(5));
    let (xs, ys) = (x.to_vec_f32(), y.to_vec_f32());
    let mut z = vec![0.0f32; n];
    let bytes = |per: usize| (per * n) as f64;
    let s = bench(cfg, bytes(12), || {
        black_box(&x + &y);
    });
    report("W5 z = x + y (alloc)", &s, "GB/s", 1e-9, 1);
    let s = bench(cfg, bytes(12), || {
        elementwise::binary(BinaryOp::Add, &xs, &ys, black_box(&mut z))
    });
    report("W5 add kernel into z (out=)", &s, "GB/s", 1e-9, 1);
    // The tensor API's `out=` and in-place forms: into `zt`'s own buffer (checked: no new one).
    let mut zt = Tensor::zeros([n]);
    let at = |t: &Tensor| t.as_slice::<f32>().map(<[f32]>::as_ptr);
    let buffer = at(&zt);
    let s = bench(cfg, bytes(12), || x.add_into(&y, black_box(&mut zt)));
    assert_eq!(at(&zt), buffer, "add_into wrote into z's buffer");
    report("W5 x.add_into(&y, &mut z) (out=)", &s, "GB/s", 1e-9, 1);
    let s = bench(cfg, bytes(12), || black_box(&mut zt).add_(&y));
    assert_eq!(at(&zt), buffer, "add_ wrote in place");
    report("W5 z.add_(&y) (in place)", &s, "GB/s", 1e-9, 1);
    let s = bench(cfg, bytes(8), || {
        black_box(x.relu());
    });
    report("W5 z = relu(x) (alloc)", &s, "GB/s", 1e-9, 1);
    let s = bench(cfg, bytes(8), || {
        elementwise::unary(UnaryOp::Relu, &xs, black_box(&mut z))
    });
    report("W5 relu kernel into z (out=)", &s, "GB/s", 1e-9, 1);
    let s = bench(cfg, bytes(8), || x.relu_into(black_box(&mut zt)));
    assert_eq!(at(&zt), buffer, "relu_into wrote into z's buffer");
    report("W5 x.relu_into(&mut z) (out=)", &s, "GB/s", 1e-9, 1);
    let s = bench(cfg, bytes(8), || black_box(&mut zt).relu_());
    assert_eq!(at(&zt), buffer, "relu_ wrote in place");
    report("W5 z.relu_() (in place)", &s, "GB/s", 1e-9, 1);
}

fn run(cfg: &Config, workload: &str) {
    let since_reset = reset_peak_rss();
    match workload {
        "w1" => {
            let (x, y) = batch(&[128, 784], 0);
            train_workload(cfg, "W1 MLP train step, batch 128", w1_mlp(), &x, &y);
        }
        "w1b" => {
            let (x, y) = batch(&[32, 784], 0);
            train_workload(cfg, "W1b MLP train step, batch 32", w1_mlp(), &x, &y);
        }
        "w2" if cfg.gemm_time => println!("--gemm-time: W1 and W1b only"),
        "w2" => {
            let (x, y) = batch(&[64, 1, 28, 28], 0);
            train_workload(cfg, "W2 CNN train step, batch 64", w2_cnn(), &x, &y);
        }
        "w3" => w3(cfg),
        "w4" => w4(cfg),
        "w5" => w5(cfg),
        _ => unreachable!("workloads are checked when parsed"),
    }
    let id = workload.replacen('w', "W", 1);
    print_peak_rss(&format!("{id} peak RSS"), since_reset);
}

const HELP: &str = "\
descent_bench: the anchor workloads W1, W1b, W2 (descent-nn training steps), W3 (GEMM), W4 (tape)
and W5 (elementwise), timed as ../shared/anchors/python/bench_torch.py times PyTorch.

usage: descent_bench [w1 w1b w2 w3 w4 w5 | all]... [options]

options:
  --secs S            seconds per timed repeat (default $MIN_SECS or 3)
  --repeats N         timed repeats (default $REPEATS or 5)
  --warmup N          untimed steps first (default 3)
  --steps N           a fixed number of steps per repeat instead of calibrating
  --quick             a smoke run: 1 warm-up step, 2 repeats of 2 steps, W3 at n = 256 only
  --profile           W1, W1b, W2: where a step's time goes (phases and the tape's per-op profile)
  --profile-steps N   steps the profile averages (default 20)
  --trace B           W1, W1b, W2: the rate over each of B blocks of 2000 steps, from the first
                      (training on one fixed batch slows once gradients turn subnormal)
  --gemm-time         W1, W1b: the step's time against its products' at the same shapes, in
                      alternating blocks (the step within 1.3x of its GEMM time, issue 12)
  --flush-denormal    descent::set_flush_denormal(true) (torch.set_flush_denormal(True))
  -h, --help          this text

Set RAYON_NUM_THREADS=2 as the anchors do (it covers the GEMMs too).";

fn parse() -> std::result::Result<Config, lexopt::Error> {
    use lexopt::prelude::*;
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
    let mut c = Config {
        workloads: Vec::new(),
        secs: env("MIN_SECS").unwrap_or(3.0),
        repeats: env("REPEATS").map(|r: f64| r as usize).unwrap_or(5),
        warmup: 3,
        steps: None,
        profile: false,
        profile_steps: 20,
        trace: None,
        gemm_time: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("secs") => {
                c.secs = parser.value()?.parse()?;
                if !(c.secs > 0.0 && c.secs.is_finite()) {
                    return Err("--secs must be positive".into());
                }
            }
            Long("repeats") => c.repeats = parser.value()?.parse()?,
            Long("warmup") => c.warmup = parser.value()?.parse()?,
            Long("steps") => c.steps = Some(parser.value()?.parse()?),
            Long("quick") => {
                c.warmup = 1;
                c.repeats = 2;
                c.steps = Some(2);
                c.profile_steps = 2;
            }
            Long("profile") => c.profile = true,
            Long("profile-steps") => c.profile_steps = parser.value()?.parse()?,
            Long("trace") => c.trace = Some(parser.value()?.parse()?),
            Long("gemm-time") => c.gemm_time = true,
            Long("flush-denormal") => {
                descent::set_flush_denormal(true);
            }
            Short('h') | Long("help") => {
                println!("{HELP}");
                exit(0);
            }
            Value(v) => {
                let w = v.string()?.to_lowercase();
                if w == "all" {
                    c.workloads.extend(WORKLOADS.iter().map(|w| w.to_string()));
                } else if WORKLOADS.contains(&w.as_str()) {
                    c.workloads.push(w);
                } else {
                    return Err(
                        format!("unknown workload {w:?} (one of w1 w1b w2 w3 w4 w5 all)").into(),
                    );
                }
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if c.repeats == 0 {
        return Err("--repeats must be at least 1".into());
    }
    if c.workloads.is_empty() {
        c.workloads.extend(WORKLOADS.iter().map(|w| w.to_string()));
    }
    Ok(c)
}

fn main() {
    let cfg = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("descent_bench: {e} (try --help)");
            exit(2);
        }
    };
    // As a training script should (the fit loop's step does it too): this thread runs its share
    // of every parallel kernel (docs/PERFORMANCE.md, "The calling thread in the pool").
    descent::init_threads();
    println!(
        "descent {}, rayon threads {}, RAYON_NUM_THREADS={}, MATMUL_NUM_THREADS={}, isa {:?}, \
         flush_denormal {}, main thread in the pool {}",
        env!("CARGO_PKG_VERSION"),
        rayon::current_num_threads(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into()),
        std::env::var("MATMUL_NUM_THREADS").unwrap_or_else(|_| "unset".into()),
        descent::kernels::isa(),
        descent::flush_denormal(),
        descent::kernels::parallel::in_pool(),
    );
    for w in &cfg.workloads {
        run(&cfg, w);
    }
}
