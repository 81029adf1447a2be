//! Five optimizers on two functions of two variables, each with a learning rate that is too
//! small, one that is good and one that is too large, drawn over the functions' contour lines.
//!
//! The optimizers are plain gradient descent, SGD with momentum 0.9, Nesterov momentum 0.9,
//! RMSprop and Adam (each with descent's defaults otherwise). The functions are the Rosenbrock
//! function `f(x, y) = (1 − x)² + 100·(y − x²)²`, whose minimum at (1, 1) lies at the end of a
//! long curved valley, and a narrow straight valley: the quadratic `f = ½·(u² + 50·v²)` in
//! coordinates `(u, v)` turned 30° from `(x, y)`, whose condition number is 50. The point is a
//! [`Param`] of shape `[2]` in `f64`; each step records the function on a fresh [`Tape`], calls
//! `backward()` and [`Optimizer::step`].
//!
//! The example prints, for every function, optimizer and learning rate, the steps it took to
//! bring `f` below the tolerance (1e-6), or that it never did, or the step at which it diverged
//! (a step refused with a non-finite loss, or `f` above 1e12), with the final value and point.
//! It writes one SVG per function (`optimizers_2d_rosenbrock.svg`, `optimizers_2d_valley.svg`)
//! with the contour lines (log-spaced levels, found by marching squares), the path of every
//! optimizer at its good learning rate, and the first steps at its too-large one, dashed.
//!
//! Run with `cargo run --release --example optimizers_2d` (`--help` for the options).

use descent::prelude::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::exit;

const USAGE: &str = "\
optimizers_2d: GD, momentum, Nesterov, RMSprop and Adam on Rosenbrock and a narrow valley

usage: optimizers_2d [options]
  --rosenbrock-steps N  step budget on the Rosenbrock function (default 20000)
  --valley-steps N      step budget on the valley (default 500)
  --tol T               the value of f that counts as converged (default 1e-6)
  --out-dir DIR         where to write the two SVG files (default: the current directory)
  -h, --help            print this help";

/// A value of `f` above this counts as diverged.
const EXPLODED: f64 = 1e12;
/// At most how many steps of a too-large learning rate's path the figures draw (they stop
/// earlier, where the path first leaves the figure).
const LARGE_PATH_STEPS: usize = 30;

/// The command line.
struct Config {
    rosenbrock_steps: u64,
    valley_steps: u64,
    tol: f64,
    out_dir: PathBuf,
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

/// Parses the command line; `Ok(None)` means `--help` was printed.
fn parse_args() -> Result<Option<Config>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut c = Config {
        rosenbrock_steps: 20_000,
        valley_steps: 500,
        tol: 1e-6,
        out_dir: PathBuf::from("."),
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => {
                println!("{USAGE}");
                return Ok(None);
            }
            Long("rosenbrock-steps") => c.rosenbrock_steps = value(&mut p, "--rosenbrock-steps")?,
            Long("valley-steps") => c.valley_steps = value(&mut p, "--valley-steps")?,
            Long("tol") => c.tol = value(&mut p, "--tol")?,
            Long("out-dir") => c.out_dir = p.value()?.into(),
            _ => return Err(arg.unexpected()),
        }
    }
    for (flag, n) in [
        ("--rosenbrock-steps", c.rosenbrock_steps),
        ("--valley-steps", c.valley_steps),
    ] {
        if !(1..=1_000_000).contains(&n) {
            return Err(format!("{flag} must be in 1..=1000000").into());
        }
    }
    if !(c.tol > 0.0 && c.tol.is_finite()) {
        return Err("--tol must be positive and finite".into());
    }
    if !c.out_dir.is_dir() {
        return Err(format!("--out-dir {:?} is not a directory", c.out_dir).into());
    }
    Ok(Some(c))
}

/// The cosine and sine of the valley's angle, 30°.
const TURN: (f64, f64) = (0.866_025_403_784_438_6, 0.5);

/// A test function of two variables.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Func {
    /// `(1 − x)² + 100·(y − x²)²`, minimum 0 at (1, 1).
    Rosenbrock,
    /// `½·(u² + 50·v²)` with `u = c·x + s·y`, `v = −s·x + c·y` (a 30° turn), minimum 0 at (0, 0).
    Valley,
}

