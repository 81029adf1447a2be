//! Linear regression three ways: full-batch gradient descent, SGD on single examples and
//! mini-batch SGD, side by side on the same synthetic data and for the same number of epochs.
//!
//! The data are `y = X·w* + b* + noise` with 5 features on different scales (so the problem is
//! mildly ill-conditioned, as real data is) and Gaussian noise of standard deviation 0.1. Each
//! method fits a linear model (`w` of shape `[5, 1]` and `b` of shape `[1]`, in `f32`) by
//! recording the mean squared error on a [`Tape`] and calling `loss.backward()` and
//! [`Optimizer::step`]. The example prints the full-data loss of each method over the epochs,
//! then its final loss and its distance to the exact least-squares solution (the normal
//! equations, solved in `f64`), and draws the three loss curves to an SVG file.
//!
//! Full-batch gradient descent takes one step per epoch, so per pass over the data it is the
//! slowest; SGD on single examples takes a thousand noisy steps per epoch and ends in a noise
//! ball around the optimum; mini-batches sit in between. A learning rate that is too large makes
//! a method diverge: the optimizer refuses the step with a non-finite loss, and the example
//! reports it instead of panicking (try `--lr-gd 5.0`). One that is too small makes no progress,
//! and a [`LossMonitor`] says so (try `--lr-gd 0.000001`).
//!
//! Run with `cargo run --release --example linear_regression` (`--help` for the options).

use descent::optim::monitor::{LossMonitor, Progress};
use descent::prelude::*;
use plotters::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::PathBuf;
use std::process::exit;
use std::time::Instant;

/// The number of features.
const D: usize = 5;
/// The true weights `w*`.
const W_TRUE: [f32; D] = [1.5, -2.0, 0.5, 3.0, -1.0];
/// The true intercept `b*`.
const B_TRUE: f32 = 0.7;
/// The scale of each feature (the features are standard normal times this).
const SCALES: [f32; D] = [1.0, 2.0, 0.5, 1.5, 0.8];
/// The standard deviation of the noise added to `y`.
const NOISE: f32 = 0.1;

const USAGE: &str = "\
linear_regression: fit y = X·w + b by full-batch GD, SGD (batch 1) and mini-batch SGD

usage: linear_regression [options]
  --samples N     number of samples (default 1000)
  --epochs E      passes over the data for every method (default 50)
  --batch B       mini-batch size (default 32, or the sample count if fewer)
  --lr-gd LR      learning rate of full-batch gradient descent (default 0.2)
  --lr-sgd LR     learning rate of SGD with batch size 1 (default 0.005)
  --lr-mb LR      learning rate of mini-batch SGD (default 0.05)
  --seed S        seed of the data and the shuffling (default 0)
  --out FILE      where to write the loss curves (default linear_regression.svg)
  -h, --help      print this help

Try --lr-gd 5.0 to see gradient descent diverge, --lr-gd 0.000001 to see it stall.";

/// The command line.
struct Config {
    samples: usize,
    epochs: usize,
    batch: usize,
    lr_gd: f64,
    lr_sgd: f64,
    lr_mb: f64,
    seed: u64,
    out: PathBuf,
}

