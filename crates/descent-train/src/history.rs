//! [`History`]: the metrics of every epoch, written as CSV and drawn as an SVG curve.

use descent_core::io::write_atomically;
use descent_core::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// The metrics of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch, from 0.
    pub epoch: u64,
    /// The mean training loss over the epoch's samples.
    pub train_loss: f64,
    /// The fraction of training samples classified right (during training, so with dropout
    /// active), if the output is `[batch, classes]` logits.
    pub train_accuracy: Option<f64>,
    /// The mean loss on the validation set after the epoch, if there is one.
    pub val_loss: Option<f64>,
    /// The validation accuracy after the epoch.
    pub val_accuracy: Option<f64>,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch's training steps, in seconds (validation excluded).
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_second: f64,
}

/// The metrics of every epoch of a run, and why it stopped early, if it did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One record per completed epoch.
    pub epochs: Vec<EpochRecord>,
    /// The warnings the run printed (a stalled or climbing loss), in order; not kept in the
    /// CSV, so a resumed run holds only its own.
    pub warnings: Vec<String>,
}

const HEADER: &str =
    "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,samples_per_second";

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:?}")).unwrap_or_default()
}

impl History {
    /// The last epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// The records as CSV, with a header line; values print so they parse back to the same
    /// `f64`, and a missing metric is an empty field.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(HEADER);
        out.push('\n');
        for r in &self.epochs {
            out.push_str(&format!(
                "{},{:?},{},{},{},{:?},{:?},{:?}\n",
                r.epoch,
                r.train_loss,
                opt(r.train_accuracy),
                opt(r.val_loss),
                opt(r.val_accuracy),
                r.lr,
                r.seconds,
                r.samples_per_second
            ));
        }
        out
    }

    /// Parses what [`History::to_csv`] wrote.
    ///
    /// # Errors
    /// A message naming the line and field that does not parse.
    pub fn from_csv(text: &str) -> std::result::Result<History, String> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err("the history does not start with its header line".to_string());
        }
        let mut epochs = Vec::new();
        for (i, line) in lines.enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 8 {
                return Err(format!(
                    "history line {}: {} fields, expected 8",
                    i + 2,
                    f.len()
                ));
            }
            let num = |k: usize| -> std::result::Result<f64, String> {
                f[k].parse()
                    .map_err(|_| format!("history line {}: field {} is {:?}", i + 2, k + 1, f[k]))
            };
            let optional = |k: usize| -> std::result::Result<Option<f64>, String> {
                if f[k].is_empty() {
                    Ok(None)
                } else {
                    num(k).map(Some)
                }
            };
            epochs.push(EpochRecord {
                epoch: f[0]
                    .parse()
                    .map_err(|_| format!("history line {}: epoch is {:?}", i + 2, f[0]))?,
                train_loss: num(1)?,
                train_accuracy: optional(2)?,
                val_loss: optional(3)?,
                val_accuracy: optional(4)?,
                lr: num(5)?,
                seconds: num(6)?,
                samples_per_second: num(7)?,
            });
        }
        Ok(History {
            epochs,
            warnings: Vec::new(),
        })
    }

    /// Writes [`History::to_csv`] to `path`, atomically.
    ///
    /// # Errors
    /// [`Error::File`] naming the file.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomically(path.as_ref(), self.to_csv().as_bytes())
    }

    /// Draws the loss (left) and accuracy (right) per epoch, training and validation, as an SVG
    /// file, written atomically.
    ///
    /// # Errors
    /// [`Error::File`] naming the file.
    pub fn write_svg(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let svg = self.svg().map_err(|detail| Error::File {
            path: path.to_path_buf(),
            detail: format!("cannot draw the curves: {detail}"),
        })?;
        write_atomically(path, svg.as_bytes())
    }

    /// The SVG text of [`History::write_svg`].
    fn svg(&self) -> std::result::Result<String, String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let (left, right) = root.split_horizontally(480);
            let epochs = self.epochs.len().max(1) as f64;
            let series = |get: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
                self.epochs
                    .iter()
                    .filter_map(|r| {
                        get(r)
                            .filter(|v| v.is_finite())
                            .map(|v| (r.epoch as f64 + 1.0, v))
                    })
                    .collect()
            };
            type Points = Vec<(f64, f64)>;
            let panels: [(&DrawingArea<SVGBackend, _>, &str, Points, Points); 2] = [
                (
                    &left,
                    "loss",
                    series(&|r| Some(r.train_loss)),
                    series(&|r| r.val_loss),
                ),
                (
                    &right,
                    "accuracy",
                    series(&|r| r.train_accuracy),
                    series(&|r| r.val_accuracy),
                ),
            ];
            for (area, name, train, val) in panels {
                let (lo, hi) = train
                    .iter()
                    .chain(&val)
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| {
                        (lo.min(v), hi.max(v))
                    });
                let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
                let pad = ((hi - lo) * 0.05).max(1e-9);
                let mut chart = ChartBuilder::on(area)
                    .caption(name, ("sans-serif", 20))
                    .margin(10)
                    .x_label_area_size(30)
                    .y_label_area_size(50)
                    .build_cartesian_2d(1.0..epochs.max(2.0), (lo - pad)..(hi + pad))
                    .map_err(|e| e.to_string())?;
                chart
                    .configure_mesh()
                    .x_desc("epoch")
                    .draw()
                    .map_err(|e| e.to_string())?;
                for (points, color, label) in [(train, BLUE, "train"), (val, RED, "validation")] {
                    if points.is_empty() {
                        continue;
                    }
                    chart
                        .draw_series(LineSeries::new(points, color.stroke_width(2)))
                        .map_err(|e| e.to_string())?
                        .label(label)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                }
                chart
                    .configure_series_labels()
                    .border_style(BLACK)
                    .background_style(WHITE.mix(0.8))
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(svg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> History {
        History {
            epochs: vec![
                EpochRecord {
                    epoch: 0,
                    train_loss: 1.0 / 3.0,
                    train_accuracy: Some(0.5),
                    val_loss: None,
                    val_accuracy: None,
                    lr: 0.1,
                    seconds: 1.25,
                    samples_per_second: 1000.0,
                },
                EpochRecord {
                    epoch: 1,
                    train_loss: 0.2,
                    train_accuracy: None,
                    val_loss: Some(0.3),
                    val_accuracy: Some(0.9),
                    lr: 1e-3,
                    seconds: 1.0,
                    samples_per_second: 1e3,
                },
            ],
            warnings: Vec::new(),
        }
    }

    #[test]
    fn csv_round_trips_exactly() {
        let h = sample();
        assert_eq!(History::from_csv(&h.to_csv()).unwrap(), h);
        assert!(History::from_csv("nope").is_err());
        let broken = h.to_csv().replace("0.5", "x");
        assert!(History::from_csv(&broken).unwrap_err().contains("line 2"));
    }

    #[test]
    fn svg_draws_both_panels() {
        let svg = sample().svg().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("loss") && svg.contains("accuracy") && svg.contains("validation"));
        assert!(History::default().svg().is_ok());
    }
}
