//! A variational autoencoder (Kingma & Welling, 2014) on the embedded 8x8 digits, or on MNIST
//! with `--data DIR`.
//!
//! The encoder (input -> hidden -> ReLU -> two heads) gives the mean `mu` and log-variance
//! `logvar` of `q(z | x)`; the reparameterization `z = mu + exp(logvar / 2) * eps`, with
//! `eps ~ N(0, I)` drawn per step from the run's seeded stream (a constant on the tape), lets the
//! gradient flow through `mu` and `logvar`; the decoder (z -> hidden -> ReLU -> output) gives one
//! logit per pixel. The loss is the negative ELBO per image: the binary cross-entropy of those
//! logits against the pixels (in `[0, 1]`; the stable with-logits form, summed over pixels) plus
//! the closed-form KL divergence of `q(z | x)` from `N(0, I)` (summed over the latents), averaged
//! over the images of the batch. Adam, lr 1e-3.
//!
//! It prints the train and test loss (nats per image) of each epoch and the final test loss, and
//! writes two SVG grids to `--out` (default `runs`): `vae-reconstructions.svg` (test images, each
//! beside its reconstruction) and `vae-samples.svg` (decoded draws from the prior `N(0, I)`).
//! The test loss is evaluated with a sampled `z` (one draw per image from a fixed stream), as
//! PyTorch's VAE example does.
//!
//! Run: `cargo run --release --example vae` (seconds); on MNIST
//! `cargo run --release --example vae -- --data ../shared/data/mnist` (20 latents, 400 hidden
//! units, 10 epochs, batch 128).

use descent::data::{DataLoader, digits, mnist, stratified_split};
use descent::nn::init::normal;
use descent::prelude::*;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::process::exit;
use std::time::Instant;

/// The encoder, the two heads of `q(z | x)` and the decoder.
#[derive(Module)]
struct Vae {
    enc: Linear,
    mu: Linear,
    logvar: Linear,
    dec: Linear,
    out: Linear,
}

/// What the loss needs from one forward pass.
struct Pass {
    /// The decoder's logits, `[N, pixels]`.
    logits: Var,
    mu: Var,
    logvar: Var,
}

impl Vae {
    fn new(pixels: usize, hidden: usize, latent: usize, seeds: &Seeds) -> Vae {
        Vae {
            enc: Linear::new(pixels, hidden, true, &seeds.stream("enc")),
            mu: Linear::new(hidden, latent, true, &seeds.stream("mu")),
            logvar: Linear::new(hidden, latent, true, &seeds.stream("logvar")),
            dec: Linear::new(latent, hidden, true, &seeds.stream("dec")),
            out: Linear::new(hidden, pixels, true, &seeds.stream("out")),
        }
    }

    /// `(mu, logvar)` of `q(z | x)` for flat images `x` (`[N, pixels]`).
    fn encode(&self, x: &Var, ctx: &Ctx) -> Result<(Var, Var)> {
        let h = self.enc.forward(x, ctx)?.relu();
        Ok((self.mu.forward(&h, ctx)?, self.logvar.forward(&h, ctx)?))
    }

    /// The decoder's logits for latents `z` (`[N, latent]`).
    fn decode(&self, z: &Var, ctx: &Ctx) -> Result<Var> {
        let h = self.dec.forward(z, ctx)?.relu();
        self.out.forward(&h, ctx)
    }

    /// Encodes `x`, samples `z = mu + exp(logvar / 2) * eps` with the given `eps` (`[N,
    /// latent]`, a constant on the tape) and decodes it.
    fn pass(&self, x: &Var, eps: Tensor, ctx: &Ctx) -> Result<Pass> {
        let (mu, logvar) = self.encode(x, ctx)?;
        let eps = x.tape().constant(eps);
        let z = mu.try_add(&logvar.mul_scalar(0.5).exp().try_mul(&eps)?)?;
        Ok(Pass {
            logits: self.decode(&z, ctx)?,
            mu,
            logvar,
        })
    }
}

impl Module for Vae {
    /// The reconstruction logits at the posterior mean (`z = mu`): what `summary` traces.
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        let (mu, _) = self.encode(x, ctx)?;
        self.decode(&mu, ctx)
    }
}

