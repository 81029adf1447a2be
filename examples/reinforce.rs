//! REINFORCE on CartPole: a policy gradient, the gradient-descent way to learn to act.
//!
//! A policy MLP (4-128-2, ReLU) maps the CartPole state to the logits of two actions (push
//! left, push right). Each episode samples its actions from the softmax of the logits with the
//! seeded stream `episode/<n>`, which also draws the initial state. After the episode the
//! return-to-go `G_t = r_t + 0.99 r_{t+1} + 0.99² r_{t+2} + …` of every step is computed, and
//! the batch of returns is standardized (minus its mean, over its standard deviation): the mean
//! is the baseline, and the scale keeps the step size the same for short and long episodes.
//! The loss is `-mean_t(log π(a_t | s_t) · Â_t)`; its gradient is the policy gradient. The
//! log-probabilities of the sampled actions go through the tape (`log_softmax`, then `gather`
//! with the actions as an `IntTensor`) and Adam takes one step per episode.
//!
//! The run stops once the average return of the last 100 episodes reaches 475 (the task's
//! "solved" mark for `CartPole-v1`, whose episodes last at most 500 steps) or after
//! `--episodes`. It prints the moving average every 50 episodes, the episode where 475 was
//! reached, and draws the returns and their moving average to an SVG file.
//!
//! Run: `cargo run --release --example reinforce` (`-- --help` for the options).

#[path = "reinforce/cartpole.rs"]
mod cartpole;

use cartpole::CartPole;
use descent::prelude::*;
use plotters::prelude::*;
use std::path::PathBuf;
use std::process::exit;
use std::time::Instant;

/// The discount factor of the returns.
const GAMMA: f64 = 0.99;
/// The moving-average window, and the average return that counts as solved.
const WINDOW: usize = 100;
const SOLVED: f64 = 475.0;

const USAGE: &str = "\
reinforce: learn to balance a CartPole with REINFORCE (policy gradient, Adam)

usage: reinforce [options]
  --episodes N    most episodes to play (default 1000; the run stops once the average return
                  of the last 100 episodes reaches 475)
  --lr LR         Adam's learning rate (default 0.01)
  --seed S        seed of the policy's initialization, the initial states and the actions
                  (default 0)
  --out FILE      where to draw the returns per episode (default reinforce.svg)
  -h, --help      print this help

Try --lr 0.03 (the policy locks onto one action within 50 episodes and never recovers) or
--lr 0.0003 (it learns, but slowly: an average near 120 after 1,000 episodes).";

/// The command line.
struct Config {
    episodes: usize,
    lr: f64,
    seed: u64,
    out: PathBuf,
}

/// Parses the command line; `Ok(None)` means `--help` was printed.
fn parse_args() -> Result<Option<Config>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut c = Config {
        episodes: 1000,
        lr: 1e-2,
        seed: 0,
        out: PathBuf::from("reinforce.svg"),
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => {
                println!("{USAGE}");
                return Ok(None);
            }
            Long("episodes") => c.episodes = value(&mut p, "--episodes")?,
            Long("lr") => c.lr = value(&mut p, "--lr")?,
            Long("seed") => c.seed = value(&mut p, "--seed")?,
            Long("out") => c.out = p.value()?.into(),
            _ => return Err(arg.unexpected()),
        }
    }
    if !(1..=1_000_000).contains(&c.episodes) {
        return Err("--episodes must be in 1..=1000000".into());
    }
    if !(c.lr > 0.0 && c.lr.is_finite()) {
        return Err(format!("--lr must be positive and finite, not {}", c.lr).into());
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

/// What one episode left behind: the states seen, the actions taken and the rewards earned.
struct Episode {
    states: Vec<f32>,
    actions: Vec<i64>,
    rewards: Vec<f64>,
}

/// Plays one episode with the current policy: each action is drawn from the softmax of the
/// policy's logits (a forward without the tape), the initial state and the draws from the
/// stream `episode/<n>`.
fn play(policy: &Sequential, seeds: &Seeds, n: usize) -> Result<Episode> {
    let mut stream = seeds.stream(&format!("episode/{n}"));
    let mut env = CartPole::reset(|| stream.next_f64());
    let mut ep = Episode {
        states: Vec::new(),
        actions: Vec::new(),
        rewards: Vec::new(),
    };
    let ctx = Ctx::eval();
    loop {
        let state = env.state.map(|v| v as f32);
        let tape = Tape::new();
        let probs = tape.no_grad(|| -> Result<Vec<f64>> {
            let logits =
                policy.forward(&tape.constant(Tensor::from_slice(&state, [1, 4])), &ctx)?;
            Ok(logits.value().try_softmax(-1)?.to_vec_f64())
        })?;
        // Categorical sampling: the first action whose cumulative probability passes u.
        let action = usize::from(stream.next_f64() >= probs[0]);
        ep.states.extend(state);
        ep.actions.push(action as i64);
        let (reward, done) = env.step(action);
        ep.rewards.push(reward);
        if done {
            return Ok(ep);
        }
    }
}

/// The discounted return-to-go of every step, standardized over the episode: the mean is the
/// baseline, and dividing by the standard deviation keeps the gradient's scale steady.
fn advantages(rewards: &[f64]) -> Vec<f32> {
    let mut returns = vec![0.0; rewards.len()];
    let mut g = 0.0;
    for (t, r) in rewards.iter().enumerate().rev() {
        g = r + GAMMA * g;
        returns[t] = g;
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|g| (g - mean) * (g - mean)).sum::<f64>() / n;
    let std = var.sqrt() + 1e-8;
    returns.iter().map(|g| ((g - mean) / std) as f32).collect()
}

/// One policy-gradient step on the episode: the loss `-mean(log π(a_t | s_t) · Â_t)` through
/// the tape, its gradient, and Adam's step. Returns the loss.
fn update(policy: &mut Sequential, opt: &mut Adam, ep: &Episode) -> Result<f64> {
    let steps = ep.actions.len();
    let tape = Tape::new();
    let states = tape.constant(Tensor::from_slice(&ep.states, [steps, 4]));
    let logits = policy.forward(&states, &Ctx::train(0, 0, 0))?;
    let actions = IntTensor::from_vec(ep.actions.clone(), [steps, 1]);
    let log_probs = logits.try_log_softmax(-1)?.try_gather(1, &actions)?;
    let adv = tape.constant(Tensor::from_vec(advantages(&ep.rewards), [steps, 1]));
    let loss = -log_probs.try_mul(&adv)?.mean_all();
    let value = loss.value().try_item()?;
    let grads = loss.backward();
    opt.step(policy, &grads)?;
    Ok(value)
}

/// The mean of the last `window` values (or of all, if fewer).
fn moving_average(values: &[f64], window: usize) -> f64 {
    let tail = &values[values.len().saturating_sub(window)..];
    tail.iter().sum::<f64>() / tail.len().max(1) as f64
}

fn main() {
    let config = match parse_args() {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            eprintln!("reinforce: {e} (try --help)");
            exit(2);
        }
    };
    if let Err(e) = run(&config) {
        eprintln!("reinforce: {e}");
        exit(1);
    }
}