/// Parses the command line; `Ok(None)` means `--help` was printed.
fn parse_args() -> Result<Option<Config>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut c = Config {
        samples: 1000,
        epochs: 50,
        batch: 32,
        lr_gd: 0.2,
        lr_sgd: 0.005,
        lr_mb: 0.05,
        seed: 0,
        out: PathBuf::from("linear_regression.svg"),
    };
    let mut batch = None;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => {
                println!("{USAGE}");
                return Ok(None);
            }
            Long("samples") => c.samples = value(&mut p, "--samples")?,
            Long("epochs") => c.epochs = value(&mut p, "--epochs")?,
            Long("batch") => batch = Some(value(&mut p, "--batch")?),
            Long("lr-gd") => c.lr_gd = value(&mut p, "--lr-gd")?,
            Long("lr-sgd") => c.lr_sgd = value(&mut p, "--lr-sgd")?,
            Long("lr-mb") => c.lr_mb = value(&mut p, "--lr-mb")?,
            Long("seed") => c.seed = value(&mut p, "--seed")?,
            Long("out") => c.out = p.value()?.into(),
            _ => return Err(arg.unexpected()),
        }
    }
    if !(D + 1..=1_000_000).contains(&c.samples) {
        return Err(format!("--samples must be in {}..=1000000", D + 1).into());
    }
    if !(1..=100_000).contains(&c.epochs) {
        return Err("--epochs must be in 1..=100000".into());
    }
    c.batch = batch.unwrap_or(c.batch.min(c.samples));
    if !(1..=c.samples).contains(&c.batch) {
        return Err(format!("--batch must be in 1..={} (the sample count)", c.samples).into());
    }
    Ok(Some(c))
}

/// The value of `flag`, parsed; the error names the flag and the value.
fn value<T>(p: &mut lexopt::Parser, flag: &str) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let v = p.value()?;
    let s = v.to_string_lossy();
    s.parse().map_err(|e| format!("{flag} {s:?}: {e}").into())
}

/// The data set, in `f32` for training and in `f64` for measuring the loss exactly.
struct Data {
    x: Tensor,
    y: Tensor,
    x64: Tensor,
    y64: Tensor,
}

/// One way of fitting the model: a name, a batch size and a learning rate.
struct Method {
    name: &'static str,
    batch: usize,
    lr: f64,
}

/// The outcome of fitting the model with one [`Method`].
struct Run {
    /// The full-data mean squared error before training and after each epoch.
    curve: Vec<f64>,
    /// The epoch (1-based) in which a step was refused, and why.
    diverged: Option<(usize, Error)>,
    /// The first epoch after which the loss stopped falling while still far above the
    /// least-squares loss (a learning rate too small), and what the monitor said.
    stalled: Option<(usize, Progress)>,
    /// The fitted `[w; b]`.
    theta: Vec<f64>,
    /// Optimizer steps taken.
    steps: u64,
    /// Wall-clock seconds spent training.
    secs: f64,
}

/// The model: `w` of shape `[D, 1]` and `b` of shape `[1]`, as one slice of parameters.
fn new_model() -> [Param; 2] {
    [
        Param::named("w", Tensor::zeros([D, 1])),
        Param::named("b", Tensor::zeros([1])),
    ]
}

/// The mean squared error of the model on all the data, in `f64` (without a tape), so that its
/// excess over the least-squares loss is exact. `x` and `y` are the data in `f64`.
fn full_mse(model: &[Param; 2], x: &Tensor, y: &Tensor) -> f64 {
    let w = model[0].value().to_dtype(DType::F64);
    let b = model[1].value().to_dtype(DType::F64);
    let pred = &x.matmul(&w) + &b;
    (&pred - y).square().mean_all().item()
}

