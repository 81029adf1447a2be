//! [`Learner`]: the training loop.

use crate::distributed::{DataParallel, evaluate_sums};
use crate::history::{EpochRecord, History};
use crate::progress::{Progress, Reporter};
use descent_core::io::{self, WeightFile};
use descent_core::{Error, Gradients, IntTensor, Params, Result, Tape, Tensor, Var};
use descent_data::{Batch, DataLoader};
use descent_nn::{Ctx, Module};
use descent_optim::checkpoint::{load_optimizer_entries, optimizer_entries};
use descent_optim::monitor::{LossMonitor, Progress as Trend};
use descent_optim::schedule::Schedule;
use descent_optim::{Optimizer, clip_grad_norm};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The loss of a batch from the model's output and the labels.
pub type LossFn<'a> = Box<dyn Fn(&Var, &IntTensor) -> Result<Var> + 'a>;

const FORMAT_KEY: &str = "descent.train";
const FORMAT: &str = "1";

/// Where the loop is: what a training checkpoint holds besides the weights and the optimizer.
#[derive(Clone, Debug, Default, PartialEq)]
struct LoopState {
    /// The current epoch.
    epoch: u64,
    /// Batches of the current epoch already trained on.
    position: usize,
    /// Steps taken in all.
    step: u64,
    /// The current epoch's sums so far: loss x samples, samples, right answers, samples with an
    /// accuracy, training seconds.
    loss_sum: f64,
    seen: u64,
    correct: u64,
    counted: u64,
    seconds: f64,
    /// The loss monitor's window.
    monitor: Vec<f64>,
    /// The mean loss of the first steps, and how many were averaged: the reference of the
    /// explosion check.
    initial_sum: f64,
    initial_count: u64,
    /// The last few losses, for the explosion check.
    recent: Vec<f64>,
    history: History,
}

/// A training run: a model, an optimizer and the settings of the loop; [`Learner::fit`] runs it.
///
/// Each step draws a batch from the loader, runs a training forward with
/// `Ctx::train(seed, epoch, step)` (dropout masks derive from it), computes the loss (by default
/// cross-entropy of the output logits against the labels), runs backward, optionally clips the
/// gradient norm, and takes an optimizer step at the schedule's learning rate. It tracks the
/// mean loss and accuracy, evaluates on the validation loader after each epoch, prints progress
/// ([`Progress`]), and can write curves and resumable checkpoints.
///
/// The learning-rate guard rails are on by default: a loss that explodes (the mean of the last 5
/// steps above 10 times the initial loss), climbs back above its initial value (the mean of the
/// last window of steps 50 % above the window before) or becomes non-finite stops the run with
/// [`Error::Diverged`], naming the learning rate and suggesting a tenth of it. A smaller climb
/// or a stall while the loss is still above half its initial value (below it, they are the
/// wiggles of a converging run) prints a warning (at most once per epoch). [`Learner::lr_warnings`] turns all of it off.
///
/// ```
/// use descent_core::{IntTensor, Tensor};
/// use descent_data::{DataLoader, TensorDataset};
/// use descent_nn::{Linear, ReLU, Seeds, Sequential};
/// use descent_optim::{Adam, AdamConfig};
/// use descent_train::{Learner, Progress};
///
/// // Two blobs, class = which side of 0 the first feature is on.
/// let x: Vec<f32> = (0..64).map(|i| if i % 2 == 0 { (i as f32 - 32.0) / 8.0 } else { 0.5 }).collect();
/// let y: Vec<usize> = (0..32).map(|i| usize::from(i >= 16)).collect();
/// let data = TensorDataset::new(Tensor::from_vec(x, [32, 2]), IntTensor::from(&y[..])).unwrap();
/// let loader = DataLoader::new(data.clone(), 8).unwrap().shuffle(0);
///
/// let s = Seeds::new(0);
/// let mut model = Sequential::new()
///     .push(Linear::new(2, 8, true, &s.stream("0")))
///     .push(ReLU)
///     .push(Linear::new(8, 2, true, &s.stream("2")));
/// let mut opt = Adam::new(AdamConfig { lr: 0.05, ..AdamConfig::default() }).unwrap();
/// let history = Learner::new(&mut model, &mut opt)
///     .epochs(20)
///     .validation(DataLoader::new(data, 32).unwrap())
///     .progress(Progress::Quiet)
///     .fit(&loader)
///     .unwrap();
/// assert!(history.last().unwrap().val_accuracy.unwrap() > 0.9);
/// ```
pub struct Learner<'a, M: Module + Params> {
    model: &'a mut M,
    optimizer: &'a mut dyn Optimizer,
    schedule: Option<Box<dyn Schedule>>,
    loss: LossFn<'a>,
    epochs: u64,
    seed: u64,
    validation: Option<DataLoader>,
    checkpoint: Option<(PathBuf, Option<u64>)>,
    resume: Option<PathBuf>,
    guard: bool,
    progress: Progress,
    curves: Option<PathBuf>,
    clip_norm: Option<f64>,
    max_steps: Option<u64>,
    dp: Option<&'a DataParallel>,
}