fn run(c: &Config) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let seeds = Seeds::new(c.seed);
    let mut policy = Sequential::new()
        .push(Linear::new(4, 128, true, &seeds.stream("policy/0")))
        .push(ReLU)
        .push(Linear::new(128, 2, true, &seeds.stream("policy/2")));
    let mut opt = Adam::new(AdamConfig {
        lr: c.lr,
        ..AdamConfig::default()
    })?;
    println!(
        "reinforce: CartPole, policy 4-128-2, Adam at lr {}, seed {}, up to {} episodes",
        c.lr, c.seed, c.episodes
    );
    let started = Instant::now();
    let mut returns: Vec<f64> = Vec::new();
    let mut averages: Vec<f64> = Vec::new();
    let mut solved = None;
    for n in 0..c.episodes {
        let ep = play(&policy, &seeds, n)?;
        returns.push(ep.rewards.iter().sum());
        update(&mut policy, &mut opt, &ep)?;
        let avg = moving_average(&returns, WINDOW);
        averages.push(avg);
        if (n + 1) % 50 == 0 {
            println!(
                "episode {:>5}: return {:>5.0}, average of the last {} {:>6.1} ({:.1} s)",
                n + 1,
                returns[n],
                WINDOW.min(n + 1),
                avg,
                started.elapsed().as_secs_f64()
            );
        }
        if returns.len() >= WINDOW && avg >= SOLVED {
            solved = Some(n + 1);
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let played = returns.len();
    let half = 50.min(played);
    println!(
        "reinforce: average return of the last {half} episodes {:.1} (first {half}: {:.1})",
        moving_average(&returns, half),
        returns[..half].iter().sum::<f64>() / half as f64
    );
    match solved {
        Some(n) => println!(
            "reinforce: solved: the average return of episodes {}-{n} is {:.1} >= {SOLVED} \
             (reached at episode {n}, {secs:.1} s)",
            n + 1 - WINDOW,
            averages[n - 1]
        ),
        None => println!(
            "reinforce: not solved in {played} episodes: final average return of the last {} \
             {:.1} ({secs:.1} s)",
            WINDOW.min(played),
            averages[played - 1]
        ),
    }
    if let Some(dir) = c.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    }
    plot(&c.out, &returns, &averages, c.seed)
        .map_err(|e| format!("cannot write {}: {e}", c.out.display()))?;
    println!("reinforce: returns per episode in {}", c.out.display());
    Ok(())
}

/// Draws the return of every episode and the 100-episode moving average, with the 475 mark.
fn plot(
    path: &PathBuf,
    returns: &[f64],
    averages: &[f64],
    seed: u64,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let episodes = returns.len().max(2) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("REINFORCE on CartPole (seed {seed})"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(1f64..episodes, 0f64..520f64)?;
    chart
        .configure_mesh()
        .x_desc("episode")
        .y_desc("return")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let blue = RGBColor(31, 119, 180);
    let red = RGBColor(214, 39, 40);
    let points = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &r)| ((i + 1) as f64, r))
            .collect()
    };
    chart
        .draw_series(LineSeries::new(points(returns), blue.mix(0.4)))?
        .label("return of the episode")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.mix(0.4)));
    chart
        .draw_series(LineSeries::new(points(averages), red.stroke_width(2)))?
        .label(format!("average of the last {WINDOW}"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    chart
        .draw_series(DashedLineSeries::new(
            [(1.0, SOLVED), (episodes, SOLVED)],
            6,
            4,
            BLACK.mix(0.6).into(),
        ))?
        .label(format!("solved ({SOLVED})"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}