/// The negative ELBO of a pass against flat images `x`, in nats per image: the summed
/// binary cross-entropy plus the summed Gaussian KL, over the batch size.
fn neg_elbo(pass: &Pass, x: &Var) -> Result<Var> {
    let n = x.shape()[0] as f64;
    let bce = pass
        .logits
        .try_binary_cross_entropy_with_logits(x, Reduction::Sum)?;
    let kl = pass.mu.try_gaussian_kl(&pass.logvar, Reduction::Sum)?;
    Ok(bce.try_add(&kl)?.div_scalar(n))
}

/// The command line.
struct Config {
    data: Option<PathBuf>,
    epochs: Option<u64>,
    batch_size: Option<usize>,
    lr: f64,
    latent: Option<usize>,
    hidden: Option<usize>,
    seed: u64,
    out: PathBuf,
}

const USAGE: &str = "\
vae: a variational autoencoder on the digits (embedded) or MNIST (--data)

usage: vae [options]
  --data DIR          an MNIST-format folder; default: the 8x8 digits embedded in descent
                      (1,797 images, 20 % held out for testing)
  --epochs E          passes over the training set (default 100 on digits, 10 on MNIST)
  --batch-size B      images per step (default 32 on digits, 128 on MNIST)
  --lr LR             Adam's learning rate (default 0.001)
  --latent K          latent dimensions (default 8 on digits, 20 on MNIST)
  --hidden H          hidden units of the encoder and the decoder (default 128 on digits, 400
                      on MNIST)
  --seed S            seed of the initialization, shuffling and noise (default 0)
  --out DIR           where vae-reconstructions.svg and vae-samples.svg go (default runs)
  -h, --help          print this help";

fn parse_args() -> std::result::Result<Config, lexopt::Error> {
    use lexopt::prelude::*;
    let mut c = Config {
        data: None,
        epochs: None,
        batch_size: None,
        lr: 1e-3,
        latent: None,
        hidden: None,
        seed: 0,
        out: PathBuf::from("runs"),
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("data") => c.data = Some(p.value()?.into()),
            Long("epochs") => c.epochs = Some(number(&mut p, "--epochs")?),
            Long("batch-size") => c.batch_size = Some(positive(&mut p, "--batch-size")?),
            Long("lr") => {
                let lr: f64 = number(&mut p, "--lr")?;
                if !(lr > 0.0 && lr.is_finite()) {
                    return Err(format!("--lr must be positive and finite, not {lr}").into());
                }
                c.lr = lr;
            }
            Long("latent") => c.latent = Some(positive(&mut p, "--latent")?),
            Long("hidden") => c.hidden = Some(positive(&mut p, "--hidden")?),
            Long("seed") => c.seed = number(&mut p, "--seed")?,
            Long("out") => c.out = p.value()?.into(),
            Short('h') | Long("help") => {
                println!("{USAGE}");
                exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(c)
}

/// The value of `flag`, parsed; the error names the flag and the value.
fn number<T>(p: &mut lexopt::Parser, flag: &str) -> std::result::Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let v = p.value()?;
    let s = v.to_string_lossy();
    s.parse().map_err(|e| format!("{flag} {s:?}: {e}").into())
}

/// A count of at least 1.
fn positive(p: &mut lexopt::Parser, flag: &str) -> std::result::Result<usize, lexopt::Error> {
    let n: usize = number(p, flag)?;
    if n == 0 {
        return Err(format!("{flag} must be at least 1").into());
    }
    Ok(n)
}

fn main() {
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vae: {e} (try --help)");
            exit(2);
        }
    };
    if let Err(e) = run(&config) {
        eprintln!("vae: {e}");
        exit(1);
    }
}

/// Images `[N, 1, H, W]` as flat rows `[N, H * W]`.
fn flat(images: &Tensor) -> Result<Tensor> {
    let n = images.shape()[0];
    images.try_reshape([n, images.numel() / n.max(1)])
}

/// Standard normal noise `[rows, latent]` from `stream`.
fn noise(rows: usize, latent: usize, stream: &mut descent::core::rng::Stream) -> Tensor {
    normal(&[rows, latent], 1.0, stream)
}