/// Trains a fresh model with `method` for `epochs` epochs; stops early if a step is refused.
fn train(method: &Method, data: &Data, epochs: usize, seed: u64, ls_mse: f64) -> Run {
    let (x, y) = (&data.x, &data.y);
    let n = x.shape()[0];
    let mut model = new_model();
    // The learning rates were checked in `main`, so this cannot fail.
    let mut opt = Gd::new(method.lr).expect("learning rate checked in main");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut curve = vec![full_mse(&model, &data.x64, &data.y64)];
    let mut diverged = None;
    // Judges the full-data loss over windows of 3 epochs; "stalled" only counts while the loss
    // is still more than twice the best reachable one (near it, a flat curve is convergence).
    let mut monitor = LossMonitor::new(3).expect("a window of 3 is valid");
    let mut stalled = None;
    let t = Instant::now();
    'epochs: for epoch in 1..=epochs {
        // Full-batch gradient descent needs no shuffling; the others see the samples in a new
        // random order each epoch, gathered once so every batch is a contiguous view.
        let (xs, ys) = if method.batch < n {
            order.shuffle(&mut rng);
            let index = IntTensor::from(&order[..]);
            (x.index_select(0, &index), y.index_select(0, &index))
        } else {
            (x.clone(), y.clone())
        };
        for start in (0..n).step_by(method.batch) {
            let len = method.batch.min(n - start);
            let tape = Tape::new();
            let xb = tape.constant(xs.narrow(0, start, len));
            let yb = tape.constant(ys.narrow(0, start, len));
            let pred = xb.matmul(&tape.param(&model[0])) + tape.param(&model[1]);
            let loss = (pred - yb).square().mean_all();
            let grads = loss.backward();
            if let Err(e) = opt.step(&mut model, &grads) {
                diverged = Some((epoch, e));
                break 'epochs;
            }
        }
        let mse = full_mse(&model, &data.x64, &data.y64);
        curve.push(mse);
        let progress = monitor.observe(mse);
        if stalled.is_none() && matches!(progress, Progress::Stalled { .. }) && mse > 2.0 * ls_mse {
            stalled = Some((epoch, progress));
        }
    }
    let mut theta: Vec<f64> = model[0]
        .value()
        .to_vec_f32()
        .into_iter()
        .map(f64::from)
        .collect();
    theta.push(model[1].value().item());
    Run {
        curve,
        diverged,
        stalled,
        theta,
        steps: opt.steps(),
        secs: t.elapsed().as_secs_f64(),
    }
}

/// The least-squares `[w; b]`: the normal equations `(AᵀA) θ = Aᵀy` with `A = [X, 1]`, solved in
/// `f64` by a Cholesky factorization (`AᵀA` is symmetric positive definite for such data).
fn least_squares(x: &[f32], y: &[f32]) -> Vec<f64> {
    let k = D + 1;
    let mut ata = vec![0.0f64; k * k];
    let mut aty = vec![0.0f64; k];
    for (xi, &yi) in x.chunks_exact(D).zip(y) {
        // The row of A: the features, then 1 for the intercept.
        let a: Vec<f64> = xi.iter().map(|&v| f64::from(v)).chain([1.0]).collect();
        for r in 0..k {
            aty[r] += a[r] * f64::from(yi);
            for c in 0..k {
                ata[r * k + c] += a[r] * a[c];
            }
        }
    }
    // Cholesky: AᵀA = L Lᵀ, with L stored in the lower triangle.
    let mut l = vec![0.0f64; k * k];
    for r in 0..k {
        for c in 0..=r {
            let s: f64 = (0..c).map(|j| l[r * k + j] * l[c * k + j]).sum();
            if r == c {
                l[r * k + r] = (ata[r * k + r] - s).sqrt();
            } else {
                l[r * k + c] = (ata[r * k + c] - s) / l[c * k + c];
            }
        }
    }
    // Forward substitution L z = Aᵀy, then back substitution Lᵀ θ = z.
    let mut z = vec![0.0f64; k];
    for r in 0..k {
        let s: f64 = (0..r).map(|j| l[r * k + j] * z[j]).sum();
        z[r] = (aty[r] - s) / l[r * k + r];
    }
    let mut theta = vec![0.0f64; k];
    for r in (0..k).rev() {
        let s: f64 = (r + 1..k).map(|j| l[j * k + r] * theta[j]).sum();
        theta[r] = (z[r] - s) / l[r * k + r];
    }
    theta
}