impl<'a, M: Module + Params> Learner<'a, M> {
    /// A run of `model` with `optimizer`: one epoch, seed 0, cross-entropy loss, guard rails
    /// on, progress [`Progress::Auto`].
    pub fn new(model: &'a mut M, optimizer: &'a mut dyn Optimizer) -> Learner<'a, M> {
        Learner {
            model,
            optimizer,
            schedule: None,
            loss: Box::new(|out: &Var, labels: &IntTensor| out.try_cross_entropy(labels)),
            epochs: 1,
            seed: 0,
            validation: None,
            checkpoint: None,
            resume: None,
            guard: true,
            progress: Progress::Auto,
            curves: None,
            clip_norm: None,
            max_steps: None,
            dp: None,
        }
    }

    /// The number of epochs.
    pub fn epochs(mut self, epochs: u64) -> Self {
        self.epochs = epochs;
        self
    }

    /// The seed of the run's training-time random streams (dropout); the loader has its own.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A learning-rate schedule: the learning rate (and, for [`OneCycle`], the momentum) of
    /// each step.
    ///
    /// [`OneCycle`]: descent_optim::schedule::OneCycle
    pub fn schedule(mut self, schedule: impl Schedule + 'static) -> Self {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// The loss of a batch from the model's output and the labels (default: cross-entropy of
    /// logits against class labels).
    pub fn loss(mut self, loss: impl Fn(&Var, &IntTensor) -> Result<Var> + 'a) -> Self {
        self.loss = Box::new(loss);
        self
    }

    /// A validation loader, evaluated after each epoch.
    pub fn validation(mut self, loader: DataLoader) -> Self {
        self.validation = Some(loader);
        self
    }

    /// Writes a training checkpoint to `path` (atomically) every `every_steps` steps, if given,
    /// and at the end of each epoch: weights, buffers, optimizer state, the loop's position and
    /// metrics so far. [`Learner::resume`] continues from it bit-identically.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>, every_steps: Option<u64>) -> Self {
        self.checkpoint = Some((path.into(), every_steps.filter(|&n| n > 0)));
        self
    }

    /// Continues the run from the checkpoint at `path` (written by [`Learner::checkpoint`] with
    /// the same model, optimizer, loader and seed).
    pub fn resume(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume = Some(path.into());
        self
    }

    /// Whether a climbing loss stops the run and a stalled one prints a warning (on by default).
    pub fn lr_warnings(mut self, on: bool) -> Self {
        self.guard = on;
        self
    }

    /// How progress is printed.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Writes the curves to `<prefix>.csv` and `<prefix>.svg` after each epoch.
    pub fn curves(mut self, prefix: impl Into<PathBuf>) -> Self {
        self.curves = Some(prefix.into());
        self
    }

    /// Clips the gradients' global norm to `max_norm` before each step.
    pub fn clip_grad_norm(mut self, max_norm: f64) -> Self {
        self.clip_norm = Some(max_norm);
        self
    }

    /// Stops after `steps` steps in all (counting those before a resume), wherever that falls.
    pub fn max_steps(mut self, steps: u64) -> Self {
        self.max_steps = Some(steps);
        self
    }

    /// Trains data-parallel over `dp`'s processes (see [`DataParallel`]): every rank runs the same
    /// `fit` with the same model, optimizer, loaders and seed. The loop starts by giving every
    /// rank rank 0's weights (after checking that the models match), takes this rank's share of
    /// each batch of `train` (the batch size is the global one; a loader already
    /// [sharded](DataLoader::shard) for this rank is used as it is), averages the gradients
    /// across ranks before each optimizer step, sums the loss and accuracy over ranks (the
    /// guard rails and the history see the global figures, the same on every rank), gives every
    /// rank rank 0's buffers before validating, evaluates the validation loader split across
    /// the ranks, and resumes from the checkpoint bytes rank 0 reads. Only rank 0 prints
    /// progress and writes checkpoints and curves. Dropout masks derive from
    /// `(seed, epoch, step, rank)` ([`Ctx::with_rank`]).
    ///
    /// A checkpoint records the position in global batches, so a run written by N processes
    /// resumes on M (with the same global batch size); with one process the run is the
    /// single-process run bit for bit.
    pub fn distributed(mut self, dp: &'a DataParallel) -> Self {
        self.dp = Some(dp);
        self
    }

    /// Trains on `train`; returns the metrics of every epoch.
    ///
    /// # Errors
    /// A forward, loss or optimizer error; [`Error::Diverged`] when the guard rails stop the
    /// run; [`Error::File`] for a checkpoint or curve file that cannot be read or written (a
    /// failed resume changes nothing).
    pub fn fit(mut self, train: &DataLoader) -> Result<History> {
        descent_core::init_threads();
        let sharded;
        let train = match self.dp {
            Some(dp) => {
                sharded = dp.shard(train)?;
                if !dp.is_root() {
                    self.progress = Progress::Quiet;
                }
                &sharded
            }
            None => train,
        };
        let batches = train.num_batches();
        let window = (batches / 2).clamp(5, 100);
        let mut monitor = LossMonitor::new(window)?;
        let mut state = match self.resume.take() {
            Some(path) => self.load_checkpoint(&path, batches)?,
            None => LoopState::default(),
        };
        for &loss in &state.monitor {
            monitor.observe(loss);
        }
        if let Some(dp) = self.dp {
            dp.broadcast_model(&mut *self.model)?;
        }
        let mut reporter = Reporter::new(self.progress);
        let mut warned_epoch = None;
        while state.epoch < self.epochs {
            let epoch = state.epoch;
            reporter.start_epoch(epoch, self.epochs, batches, state.position);
            let mut started = Instant::now();
            let seconds_before = state.seconds;
            for batch in train.epoch(epoch).skip_batches(state.position) {
                if self.max_steps.is_some_and(|m| state.step >= m) {
                    return Ok(state.history);
                }
                self.train_step(
                    &batch,
                    &mut state,
                    &mut monitor,
                    &reporter,
                    &mut warned_epoch,
                )?;
                state.seconds = seconds_before + started.elapsed().as_secs_f64();
                reporter.step(
                    state.position,
                    state.loss_sum / state.seen.max(1) as f64,
                    (state.counted > 0).then(|| state.correct as f64 / state.counted as f64),
                    state.seen as f64 / state.seconds.max(1e-9),
                );
                if let Some((path, Some(every))) = &self.checkpoint
                    && state.step.is_multiple_of(*every)
                {
                    state.monitor = monitor.recent();
                    let path = path.clone();
                    let t = Instant::now();
                    self.save_checkpoint(&path, &state)?;
                    // Checkpoint writes are not training time.
                    started += t.elapsed();
                }
            }
            if let Some(dp) = self.dp {
                dp.broadcast_buffers(&*self.model)?;
            }
            let (val_loss, val_accuracy) = match (&self.validation, self.dp) {
                (Some(v), Some(dp)) => {
                    let (l, a) = dp.evaluate(&*self.model, v, &*self.loss)?;
                    (Some(l), a)
                }
                (Some(v), None) => {
                    let (l, a) = evaluate(&*self.model, v, &*self.loss)?;
                    (Some(l), a)
                }
                (None, _) => (None, None),
            };
            let record = EpochRecord {
                epoch,
                train_loss: state.loss_sum / state.seen.max(1) as f64,
                train_accuracy: (state.counted > 0)
                    .then(|| state.correct as f64 / state.counted as f64),
                val_loss,
                val_accuracy,
                lr: self.optimizer.lr(),
                seconds: state.seconds,
                samples_per_second: state.seen as f64 / state.seconds.max(1e-9),
            };
            reporter.finish_epoch(self.epochs, &record);
            state.history.epochs.push(record);
            state.epoch += 1;
            state.position = 0;
            state.loss_sum = 0.0;
            state.seen = 0;
            state.correct = 0;
            state.counted = 0;
            state.seconds = 0.0;
            state.monitor = monitor.recent();
            if let Some((path, _)) = &self.checkpoint {
                let path = path.clone();
                self.save_checkpoint(&path, &state)?;
            }
            if let Some(prefix) = self.curves.as_ref().filter(|_| self.is_root()) {
                state.history.write_csv(prefix.with_extension("csv"))?;
                state.history.write_svg(prefix.with_extension("svg"))?;
            }
        }
        Ok(state.history)
    }

    /// One step on `batch`.
    fn train_step(
        &mut self,
        batch: &Batch,
        state: &mut LoopState,
        monitor: &mut LossMonitor,
        reporter: &Reporter,
        warned_epoch: &mut Option<u64>,
    ) -> Result<()> {
        if let Some(s) = &self.schedule {
            self.optimizer.set_lr(s.lr_at(state.step))?;
            if let Some(m) = s.momentum_at(state.step) {
                self.optimizer.set_momentum(m)?;
            }
        }
        let lr = self.optimizer.lr();
        let tape = Tape::new();
        let rank = self.dp.map_or(0, DataParallel::rank);
        let ctx = Ctx::train(self.seed, state.epoch, state.step).with_rank(rank);
        let guard = self.guard;
        let mut global = 0u64;
        let value = step_with(
            &mut *self.model,
            &mut *self.optimizer,
            &tape,
            &batch.features,
            &batch.labels,
            &ctx,
            &*self.loss,
            self.clip_norm,
            self.dp,
            true,
            &mut |value, sums| {
                let [_, n, correct, counted] = sums;
                check_step(
                    guard,
                    state,
                    monitor,
                    reporter,
                    warned_epoch,
                    value,
                    lr,
                    n as usize,
                )?;
                state.correct += correct as u64;
                state.counted += counted as u64;
                global = n as u64;
                Ok(())
            },
        )?;
        state.loss_sum += value * global as f64;
        state.seen += global;
        state.step += 1;
        state.position += 1;
        Ok(())
    }

    fn is_root(&self) -> bool {
        self.dp.is_none_or(DataParallel::is_root)
    }

    /// Writes the checkpoint (rank 0 only: the others' state is the same).
    fn save_checkpoint(&self, path: &Path, state: &LoopState) -> Result<()> {
        if !self.is_root() {
            return Ok(());
        }
        let mut tensors = descent_nn::state_dict(&*self.model);
        let (opt_tensors, mut meta) = optimizer_entries(&*self.model, &*self.optimizer);
        tensors.extend(opt_tensors);
        let f = |v: f64| format!("{v:?}");
        for (k, v) in [
            (FORMAT_KEY, FORMAT.to_string()),
            ("train.seed", self.seed.to_string()),
            ("train.epoch", state.epoch.to_string()),
            ("train.position", state.position.to_string()),
            ("train.step", state.step.to_string()),
            ("train.loss_sum", f(state.loss_sum)),
            ("train.seen", state.seen.to_string()),
            ("train.correct", state.correct.to_string()),
            ("train.counted", state.counted.to_string()),
            ("train.seconds", f(state.seconds)),
            (
                "train.monitor",
                state
                    .monitor
                    .iter()
                    .map(|&v| f(v))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("train.history", state.history.to_csv()),
            ("train.initial_sum", f(state.initial_sum)),
            ("train.initial_count", state.initial_count.to_string()),
            (
                "train.recent",
                state
                    .recent
                    .iter()
                    .map(|&v| f(v))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ] {
            meta.insert(k.to_string(), v);
        }
        io::save(path, &tensors, &meta)
    }

    fn load_checkpoint(&mut self, path: &Path, batches: usize) -> Result<LoopState> {
        let file = match self.dp {
            Some(dp) => dp.load_file(path)?,
            None => io::load(path)?,
        };
        let state = read_loop_state(&file, self.seed).map_err(|d| io::file_error(path, d))?;
        if state.position > batches {
            return Err(io::file_error(
                path,
                format!(
                    "it stopped at batch {} of epoch {}, but this loader has {batches} batches \
                     per epoch: resume with the loader (dataset and batch size) it was written \
                     with",
                    state.position,
                    state.epoch + 1
                ),
            ));
        }
        // Weights and buffers, then the optimizer; if the optimizer's state does not fit, the
        // model gets its previous values back, so a failed resume changes nothing.
        let before = descent_nn::state_dict(&*self.model);
        descent_nn::load_state_dict(&file, &mut *self.model, &["optimizer."])
            .map_err(|d| io::file_error(path, d))?;
        if let Err(d) = load_optimizer_entries(&file, &*self.model, self.optimizer) {
            let previous = WeightFile {
                tensors: before,
                metadata: HashMap::new(),
            };
            descent_nn::load_state_dict(&previous, &mut *self.model, &[])
                .expect("the model's own values fit it");
            return Err(io::file_error(path, d));
        }
        Ok(state)
    }
}

/// One training step, the one [`Learner::fit`] takes for each batch: a training forward of
/// `model` on `features` under `ctx`, the `loss` against `labels`, backward, and an
/// `optimizer` step. Returns the loss.
///
/// The forward and backward are recorded on `tape`, which must be fresh (or
/// [`reset`](Tape::reset)); a tape with [`enable_profile`](Tape::enable_profile) on tells where
/// the step's time goes, op by op. There is no schedule, clipping, metric or guard rail here:
/// those are the loop's.
///
/// The first step (like [`Learner::fit`]) calls [`descent_core::init_threads`], so that the
/// calling thread runs its share of the parallel kernels; a program that used rayon before
/// (a data loader, say) should call it first thing in `main` instead.
///
/// ```
/// use descent_core::{IntTensor, Tape, Tensor};
/// use descent_nn::{Ctx, Linear, Seeds};
/// use descent_optim::Sgd;
/// use descent_train::train_step;
///
/// let mut model = Linear::new(3, 2, true, &Seeds::new(0).stream("0"));
/// let mut opt = Sgd::new(0.1).unwrap();
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, -1.0, 0.0, 1.0], [2, 3]);
/// let y = IntTensor::from(&[0usize, 1][..]);
/// let loss = |out: &descent_core::Var, y: &IntTensor| out.try_cross_entropy(y);
/// let first = train_step(&mut model, &mut opt, &Tape::new(), &x, &y, &Ctx::train(0, 0, 0), &loss)
///     .unwrap();
/// let mut last = first;
/// for step in 1..20 {
///     last = train_step(&mut model, &mut opt, &Tape::new(), &x, &y, &Ctx::train(0, 0, step), &loss)
///         .unwrap();
/// }
/// assert!(last < first);
/// ```
///
/// # Errors
/// A forward or loss error (a consumed `tape` included), or the optimizer's (a non-finite loss
/// or gradient: then no parameter changed).
pub fn train_step<M: Module + Params>(
    model: &mut M,
    optimizer: &mut dyn Optimizer,
    tape: &Tape,
    features: &Tensor,
    labels: &IntTensor,
    ctx: &Ctx,
    loss: &dyn Fn(&Var, &IntTensor) -> Result<Var>,
) -> Result<f64> {
    step_with(
        model,
        optimizer,
        tape,
        features,
        labels,
        ctx,
        loss,
        None,
        None,
        false,
        &mut |_, _| Ok(()),
    )
}

