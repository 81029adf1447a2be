//! What a run prints: a progress bar per epoch on a terminal, plain lines otherwise.

use crate::history::EpochRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// How [`Learner::fit`](crate::Learner::fit) reports progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// A bar per epoch when stdout is a terminal, plain lines otherwise (as in CI).
    #[default]
    Auto,
    /// Always a bar.
    Bar,
    /// One line per epoch, and the warnings.
    Lines,
    /// Nothing but the warnings (on stderr).
    Quiet,
}

/// Prints a run's progress.
pub(crate) struct Reporter {
    mode: Progress,
    bar: Option<ProgressBar>,
}

impl Reporter {
    pub(crate) fn new(mode: Progress) -> Reporter {
        let mode = match mode {
            Progress::Auto if std::io::stdout().is_terminal() => Progress::Bar,
            Progress::Auto => Progress::Lines,
            other => other,
        };
        Reporter { mode, bar: None }
    }

    /// A new epoch of `batches` batches, of which `done` were done before a resume.
    pub(crate) fn start_epoch(&mut self, epoch: u64, epochs: u64, batches: usize, done: usize) {
        if self.mode != Progress::Bar {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
        bar.set_position(done as u64);
        self.bar = Some(bar);
    }

    /// After a step: the epoch's mean loss and accuracy so far and the throughput.
    pub(crate) fn step(&self, position: usize, loss: f64, accuracy: Option<f64>, rate: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position as u64);
            bar.set_message(format!(
                "loss {loss:.4}{} {rate:.0} samples/s",
                accuracy
                    .map(|a| format!(" acc {:.2}%", 100.0 * a))
                    .unwrap_or_default()
            ));
        }
    }

    /// A warning: above the bar, or on stderr.
    pub(crate) fn warn(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }

    /// The end of an epoch: its line.
    pub(crate) fn finish_epoch(&mut self, epochs: u64, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.mode == Progress::Quiet {
            return;
        }
        let pct = |a: Option<f64>| a.map(|a| format!("{:.2}%", 100.0 * a));
        let mut line = format!(
            "epoch {:>3}/{epochs}  loss {:.4}",
            r.epoch + 1,
            r.train_loss
        );
        if let Some(a) = pct(r.train_accuracy) {
            line.push_str(&format!("  acc {a}"));
        }
        if let Some(l) = r.val_loss {
            line.push_str(&format!("  val_loss {l:.4}"));
        }
        if let Some(a) = pct(r.val_accuracy) {
            line.push_str(&format!("  val_acc {a}"));
        }
        line.push_str(&format!(
            "  lr {:.3e}  {:.2}s  {:.0} samples/s",
            r.lr, r.seconds, r.samples_per_second
        ));
        println!("{line}");
    }
}
