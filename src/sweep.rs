//! Hyper-parameter sweeps, as the scikit-learn tutorial sweeps `MLPClassifier`'s
//! `hidden_layer_sizes`: every combination of the settings given, each trained on the
//! same split, tabulated with train and test accuracy.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::activations::Activation;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::loss::Loss;
use crate::model::Sequential;
use crate::optim::OptimizerConfig;
use crate::presets::mlp;
use crate::train::{FitOptions, Verbosity};

/// One combination of settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Hidden-layer sizes.
    pub hidden: Vec<usize>,
    /// Optimizer name (`sgd`, `adam`, `rmsprop`).
    pub optimizer: String,
    /// Learning rate (`None`: the optimizer's default).
    pub lr: Option<f32>,
    /// Batch size.
    pub batch_size: usize,
    /// Epochs of training.
    pub epochs: usize,
    /// Seed of the split, weights and shuffling.
    pub seed: u64,
    /// Held-out share.
    pub test_size: f64,
}

impl SweepPoint {
    /// A stable text key for resuming (`10-20-10|adam|0.001|200|10|42|0.3`).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            hidden_text(&self.hidden),
            self.optimizer,
            self.lr.map_or("default".to_string(), |l| l.to_string()),
            self.batch_size,
            self.epochs,
            self.seed,
            self.test_size
        )
    }
}

/// The result of one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// The settings.
    pub point: SweepPoint,
    /// Trainable parameters.
    pub params: usize,
    /// Accuracy on the training part.
    pub train_accuracy: f64,
    /// Accuracy on the held-out part.
    pub test_accuracy: f64,
    /// Seconds of training.
    pub seconds: f64,
}

/// `10-20-10` for `[10, 20, 10]`.
pub fn hidden_text(h: &[usize]) -> String {
    h.iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

/// The cross product of the lists, hidden sizes varying slowest; every point trains
/// `epochs` with `seed` on a `test_size` split.
pub fn grid(
    hidden: &[Vec<usize>],
    optimizers: &[String],
    lrs: &[Option<f32>],
    batch_sizes: &[usize],
    (epochs, seed, test_size): (usize, u64, f64),
) -> Vec<SweepPoint> {
    let mut out = Vec::new();
    for h in hidden {
        for o in optimizers {
            for &lr in lrs {
                for &b in batch_sizes {
                    out.push(SweepPoint {
                        hidden: h.clone(),
                        optimizer: o.clone(),
                        lr,
                        batch_size: b,
                        epochs,
                        seed,
                        test_size,
                    });
                }
            }
        }
    }
    out
}

/// Trains one MLP for `point` on `train` and measures it on both parts (`test` must be
/// the held-out part of the point's split).
pub fn run_point(point: &SweepPoint, train: &Dataset, test: &Dataset) -> Result<SweepRow> {
    let (epochs, seed) = (point.epochs, point.seed);
    if point.hidden.is_empty() || point.hidden.contains(&0) {
        return Err(Error::config(format!(
            "hidden sizes must be positive numbers, got '{}'",
            hidden_text(&point.hidden)
        )));
    }
    let config = mlp(
        &format!("mlp:{}", hidden_text(&point.hidden)),
        &point.hidden,
        Activation::Relu,
    );
    let mut model = Sequential::new(config, seed)?;
    model.compile(
        &OptimizerConfig::by_name(&point.optimizer)?,
        Loss::default(),
    )?;
    if let Some(lr) = point.lr {
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(Error::config(format!(
                "a learning rate must be positive, got {lr}"
            )));
        }
        model
            .optimizer_mut()
            .expect("compiled")
            .set_learning_rate(lr);
    }
    let start = Instant::now();
    model.fit(
        train,
        FitOptions {
            epochs,
            batch_size: point.batch_size,
            seed,
            verbose: Verbosity::Silent,
            ..Default::default()
        },
    )?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(SweepRow {
        point: point.clone(),
        params: model.trainable_param_count(),
        train_accuracy: model.evaluate(train, 1000)?.accuracy,
        test_accuracy: model.evaluate(test, 1000)?.accuracy,
        seconds,
    })
}

/// The CSV header of [`to_csv`].
pub const CSV_HEADER: &str = "hidden,optimizer,lr,batch_size,epochs,seed,test_size,params,train_accuracy,test_accuracy,seconds";

/// Rows as CSV.
pub fn to_csv(rows: &[SweepRow]) -> String {
    let mut s = format!("{CSV_HEADER}\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{:.3}\n",
            hidden_text(&r.point.hidden),
            r.point.optimizer,
            r.point.lr.map_or(String::new(), |l| l.to_string()),
            r.point.batch_size,
            r.point.epochs,
            r.point.seed,
            r.point.test_size,
            r.params,
            r.train_accuracy,
            r.test_accuracy,
            r.seconds
        ));
    }
    s
}

/// Reads rows written by [`to_csv`] (to resume a sweep).
pub fn from_csv(text: &str) -> std::result::Result<Vec<SweepRow>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(CSV_HEADER) {
        return Err("not a scrawl sweep CSV (its header differs)".into());
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            let bad = || format!("line {}: not a sweep row", i + 2);
            let f: Vec<&str> = l.split(',').collect();
            if f.len() != 11 {
                return Err(bad());
            }
            let hidden = f[0]
                .split('-')
                .map(|u| u.parse().map_err(|_| bad()))
                .collect::<std::result::Result<Vec<usize>, String>>()?;
            Ok(SweepRow {
                point: SweepPoint {
                    hidden,
                    optimizer: f[1].to_string(),
                    lr: if f[2].is_empty() {
                        None
                    } else {
                        Some(f[2].parse().map_err(|_| bad())?)
                    },
                    batch_size: f[3].parse().map_err(|_| bad())?,
                    epochs: f[4].parse().map_err(|_| bad())?,
                    seed: f[5].parse().map_err(|_| bad())?,
                    test_size: f[6].parse().map_err(|_| bad())?,
                },
                params: f[7].parse().map_err(|_| bad())?,
                train_accuracy: f[8].parse().map_err(|_| bad())?,
                test_accuracy: f[9].parse().map_err(|_| bad())?,
                seconds: f[10].parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// Rows as a Markdown table.
pub fn to_markdown(rows: &[SweepRow]) -> String {
    let mut s = String::from(
        "| hidden | optimizer | lr | batch | epochs | seed | params | train accuracy | test accuracy | seconds |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2}% | {:.2}% | {:.1} |\n",
            hidden_text(&r.point.hidden),
            r.point.optimizer,
            r.point.lr.map_or("default".to_string(), |l| l.to_string()),
            r.point.batch_size,
            r.point.epochs,
            r.point.seed,
            r.params,
            100.0 * r.train_accuracy,
            100.0 * r.test_accuracy,
            r.seconds
        ));
    }
    s
}