impl Func {
    /// The name in the table and in file names.
    fn name(self) -> &'static str {
        match self {
            Func::Rosenbrock => "rosenbrock",
            Func::Valley => "valley",
        }
    }

    /// The title of the figure.
    fn title(self) -> &'static str {
        match self {
            Func::Rosenbrock => "Rosenbrock: f = (1 − x)² + 100·(y − x²)²",
            Func::Valley => "Narrow valley: f = ½·(u² + 50·v²), (u, v) turned 30°",
        }
    }

    /// Where every optimizer starts.
    fn start(self) -> (f64, f64) {
        match self {
            Func::Rosenbrock => (-1.5, 2.0),
            Func::Valley => (-4.0, -1.0),
        }
    }

    /// The minimizer.
    fn minimum(self) -> (f64, f64) {
        match self {
            Func::Rosenbrock => (1.0, 1.0),
            Func::Valley => (0.0, 0.0),
        }
    }

    /// The region the figure shows: x range, then y range.
    fn view(self) -> ((f64, f64), (f64, f64)) {
        match self {
            Func::Rosenbrock => ((-2.0, 2.0), (-1.0, 3.0)),
            Func::Valley => ((-5.0, 5.0), (-3.5, 3.5)),
        }
    }

    /// The contour levels, log-spaced (two per decade).
    fn levels(self) -> Vec<f64> {
        let decades = match self {
            Func::Rosenbrock => -2..4,
            Func::Valley => -2..3,
        };
        decades
            .flat_map(|k| [10f64.powi(k), 3.0 * 10f64.powi(k)])
            .collect()
    }

    /// `f(x, y)` in plain `f64`, for the contour lines.
    fn eval(self, x: f64, y: f64) -> f64 {
        match self {
            Func::Rosenbrock => (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2),
            Func::Valley => {
                let (c, s) = TURN;
                let (u, v) = (c * x + s * y, -s * x + c * y);
                0.5 * (u * u + 50.0 * v * v)
            }
        }
    }

    /// Records `f(p)` on the tape of `p`, a variable of shape `[2]`, as a scalar.
    fn record(self, p: &Var) -> Var {
        let x = p.narrow(0, 0, 1);
        let y = p.narrow(0, 1, 1);
        let f = match self {
            Func::Rosenbrock => (1.0 - &x).square() + (y - x.square()).square() * 100.0,
            Func::Valley => {
                let (c, s) = TURN;
                let u = &x * c + &y * s;
                let v = &y * c - &x * s;
                u.square() * 0.5 + v.square() * 25.0
            }
        };
        f.sum_all()
    }
}