/// The Euclidean distance between two vectors.
fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(u, v)| (u - v).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Draws the loss curves to an SVG file: the full-data MSE on the left and its excess over the
/// least-squares MSE on the right (where the methods' differences near the optimum show), both
/// on a log scale.
fn plot(
    path: &PathBuf,
    methods: &[Method],
    runs: &[Run],
    ls_mse: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    let mse = |v: f64| v;
    let excess = |v: f64| v - ls_mse;
    panel(
        &panels[0],
        "full-data MSE (log scale)",
        &mse,
        methods,
        runs,
        Some(ls_mse),
    )?;
    let title = "excess MSE over least squares (log scale)";
    panel(&panels[1], title, &excess, methods, runs, None)?;
    root.present()?;
    Ok(())
}

/// Draws one panel: `value` of each run's curve per epoch, on a log scale, with a legend; and
/// the least-squares loss as a dashed line when `floor` is given.
fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    value: &dyn Fn(f64) -> f64,
    methods: &[Method],
    runs: &[Run],
    floor: Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    const COLORS: [RGBColor; 3] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
    ];
    // Each run's points, without the non-finite or non-positive values a log scale cannot show.
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            r.curve
                .iter()
                .enumerate()
                .map(|(e, &v)| (e as f64, value(v)))
                .filter(|&(_, v)| v.is_finite() && v > 0.0)
                .collect()
        })
        .collect();
    let all = series.iter().flatten().map(|p| p.1).chain(floor);
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (1e-3, 1.0) };
    let epochs = runs
        .iter()
        .map(|r| r.curve.len() - 1)
        .max()
        .unwrap_or(1)
        .max(1);

    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..epochs as f64, (lo * 0.5..hi * 2.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (i, ((m, r), points)) in methods.iter().zip(runs).zip(series).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let label = match &r.diverged {
            Some((epoch, _)) => format!("{} (lr {}): diverged in epoch {epoch}", m.name, m.lr),
            None => format!("{} (lr {})", m.name, m.lr),
        };
        let last = points.last().copied();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        // A cross where a diverged run was last seen.
        if let (Some(p), Some(_)) = (last, &r.diverged) {
            chart.draw_series([Cross::new(p, 6, color.stroke_width(2))])?;
        }
    }
    if let Some(ls_mse) = floor {
        let line = [(0.0, ls_mse), (epochs as f64, ls_mse)];
        chart
            .draw_series(DashedLineSeries::new(line, 6, 4, BLACK.mix(0.6).into()))?
            .label(format!("least squares ({ls_mse:.2e})"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// Formats a loss for the table.
fn fmt_loss(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4e}")
    } else {
        "non-finite".to_string()
    }
}

fn main() {
    let cfg = match parse_args() {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            eprintln!("linear_regression: {e}; see --help");
            exit(2);
        }
    };
    let methods = [
        Method {
            name: "full-batch GD",
            batch: cfg.samples,
            lr: cfg.lr_gd,
        },
        Method {
            name: "SGD, batch 1",
            batch: 1,
            lr: cfg.lr_sgd,
        },
        Method {
            name: "mini-batch SGD",
            batch: cfg.batch,
            lr: cfg.lr_mb,
        },
    ];
    // Refuse a bad learning rate (as 0 or a negative one) before doing any work.
    for (m, flag) in methods.iter().zip(["--lr-gd", "--lr-sgd", "--lr-mb"]) {
        if let Err(e) = Gd::new(m.lr) {
            eprintln!("linear_regression: {flag}: {e}; see --help");
            exit(2);
        }
    }

    // The data: standard normal features times their scale, then y = X·w* + b* + noise.
    let n = cfg.samples;
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let scales = Tensor::from_vec(SCALES.to_vec(), [D]);
    let x = &Tensor::randn([n, D], &mut rng) * &scales;
    let w_true = Tensor::from_vec(W_TRUE.to_vec(), [D, 1]);
    let noise = Tensor::randn([n, 1], &mut rng) * f64::from(NOISE);
    let y = &(&x.matmul(&w_true) + B_TRUE as f64) + &noise;

    let theta_ls = least_squares(&x.to_vec_f32(), &y.to_vec_f32());
    let mut theta_true: Vec<f64> = W_TRUE.iter().map(|&v| f64::from(v)).collect();
    theta_true.push(f64::from(B_TRUE));
    let data = Data {
        x64: x.to_dtype(DType::F64),
        y64: y.to_dtype(DType::F64),
        x,
        y,
    };
    let ls_model = [
        Param::new(Tensor::from_vec(theta_ls[..D].to_vec(), [D, 1])),
        Param::new(Tensor::from_vec(vec![theta_ls[D]], [1])),
    ];
    let ls_mse = full_mse(&ls_model, &data.x64, &data.y64);
    println!(
        "data: {n} samples, {D} features scaled by {SCALES:?}, noise sd {NOISE}, seed {}",
        cfg.seed
    );
    println!("true      [w; b] = {}", fmt_vec(&theta_true));
    println!(
        "least sq. [w; b] = {}  (MSE {ls_mse:.4e}, the best any method can reach)",
        fmt_vec(&theta_ls)
    );
    println!();

    let runs: Vec<Run> = methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let seed = cfg.seed.wrapping_add(1 + i as u64);
            train(m, &data, cfg.epochs, seed, ls_mse)
        })
        .collect();
    for (m, r) in methods.iter().zip(&runs) {
        if let Some((epoch, e)) = &r.diverged {
            println!("{} diverged in epoch {epoch}: {e}", m.name);
        }
        if let Some((epoch, progress)) = &r.stalled {
            println!("{} (lr {}) after epoch {epoch}: {progress}", m.name, m.lr);
        }
    }

    // The loss table, every few epochs.
    let every = cfg.epochs.div_ceil(10);
    println!("full-data MSE after each epoch:");
    print!("{:>6}", "epoch");
    for m in &methods {
        print!("  {:>20}", format!("{} (b={})", m.name, m.batch));
    }
    println!();
    for epoch in (0..=cfg.epochs).filter(|e| e % every == 0 || *e == cfg.epochs) {
        print!("{epoch:>6}");
        for r in &runs {
            let cell = match (r.curve.get(epoch), &r.diverged) {
                (Some(&v), _) => fmt_loss(v),
                (None, Some(_)) => "diverged".to_string(),
                (None, None) => "-".to_string(),
            };
            print!("  {cell:>20}");
        }
        println!();
    }
    println!();

    println!(
        "{:<16} {:>8} {:>7} {:>8} {:>12} {:>12} {:>14}",
        "method", "lr", "steps", "time", "final MSE", "excess", "||θ - θ_ls||"
    );
    for (m, r) in methods.iter().zip(&runs) {
        let last = *r.curve.last().expect("the curve has the initial loss");
        let (mse, excess, dist) = if r.diverged.is_some() {
            ("diverged".to_string(), "-".to_string(), "-".to_string())
        } else {
            (
                fmt_loss(last),
                format!("{:.3e}", last - ls_mse),
                format!("{:.3e}", distance(&r.theta, &theta_ls)),
            )
        };
        println!(
            "{:<16} {:>8} {:>7} {:>6.0}ms {:>12} {:>12} {:>14}",
            m.name,
            m.lr,
            r.steps,
            r.secs * 1e3,
            mse,
            excess,
            dist
        );
    }
    println!(
        "(θ = [w; b]; ||θ* - θ_ls|| = {:.3e} is the noise's doing)",
        distance(&theta_true, &theta_ls)
    );

    match plot(&cfg.out, &methods, &runs, ls_mse) {
        Ok(()) => println!("\nloss curves written to {}", cfg.out.display()),
        Err(e) => {
            eprintln!("linear_regression: cannot write {}: {e}", cfg.out.display());
            exit(1);
        }
    }
}

/// Formats a vector with 4 decimals.
fn fmt_vec(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:+.4}")).collect();
    format!("[{}]", items.join(", "))
}