/// [`train_step`] with the loop's additions: `inspect` sees the mean loss and `[loss x samples,
/// samples, right answers, samples with an accuracy]` (over all ranks when distributed) before backward
/// and may stop the step with an error, before anything changed (the accuracy counts are
/// computed only if `accuracy`: [`train_step`] skips them); the gradients are averaged
/// across ranks with `dp`, and their global norm is clipped to `clip_norm`, before the update.
/// Returns the (global) mean loss.
#[allow(clippy::too_many_arguments)]
fn step_with<M: Module + Params>(
    model: &mut M,
    optimizer: &mut dyn Optimizer,
    tape: &Tape,
    features: &Tensor,
    labels: &IntTensor,
    ctx: &Ctx,
    loss: &dyn Fn(&Var, &IntTensor) -> Result<Var>,
    clip_norm: Option<f64>,
    dp: Option<&DataParallel>,
    accuracy: bool,
    inspect: &mut dyn FnMut(f64, [f64; 4]) -> Result<()>,
) -> Result<f64> {
    descent_core::init_threads();
    let n = labels.shape().first().copied().unwrap_or(0);
    // A rank whose share of a small last batch is empty contributes nothing (zero gradients).
    let local = if n > 0 || dp.is_none() {
        let out = model.forward(&tape.constant(features), ctx)?;
        let loss = loss(&out, labels)?;
        let value = loss.value().try_item()?;
        let (mut correct, mut counted) = (0.0, 0.0);
        if accuracy && out.shape().len() == 2 && labels.shape() == [n] {
            let predicted = out.value().try_argmax(1, false)?;
            correct = predicted.try_eq(labels)?.sum_all() as f64;
            counted = n as f64;
        }
        Some((loss, value, [value * n as f64, n as f64, correct, counted]))
    } else {
        None
    };
    let mine = local.as_ref().map_or([0.0; 4], |(_, _, sums)| *sums);
    let (value, sums) = match (dp, &local) {
        (Some(dp), _) if dp.world_size() > 1 => {
            let s = dp.sum(&mine)?;
            (s[0] / s[1].max(1.0), [s[0], s[1], s[2], s[3]])
        }
        // One process: the loss as computed.
        (_, Some((_, value, _))) => (*value, mine),
        (_, None) => (0.0, mine),
    };
    inspect(value, sums)?;
    let mut grads = match &local {
        Some((loss, _, _)) => loss.backward(),
        None => Gradients::default(),
    };
    if let Some(dp) = dp {
        let weight = if sums[1] > 0.0 {
            mine[1] / sums[1]
        } else {
            0.0
        };
        dp.average_gradients(&*model, &mut grads, weight)?;
    }
    if let Some(max_norm) = clip_norm {
        clip_grad_norm(&*model, &mut grads, max_norm)?;
    }
    optimizer.step(model, &grads)?;
    Ok(value)
}