/// The mean negative ELBO per image over `images` (flat), with `z` sampled from a stream fixed
/// by `seed` (the same draws at every evaluation).
fn evaluate(model: &Vae, images: &Tensor, latent: usize, seed: u64) -> Result<f64> {
    let n = images.shape()[0];
    let ctx = Ctx::eval();
    let mut stream = Seeds::new(seed).stream("eval");
    let mut total = 0.0;
    for start in (0..n).step_by(1000) {
        let len = 1000.min(n - start);
        let tape = Tape::new();
        let x = tape.constant(images.narrow(0, start, len));
        let eps = noise(len, latent, &mut stream);
        let loss = tape.no_grad(|| -> Result<f64> {
            Ok(neg_elbo(&model.pass(&x, eps, &ctx)?, &x)?.value().item())
        })?;
        total += loss * len as f64;
    }
    Ok(total / n as f64)
}

fn run(c: &Config) -> Result<()> {
    let (train, test, what, side) = match &c.data {
        None => {
            let (train, test) = stratified_split(&digits(), 0.2, 0)?;
            (train, test, "the embedded 8x8 digits".to_string(), 8)
        }
        Some(dir) => {
            let m = mnist(dir)?;
            let what = format!("the IDX data in {}", dir.display());
            (m.train, m.test, what, 28)
        }
    };
    let on_mnist = c.data.is_some();
    let epochs = c.epochs.unwrap_or(if on_mnist { 10 } else { 100 });
    let batch_size = c.batch_size.unwrap_or(if on_mnist { 128 } else { 32 });
    let latent = c.latent.unwrap_or(if on_mnist { 20 } else { 8 });
    let hidden = c.hidden.unwrap_or(if on_mnist { 400 } else { 128 });
    let pixels = side * side;
    let test_images = flat(test.features())?;
    let model_seeds = Seeds::new(c.seed);
    let mut model = Vae::new(pixels, hidden, latent, &model_seeds);
    println!(
        "vae: {} training and {} test images from {what}; {pixels}-{hidden}-{latent} encoder, \
         {latent}-{hidden}-{pixels} decoder; batch {}, {epochs} epochs, Adam at lr {}",
        train.len(),
        test.len(),
        batch_size,
        c.lr
    );
    print!("{}", model.summary(&[1, pixels])?);
    std::fs::create_dir_all(&c.out).map_err(|e| descent::core::Error::File {
        path: c.out.clone(),
        detail: format!("cannot create the output folder: {e}"),
    })?;

    let loader = DataLoader::new(train, batch_size)?.shuffle(c.seed);
    let mut opt = Adam::new(AdamConfig {
        lr: c.lr,
        ..AdamConfig::default()
    })?;
    let started = Instant::now();
    let mut test_losses = Vec::new();
    let mut step = 0u64;
    for epoch in 0..epochs {
        let (mut sum, mut seen) = (0.0, 0usize);
        for batch in loader.epoch(epoch) {
            let ctx = Ctx::train(c.seed, epoch, step);
            let tape = Tape::new();
            let x = tape.constant(flat(&batch.features)?);
            let rows = x.shape()[0];
            let eps = noise(rows, latent, &mut ctx.next_stream());
            let loss = neg_elbo(&model.pass(&x, eps, &ctx)?, &x)?;
            sum += loss.value().item() * rows as f64;
            seen += rows;
            let grads = loss.backward();
            opt.step(&mut model, &grads)?;
            step += 1;
        }
        let test_loss = evaluate(&model, &test_images, latent, c.seed)?;
        test_losses.push(test_loss);
        println!(
            "epoch {:>3}: train loss {:8.3}, test loss {:8.3} nats per image ({:.1} s)",
            epoch + 1,
            sum / seen.max(1) as f64,
            test_loss,
            started.elapsed().as_secs_f64()
        );
    }
    let (Some(first), Some(last)) = (test_losses.first(), test_losses.last()) else {
        println!("vae: nothing to train (0 epochs)");
        return Ok(());
    };
    println!("vae: test loss: first epoch {first:.3}, last epoch {last:.3}");
    println!(
        "vae: final test loss {last:.3} nats per image (negative ELBO, sampled z) after {epochs} \
         epochs, {step} steps, {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let recon_path = c.out.join("vae-reconstructions.svg");
    let samples_path = c.out.join("vae-samples.svg");
    draw_reconstructions(&model, &test_images, side, &recon_path)?;
    draw_samples(&model, latent, side, c.seed, &samples_path)?;
    println!(
        "vae: wrote {} and {}",
        recon_path.display(),
        samples_path.display()
    );
    Ok(())
}

/// Reconstructions at the posterior mean of the first 32 test images: 4 rows of 8 pairs
/// (original, reconstruction).
fn draw_reconstructions(model: &Vae, images: &Tensor, side: usize, path: &Path) -> Result<()> {
    let n = 32.min(images.shape()[0]);
    let originals = images.narrow(0, 0, n);
    let tape = Tape::new();
    let x = tape.constant(originals.clone());
    let probs = tape.no_grad(|| model.forward(&x, &Ctx::eval()).map(|l| l.sigmoid()))?;
    let (a, b) = (originals.to_vec_f64(), probs.value().to_vec_f64());
    let mut tiles = Vec::with_capacity(2 * n);
    for i in 0..n {
        let px = side * side;
        tiles.push(a[i * px..(i + 1) * px].to_vec());
        tiles.push(b[i * px..(i + 1) * px].to_vec());
    }
    draw_grid(&tiles, side, 16, 2, path)
}

/// 64 images decoded from `z ~ N(0, I)` (the pixel probabilities), 8 by 8.
fn draw_samples(model: &Vae, latent: usize, side: usize, seed: u64, path: &Path) -> Result<()> {
    let n = 64;
    let z = noise(n, latent, &mut Seeds::new(seed).stream("samples"));
    let tape = Tape::new();
    let zv = tape.constant(z);
    let probs = tape.no_grad(|| model.decode(&zv, &Ctx::eval()).map(|l| l.sigmoid()))?;
    let p = probs.value().to_vec_f64();
    let px = side * side;
    let tiles: Vec<Vec<f64>> = (0..n).map(|i| p[i * px..(i + 1) * px].to_vec()).collect();
    draw_grid(&tiles, side, 8, 1, path)
}

/// Draws `tiles` (each `side * side` values in `[0, 1]`, ink 1 drawn black) in rows of
/// `per_row`, in groups of `group` set apart by a wider gap, one grey square per pixel (white
/// ones left to the background), to an SVG file.
fn draw_grid(
    tiles: &[Vec<f64>],
    side: usize,
    per_row: usize,
    group: usize,
    path: &Path,
) -> Result<()> {
    let cell = if side <= 8 { 6 } else { 3 };
    let gap = 2 * cell;
    let tile = side * cell;
    let rows = tiles.len().div_ceil(per_row);
    let groups = per_row.div_ceil(group);
    let width = per_row * (tile + gap) + (groups - 1) * 2 * gap + gap;
    let height = rows * (tile + gap) + gap;
    let file_error = |e: &dyn std::fmt::Display| descent::core::Error::File {
        path: path.to_path_buf(),
        detail: format!("cannot draw the grid: {e}"),
    };
    let root = SVGBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| file_error(&e))?;
    for (t, values) in tiles.iter().enumerate() {
        let (x0, y0) = (
            gap + (t % per_row) * (tile + gap) + (t % per_row) / group * 2 * gap,
            gap + (t / per_row) * (tile + gap),
        );
        for (k, v) in values.iter().enumerate() {
            let grey = (255.0 * (1.0 - v.clamp(0.0, 1.0))).round() as u8;
            if grey == 255 {
                continue;
            }
            let (x, y) = (
                (x0 + (k % side) * cell) as i32,
                (y0 + (k / side) * cell) as i32,
            );
            let c = cell as i32;
            root.draw(&Rectangle::new(
                [(x, y), (x + c, y + c)],
                RGBColor(grey, grey, grey).filled(),
            ))
            .map_err(|e| file_error(&e))?;
        }
    }
    root.present().map_err(|e| file_error(&e))?;
    Ok(())
}
