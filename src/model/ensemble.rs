//! Averaging predictions: test-time augmentation (one model, the test images under a
//! few fixed transforms) and ensembles (several models). Both average probabilities,
//! the mean of the members' softmax outputs, rather than votes.

use super::Sequential;
use crate::data::Dataset;
use crate::data::augment::{transformed, tta_transforms};
use crate::error::{Error, Result};
use crate::kernels::argmax;
use crate::loss::EPSILON;

/// Class probabilities of every image (`len × classes`), averaged over the image and
/// its fixed transforms ([`tta_transforms`]: one-pixel shifts and 5-degree turns).
pub fn predict_tta(model: &mut Sequential, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
    let transforms = tta_transforms();
    let mut sum: Vec<f64> = Vec::new();
    for t in &transforms {
        let probs = model.predict(&transformed(data, t), batch_size)?;
        accumulate(&mut sum, &probs);
    }
    Ok(mean(&sum, transforms.len()))
}

/// Class probabilities of every image averaged over `models` (each with test-time
/// augmentation when `tta`). The models must take the same input and score the same
/// classes.
pub fn predict_ensemble(
    models: &mut [Sequential],
    data: &Dataset,
    batch_size: usize,
    tta: bool,
) -> Result<Vec<f32>> {
    check_members(models, &[])?;
    let mut parts = Vec::with_capacity(models.len());
    for m in models.iter_mut() {
        parts.push(if tta {
            predict_tta(m, data, batch_size)?
        } else {
            m.predict(data, batch_size)?
        });
    }
    Ok(average(&parts))
}

/// Checks that there is at least one model and that all take the same input and
/// score the same classes. `labels` name the members in the message (file paths where
/// there are files); a member without a label is called by its model name.
pub fn check_members(models: &[Sequential], labels: &[String]) -> Result<()> {
    let Some(first) = models.first() else {
        return Err(Error::config("an ensemble needs at least one model"));
    };
    let label = |i: usize| {
        labels
            .get(i)
            .cloned()
            .unwrap_or_else(|| models[i].config().name.clone())
    };
    let (input, classes) = (&first.config().input_shape, first.classes());
    for (i, m) in models.iter().enumerate() {
        if &m.config().input_shape != input || m.classes() != classes {
            return Err(Error::Shape(format!(
                "ensemble members must agree: '{}' takes {:?} and scores {} classes, '{}' takes {:?} and scores {}",
                label(0),
                input,
                classes,
                label(i),
                m.config().input_shape,
                m.classes()
            )));
        }
    }
    Ok(())
}

/// The element-wise mean of several models' probabilities (all of one length).
pub fn average(parts: &[Vec<f32>]) -> Vec<f32> {
    let mut sum: Vec<f64> = Vec::new();
    for p in parts {
        accumulate(&mut sum, p);
    }
    mean(&sum, parts.len())
}

/// Accuracy and mean cross-entropy of probabilities `probs` (`len × classes`) against
/// `data`'s labels, as `(accuracy, loss, correct)`.
pub fn score(probs: &[f32], data: &Dataset) -> (f64, f64, usize) {
    let k = probs.len() / data.len().max(1);
    let mut correct = 0;
    let mut loss = 0.0;
    for (p, &label) in probs.chunks_exact(k).zip(&data.labels) {
        if argmax(p) == label as usize {
            correct += 1;
        }
        loss -= (p[label as usize].clamp(EPSILON, 1.0 - EPSILON) as f64).ln();
    }
    let n = data.len().max(1) as f64;
    (correct as f64 / n, loss / n, correct)
}

fn accumulate(sum: &mut Vec<f64>, probs: &[f32]) {
    if sum.is_empty() {
        sum.resize(probs.len(), 0.0);
    }
    for (s, &p) in sum.iter_mut().zip(probs) {
        *s += p as f64;
    }
}

fn mean(sum: &[f64], n: usize) -> Vec<f32> {
    sum.iter().map(|&s| (s / n as f64) as f32).collect()
}