/// An optimizer, as the example configures it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Plain gradient descent.
    Gd,
    /// SGD with (heavy-ball) momentum 0.9.
    Momentum,
    /// SGD with Nesterov momentum 0.9.
    Nesterov,
    /// RMSprop with its default smoothing 0.99.
    RmsProp,
    /// Adam with its default betas (0.9, 0.999).
    Adam,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Gd,
        Kind::Momentum,
        Kind::Nesterov,
        Kind::RmsProp,
        Kind::Adam,
    ];

    /// The name in the table and the legend.
    fn name(self) -> &'static str {
        match self {
            Kind::Gd => "GD",
            Kind::Momentum => "momentum",
            Kind::Nesterov => "Nesterov",
            Kind::RmsProp => "RMSprop",
            Kind::Adam => "Adam",
        }
    }

    /// The color of its paths.
    fn color(self) -> RGBColor {
        match self {
            Kind::Gd => RGBColor(40, 40, 40),
            Kind::Momentum => RGBColor(31, 119, 180),
            Kind::Nesterov => RGBColor(44, 160, 44),
            Kind::RmsProp => RGBColor(255, 127, 14),
            Kind::Adam => RGBColor(214, 39, 40),
        }
    }

    /// The optimizer with learning rate `lr`.
    fn build(self, lr: f64) -> descent::optim::Result<Box<dyn Optimizer>> {
        let momentum = |nesterov| SgdConfig {
            lr,
            momentum: 0.9,
            nesterov,
            ..SgdConfig::default()
        };
        Ok(match self {
            Kind::Gd => Box::new(Gd::new(lr)?),
            Kind::Momentum => Box::new(Sgd::with_config(momentum(false))?),
            Kind::Nesterov => Box::new(Sgd::with_config(momentum(true))?),
            Kind::RmsProp => Box::new(RmsProp::new(RmsPropConfig {
                lr,
                ..RmsPropConfig::default()
            })?),
            Kind::Adam => Box::new(Adam::new(AdamConfig {
                lr,
                ..AdamConfig::default()
            })?),
        })
    }

    /// The too small, good and too large learning rates on `func`, found by trying.
    fn lrs(self, func: Func) -> [f64; 3] {
        match (func, self) {
            (Func::Rosenbrock, Kind::Gd) => [1e-5, 1e-3, 3e-3],
            (Func::Rosenbrock, Kind::Momentum) => [1e-6, 1e-3, 3e-3],
            (Func::Rosenbrock, Kind::Nesterov) => [1e-6, 1e-3, 3e-3],
            (Func::Rosenbrock, Kind::RmsProp) => [1e-5, 3e-4, 1e-1],
            (Func::Rosenbrock, Kind::Adam) => [1e-4, 1e-1, 10.0],
            (Func::Valley, Kind::Gd) => [3e-5, 3e-2, 5e-2],
            (Func::Valley, Kind::Momentum) => [1e-5, 1e-2, 1e-1],
            (Func::Valley, Kind::Nesterov) => [1e-5, 1e-2, 3e-2],
            (Func::Valley, Kind::RmsProp) => [1e-4, 1e-1, 3.0],
            (Func::Valley, Kind::Adam) => [1e-4, 3e-1, 10.0],
        }
    }
}

/// What became of one run.
struct Outcome {
    /// The step at which `f` first fell below the tolerance.
    reached: Option<u64>,
    /// The step at which the run diverged, and how.
    diverged: Option<(u64, String)>,
    /// The last finite value of `f`, and where.
    final_f: f64,
    final_point: (f64, f64),
    /// The largest finite value of `f` seen: how far a run strayed uphill.
    peak_f: f64,
    /// Every point visited, from the start.
    path: Vec<(f64, f64)>,
}

/// Runs `kind` with learning rate `lr` on `func` for at most `budget` steps, stopping when `f`
/// falls below `tol` or the run diverges.
fn run(func: Func, kind: Kind, lr: f64, budget: u64, tol: f64) -> Outcome {
    let start = func.start();
    let mut p = Param::named("p", Tensor::from_vec(vec![start.0, start.1], [2]));
    // The learning rates are constants that the optimizers accept.
    let mut opt = kind.build(lr).expect("valid optimizer settings");
    let mut out = Outcome {
        reached: None,
        diverged: None,
        final_f: func.eval(start.0, start.1),
        final_point: start,
        peak_f: func.eval(start.0, start.1),
        path: vec![start],
    };
    for step in 0..=budget {
        let tape = Tape::new();
        let f = func.record(&tape.param(&p));
        let fv = f.value().item();
        if !fv.is_finite() || fv > EXPLODED {
            out.diverged = Some((step, format!("f = {fv:.1e}")));
            break;
        }
        out.final_f = fv;
        out.peak_f = out.peak_f.max(fv);
        out.final_point = *out.path.last().expect("the path has the start");
        if fv < tol {
            out.reached = Some(step);
            break;
        }
        if step == budget {
            break;
        }
        if let Err(e) = opt.step(&mut p, &f.backward()) {
            // A NaN or infinite gradient: the optimizer refused the step.
            out.diverged = Some((step + 1, e.to_string()));
            break;
        }
        let v = p.value().to_vec_f64();
        out.path.push((v[0], v[1]));
    }
    out
}

/// Formats a learning rate briefly: `0.001`, `1e-5`, `10`.
fn fmt_lr(lr: f64) -> String {
    if lr < 1e-3 {
        format!("{lr:e}")
    } else {
        format!("{lr}")
    }
}

/// A learning rate's role in the comparison.
const ROLES: [&str; 3] = ["too small", "good", "too large"];

/// One line of the table: a function, an optimizer, a learning rate and what became of it.
struct Trial {
    func: Func,
    kind: Kind,
    role: usize,
    lr: f64,
    outcome: Outcome,
}