/// The loop's checks of a step's loss `value` before its update: a non-finite loss at the first
/// step (blamed on the data or the model), and with the guard rails on, an exploding, diverging,
/// climbing or stalled loss (errors stop the run, warnings are printed and kept).
#[allow(clippy::too_many_arguments)]
fn check_step(
    guard: bool,
    state: &mut LoopState,
    monitor: &mut LossMonitor,
    reporter: &Reporter,
    warned_epoch: &mut Option<u64>,
    value: f64,
    lr: f64,
    batch: usize,
) -> Result<()> {
    if !value.is_finite() && state.step == 0 {
        // At the first step no update has acted: the data or the model is at fault.
        return Err(Error::NonFinite {
            what: "loss".to_string(),
            value: if value.is_nan() { "NaN" } else { "inf" },
            step: 1,
            lr,
            loss: Some(value),
        });
    }
    if guard && let Some(err) = explosion(state, value, batch, lr) {
        return Err(err);
    }
    if guard {
        let initial = state.initial_sum / state.initial_count.max(1) as f64;
        match monitor.observe(value) {
            Trend::NonFinite => {
                return Err(Error::Diverged {
                    step: state.step,
                    lr,
                    suggested_lr: lr / 10.0,
                    detail: format!(
                        "the loss is {value} (epoch {}, batch {}); the last finite losses \
                         were {:?} (turn this check off with lr_warnings(false))",
                        state.epoch + 1,
                        state.position + 1,
                        last_few(&monitor.recent())
                    ),
                });
            }
            // A climb back above the untrained model's loss is divergence; a climb below it
            // (noise near convergence, or a schedule's restart) is only worth a word.
            Trend::Rising { from, to } if to > initial => {
                return Err(Error::Diverged {
                    step: state.step,
                    lr,
                    suggested_lr: lr / 10.0,
                    detail: format!(
                        "the mean training loss rose from {from:.4e} to {to:.4e} over the \
                         last {} steps, above the initial {initial:.4e} (epoch {}; turn \
                         this check off with lr_warnings(false))",
                        2 * monitor.window(),
                        state.epoch + 1
                    ),
                });
            }
            // Near convergence (below half the initial loss) relative wiggles say nothing.
            rising @ Trend::Rising { .. }
                if *warned_epoch != Some(state.epoch) && monitor_mean(monitor) > 0.5 * initial =>
            {
                *warned_epoch = Some(state.epoch);
                let w = format!(
                    "epoch {}, step {}: {rising} (it is {lr})",
                    state.epoch + 1,
                    state.step
                );
                reporter.warn(&w);
                state.history.warnings.push(w);
            }
            // A stall after the loss has halved is most likely convergence.
            stalled @ Trend::Stalled { .. }
                if *warned_epoch != Some(state.epoch) && monitor_mean(monitor) > 0.5 * initial =>
            {
                *warned_epoch = Some(state.epoch);
                let w = format!(
                    "epoch {}, step {}: {stalled} (it is {lr}; the loss is still above half \
                     its initial {initial:.4e})",
                    state.epoch + 1,
                    state.step
                );
                reporter.warn(&w);
                state.history.warnings.push(w);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The mean of the monitor's last window.
fn monitor_mean(monitor: &LossMonitor) -> f64 {
    let recent = monitor.recent();
    let w = monitor.window().min(recent.len()).max(1);
    recent[recent.len() - w.min(recent.len())..]
        .iter()
        .sum::<f64>()
        / w as f64
}

/// Losses averaged for the explosion check.
const RECENT: usize = 5;
/// How many times its initial value the recent mean loss may reach.
const EXPLOSION: f64 = 10.0;

/// Records `value` and says whether the loss exploded: the mean of the last [`RECENT`] losses is
/// more than [`EXPLOSION`] times the mean loss of the first steps (the untrained model's: the
/// first step's at batch 8 and above, the first `ceil(8 / batch)` steps' for smaller batches,
/// so one easy sample is not the reference). A learning rate far too large does this within a
/// few steps, before the windows of the [`LossMonitor`] can judge.
fn explosion(state: &mut LoopState, value: f64, batch: usize, lr: f64) -> Option<Error> {
    let warmup = 8usize.div_ceil(batch.max(1)).clamp(1, 8) as u64;
    if state.initial_count < warmup {
        state.initial_sum += value;
        state.initial_count += 1;
    }
    state.recent.push(value);
    if state.recent.len() > RECENT {
        state.recent.remove(0);
    }
    if state.initial_count < warmup || !value.is_finite() {
        return None;
    }
    let initial = state.initial_sum / state.initial_count as f64;
    let recent = state.recent.iter().sum::<f64>() / state.recent.len() as f64;
    (initial > 0.0 && recent > EXPLOSION * initial).then(|| Error::Diverged {
        step: state.step,
        lr,
        suggested_lr: lr / 10.0,
        detail: format!(
            "the training loss exploded: the mean of the last {} losses is {recent:.4e}, more \
             than {EXPLOSION} times the initial {initial:.4e} (epoch {}; turn this check off \
             with lr_warnings(false))",
            state.recent.len(),
            state.epoch + 1
        ),
    })
}

fn last_few(losses: &[f64]) -> Vec<f64> {
    losses[losses.len().saturating_sub(3)..].to_vec()
}

fn read_loop_state(file: &WeightFile, seed: u64) -> std::result::Result<LoopState, String> {
    let meta = &file.metadata;
    if meta.get(FORMAT_KEY).map(String::as_str) != Some(FORMAT) {
        return Err(format!(
            "not a descent training checkpoint (the header has no `{FORMAT_KEY}` = `{FORMAT}` \
             entry)"
        ));
    }
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| format!("the header has no `{k}` entry"))
    };
    fn parse<T: std::str::FromStr>(k: &str, v: &str) -> std::result::Result<T, String> {
        v.parse()
            .map_err(|_| format!("`{k}` = {v:?} does not parse"))
    }
    let saved_seed: u64 = parse("train.seed", get("train.seed")?)?;
    if saved_seed != seed {
        return Err(format!(
            "it was written by a run seeded with {saved_seed}, this run's seed is {seed}"
        ));
    }
    let list = |k: &str| -> std::result::Result<Vec<f64>, String> {
        get(k)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|v| parse(k, v))
            .collect()
    };
    Ok(LoopState {
        initial_sum: parse("train.initial_sum", get("train.initial_sum")?)?,
        initial_count: parse("train.initial_count", get("train.initial_count")?)?,
        recent: list("train.recent")?,
        epoch: parse("train.epoch", get("train.epoch")?)?,
        position: parse("train.position", get("train.position")?)?,
        step: parse("train.step", get("train.step")?)?,
        loss_sum: parse("train.loss_sum", get("train.loss_sum")?)?,
        seen: parse("train.seen", get("train.seen")?)?,
        correct: parse("train.correct", get("train.correct")?)?,
        counted: parse("train.counted", get("train.counted")?)?,
        seconds: parse("train.seconds", get("train.seconds")?)?,
        monitor: list("train.monitor")?,
        history: History::from_csv(get("train.history")?)?,
    })
}

/// The mean loss of `model` over `loader` (weighted by batch size) and, if the output is
/// `[batch, classes]` logits, its accuracy: an eval forward under `no_grad` (dropout off,
/// BatchNorm on its running statistics), in the loader's epoch-0 order.
///
/// # Errors
/// A forward or loss error.
pub fn evaluate<M: Module + ?Sized>(
    model: &M,
    loader: &DataLoader,
    loss: &dyn Fn(&Var, &IntTensor) -> Result<Var>,
) -> Result<(f64, Option<f64>)> {
    let [loss_sum, seen, correct, counted] = evaluate_sums(model, loader, loss)?;
    Ok((
        loss_sum / seen.max(1.0),
        (counted > 0.0).then(|| correct / counted),
    ))
}