/// The contour lines of `f` at `level` over `view`, by marching squares on an `n × n` grid,
/// joined into polylines.
fn contour(
    f: &dyn Fn(f64, f64) -> f64,
    view: ((f64, f64), (f64, f64)),
    n: usize,
    level: f64,
) -> Vec<Vec<(f64, f64)>> {
    let ((x0, x1), (y0, y1)) = view;
    let (dx, dy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
    let at = |i: usize, j: usize| (x0 + i as f64 * dx, y0 + j as f64 * dy);
    let values: Vec<f64> = (0..=n)
        .flat_map(|j| (0..=n).map(move |i| (i, j)))
        .map(|(i, j)| {
            let (x, y) = at(i, j);
            f(x, y)
        })
        .collect();
    let v = |i: usize, j: usize| values[j * (n + 1) + i];
    // An edge of the grid: from node (i, j) to the right (false) or upwards (true).
    type Edge = (usize, usize, bool);
    let crossing = |(i, j, up): Edge| {
        let (a, b) = if up {
            (v(i, j), v(i, j + 1))
        } else {
            (v(i, j), v(i + 1, j))
        };
        let t = ((level - a) / (b - a)).clamp(0.0, 1.0);
        let (x, y) = at(i, j);
        if up { (x, y + t * dy) } else { (x + t * dx, y) }
    };
    // The segments of every cell, as pairs of the edges they join.
    let mut segments: Vec<(Edge, Edge)> = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let above = |i, j| v(i, j) > level;
            let (a, b, c, d) = (
                above(i, j),
                above(i + 1, j),
                above(i + 1, j + 1),
                above(i, j + 1),
            );
            let bottom = (i, j, false);
            let right = (i + 1, j, true);
            let top = (i, j + 1, false);
            let left = (i, j, true);
            let cut: Vec<Edge> = [
                (a != b, bottom),
                (b != c, right),
                (c != d, top),
                (d != a, left),
            ]
            .into_iter()
            .filter_map(|(crossed, e)| crossed.then_some(e))
            .collect();
            match cut.len() {
                2 => segments.push((cut[0], cut[1])),
                4 => {
                    // A saddle: the cell's centre decides which corners the level set joins.
                    let centre = (v(i, j) + v(i + 1, j) + v(i + 1, j + 1) + v(i, j + 1)) / 4.0;
                    if (centre > level) == a {
                        segments.push((bottom, right));
                        segments.push((top, left));
                    } else {
                        segments.push((bottom, left));
                        segments.push((top, right));
                    }
                }
                _ => {}
            }
        }
    }
    // Join the segments that share an edge into polylines.
    let mut by_edge: HashMap<Edge, Vec<usize>> = HashMap::new();
    for (k, &(e1, e2)) in segments.iter().enumerate() {
        by_edge.entry(e1).or_default().push(k);
        by_edge.entry(e2).or_default().push(k);
    }
    let mut used = vec![false; segments.len()];
    let mut lines = Vec::new();
    for first in 0..segments.len() {
        if used[first] {
            continue;
        }
        used[first] = true;
        let (e1, e2) = segments[first];
        // Walk from `e2` forwards, then from `e1` backwards.
        let mut walk = |mut edge: Edge| {
            let mut edges = Vec::new();
            while let Some(&k) = by_edge[&edge].iter().find(|&&k| !used[k]) {
                used[k] = true;
                let (a, b) = segments[k];
                edge = if a == edge { b } else { a };
                edges.push(edge);
            }
            edges
        };
        let forward = walk(e2);
        let backward = walk(e1);
        let edges = backward.into_iter().rev().chain([e1, e2]).chain(forward);
        lines.push(edges.map(crossing).collect());
    }
    lines
}

/// The pieces of a path inside the rectangle `view` (Liang–Barsky clipping of each segment).
fn clip(path: &[(f64, f64)], view: ((f64, f64), (f64, f64))) -> Vec<Vec<(f64, f64)>> {
    let ((x0, x1), (y0, y1)) = view;
    let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for w in path.windows(2) {
        let ((ax, ay), (bx, by)) = (w[0], w[1]);
        let (dx, dy) = (bx - ax, by - ay);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let mut visible = true;
        for (p, q) in [(-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)] {
            if p == 0.0 {
                visible &= q >= 0.0;
            } else {
                let t = q / p;
                if p < 0.0 {
                    t0 = t0.max(t);
                } else {
                    t1 = t1.min(t);
                }
            }
        }
        if !visible || t0 > t1 {
            if current.len() > 1 {
                pieces.push(std::mem::take(&mut current));
            }
            current.clear();
            continue;
        }
        let a = (ax + t0 * dx, ay + t0 * dy);
        let b = (ax + t1 * dx, ay + t1 * dy);
        if current.last() != Some(&a) {
            if current.len() > 1 {
                pieces.push(std::mem::take(&mut current));
            }
            current = vec![a];
        }
        current.push(b);
        if t1 < 1.0 {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if current.len() > 1 {
        pieces.push(current);
    }
    pieces
}

/// Drops the points of a path closer than `eps` (in units of the view's size) to the last point
/// kept, so a path of thousands of tiny steps stays a small file; the last point is always kept.
fn thin(path: &[(f64, f64)], view: ((f64, f64), (f64, f64)), eps: f64) -> Vec<(f64, f64)> {
    let ((x0, x1), (y0, y1)) = view;
    let (sx, sy) = (x1 - x0, y1 - y0);
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (k, &p) in path.iter().enumerate() {
        let far = out
            .last()
            .is_none_or(|&(x, y): &(f64, f64)| ((p.0 - x) / sx).hypot((p.1 - y) / sy) >= eps);
        if far || k + 1 == path.len() {
            out.push(p);
        }
    }
    out
}

/// Draws the figure of `func`: contours, the good learning rates' paths and the first steps of
/// the too-large ones.
fn plot(
    area: &DrawingArea<SVGBackend, Shift>,
    func: Func,
    trials: &[&Trial],
) -> Result<(), Box<dyn std::error::Error>> {
    let view = func.view();
    let ((x0, x1), (y0, y1)) = view;
    area.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(area)
        .caption(func.title(), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("x")
        .y_desc("y")
        .draw()?;

    // Contour lines, darker at whole decades.
    let levels = func.levels();
    for (k, &level) in levels.iter().enumerate() {
        let style = if k % 2 == 0 {
            RGBColor(150, 150, 150).stroke_width(1)
        } else {
            RGBColor(200, 200, 200).stroke_width(1)
        };
        let lines = contour(&|x, y| func.eval(x, y), view, 200, level);
        chart.draw_series(lines.into_iter().map(|l| PathElement::new(l, style)))?;
    }
    let (lo, hi) = (levels[0], levels[levels.len() - 1]);
    chart
        .draw_series([PathElement::new(vec![], RGBColor(150, 150, 150))])?
        .label(format!("f = {lo:.0e} … {hi:.0e}, ×√10 apart"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(150, 150, 150)));

    // The first steps of each too-large learning rate, dashed and faded, up to where the path
    // first leaves the figure.
    let inside = |&(x, y): &(f64, f64)| (x0..=x1).contains(&x) && (y0..=y1).contains(&y);
    for t in trials.iter().filter(|t| t.role == 2) {
        let color = t.kind.color().mix(0.6);
        let path = &t.outcome.path;
        let out = path.iter().position(|p| !inside(p)).unwrap_or(path.len());
        let steps = &path[..(out + 1).min(path.len()).min(LARGE_PATH_STEPS + 1)];
        if let Some(piece) = clip(steps, view).into_iter().next() {
            chart.draw_series(DashedLineSeries::new(piece, 5, 4, color.stroke_width(1)))?;
        }
    }
    chart
        .draw_series([PathElement::new(vec![], BLACK)])?
        .label("too large lr: first steps")
        .legend(|(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (6, 0)], BLACK.mix(0.5))
                + PathElement::new(vec![(10, 0), (16, 0)], BLACK.mix(0.5))
        });

    // The good learning rates' paths, each drawn narrower than the one before, so that where
    // they run together (as along Rosenbrock's valley floor) every color still shows.
    let widths = match func {
        Func::Rosenbrock => [6u32, 5, 4, 3, 2],
        Func::Valley => [3, 3, 3, 2, 2],
    };
    let good = trials.iter().filter(|t| t.role == 1);
    for (t, width) in good.zip(widths) {
        let color = t.kind.color();
        let path = thin(&t.outcome.path, view, 0.002);
        let reached = match (t.outcome.reached, &t.outcome.diverged) {
            (Some(k), _) => format!("{k} steps"),
            (None, Some((k, _))) => format!("diverged at {k}"),
            (None, None) => format!("f = {:.0e} at the end", t.outcome.final_f),
        };
        let label = format!("{} (lr {}): {reached}", t.kind.name(), fmt_lr(t.lr));
        let mut first = true;
        for piece in clip(&path, view) {
            let style = color.stroke_width(width);
            let series = chart.draw_series(LineSeries::new(piece, style))?;
            if std::mem::take(&mut first) {
                series.label(label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
                });
            }
        }
    }

    // The start and the minimum.
    let start = func.start();
    chart
        .draw_series([Circle::new(start, 5, BLACK.filled())])?
        .label("start")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, BLACK.filled()));
    chart
        .draw_series([Cross::new(func.minimum(), 7, BLACK.stroke_width(2))])?
        .label("minimum")
        .legend(|(x, y)| Cross::new((x + 10, y), 5, BLACK.stroke_width(2)));

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

fn main() {
    let cfg = match parse_args() {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            eprintln!("optimizers_2d: {e}; see --help");
            exit(2);
        }
    };

    let mut trials = Vec::new();
    for func in [Func::Rosenbrock, Func::Valley] {
        let budget = match func {
            Func::Rosenbrock => cfg.rosenbrock_steps,
            Func::Valley => cfg.valley_steps,
        };
        for kind in Kind::ALL {
            for (role, lr) in kind.lrs(func).into_iter().enumerate() {
                let outcome = run(func, kind, lr, budget, cfg.tol);
                trials.push(Trial {
                    func,
                    kind,
                    role,
                    lr,
                    outcome,
                });
            }
        }
    }

    println!(
        "{:<11} {:<9} {:>7} {:<10} {:>22} {:>10} {:>10}  final point",
        "function",
        "optimizer",
        "lr",
        "(role)",
        format!("steps to f < {:.0e}", cfg.tol),
        "final f",
        "max f"
    );
    for t in &trials {
        let o = &t.outcome;
        let steps = match (o.reached, &o.diverged) {
            (Some(k), _) => k.to_string(),
            (None, Some((k, _))) => format!("diverged at step {k}"),
            (None, None) => "—".to_string(),
        };
        println!(
            "{:<11} {:<9} {:>7} {:<10} {:>22} {:>10.3e} {:>10.1e}  ({:+.4}, {:+.4})",
            t.func.name(),
            t.kind.name(),
            fmt_lr(t.lr),
            ROLES[t.role],
            steps,
            o.final_f,
            o.peak_f,
            o.final_point.0,
            o.final_point.1
        );
    }
    println!(
        "(— means not within the budget of {} steps on rosenbrock, {} on valley; a run diverges \
         when f exceeds {EXPLODED:.0e} or a step is refused)",
        cfg.rosenbrock_steps, cfg.valley_steps
    );
    for t in &trials {
        if let Some((k, why)) = &t.outcome.diverged {
            println!(
                "  {} {} lr {} diverged at step {k}: {why}",
                t.func.name(),
                t.kind.name(),
                fmt_lr(t.lr)
            );
        }
    }

    println!();
    for func in [Func::Rosenbrock, Func::Valley] {
        let path = cfg
            .out_dir
            .join(format!("optimizers_2d_{}.svg", func.name()));
        let of_func: Vec<&Trial> = trials.iter().filter(|t| t.func == func).collect();
        let ((x0, x1), (y0, y1)) = func.view();
        // Equal scales on both axes, so the valley's angle and width are true.
        let width = 760u32;
        let height = (f64::from(width - 45) * (y1 - y0) / (x1 - x0)) as u32 + 75;
        let area = SVGBackend::new(&path, (width, height)).into_drawing_area();
        let drawn = plot(&area, func, &of_func).and_then(|()| Ok(area.present()?));
        match drawn {
            Ok(()) => println!("{} figure written to {}", func.name(), path.display()),
            Err(e) => {
                eprintln!("optimizers_2d: cannot write {}: {e}", path.display());
                exit(1);
            }
        }
    }
}
