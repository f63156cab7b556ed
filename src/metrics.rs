//! Classification metrics: the confusion matrix and, from it, per-class precision,
//! recall and F1 (scikit-learn's `classification_report`, with `zero_division=0`).

use serde::Serialize;

/// Counts of (true class, predicted class) pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    /// Number of classes.
    pub classes: usize,
    /// `counts[t * classes + p]`: images of class `t` predicted as `p`.
    pub counts: Vec<usize>,
}

/// One row of the classification report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// The class.
    pub class: usize,
    /// Of the images predicted as this class, the share that are.
    pub precision: f64,
    /// Of the images of this class, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Images of this class.
    pub support: usize,
}

impl ConfusionMatrix {
    /// Tallies `labels` against `predictions`; values at or above `classes` are an error
    /// of the caller and panic in debug builds only through indexing, so check first.
    pub fn new(labels: &[u8], predictions: &[u8], classes: usize) -> ConfusionMatrix {
        assert_eq!(labels.len(), predictions.len(), "one prediction per label");
        let mut counts = vec![0; classes * classes];
        for (&t, &p) in labels.iter().zip(predictions) {
            let (t, p) = (t as usize, p as usize);
            if t < classes && p < classes {
                counts[t * classes + p] += 1;
            }
        }
        ConfusionMatrix { classes, counts }
    }

    /// Images of class `t` predicted as `p`.
    pub fn get(&self, t: usize, p: usize) -> usize {
        self.counts[t * self.classes + p]
    }

    /// Images of class `t`.
    pub fn support(&self, t: usize) -> usize {
        (0..self.classes).map(|p| self.get(t, p)).sum()
    }

    /// Images predicted as `p`.
    pub fn predicted(&self, p: usize) -> usize {
        (0..self.classes).map(|t| self.get(t, p)).sum()
    }

    /// All images.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Share classified right.
    pub fn accuracy(&self) -> f64 {
        let right: usize = (0..self.classes).map(|c| self.get(c, c)).sum();
        right as f64 / self.total().max(1) as f64
    }

    /// Precision, recall, F1 and support of class `c` (0 where undefined).
    pub fn class_metrics(&self, c: usize) -> ClassMetrics {
        let tp = self.get(c, c) as f64;
        let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
        let precision = ratio(tp, self.predicted(c));
        let recall = ratio(tp, self.support(c));
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        ClassMetrics {
            class: c,
            precision,
            recall,
            f1,
            support: self.support(c),
        }
    }

    /// Every class's metrics.
    pub fn report(&self) -> Vec<ClassMetrics> {
        (0..self.classes).map(|c| self.class_metrics(c)).collect()
    }

    /// Unweighted mean of precision, recall and F1 over the classes ("macro avg").
    pub fn macro_avg(&self) -> (f64, f64, f64) {
        let r = self.report();
        let n = r.len().max(1) as f64;
        (
            r.iter().map(|m| m.precision).sum::<f64>() / n,
            r.iter().map(|m| m.recall).sum::<f64>() / n,
            r.iter().map(|m| m.f1).sum::<f64>() / n,
        )
    }

    /// Mean of precision, recall and F1 over the classes weighted by their support
    /// (scikit-learn's "weighted avg").
    pub fn weighted_avg(&self) -> (f64, f64, f64) {
        let r = self.report();
        let total = r.iter().map(|m| m.support).sum::<usize>().max(1) as f64;
        let mean = |f: &dyn Fn(&ClassMetrics) -> f64| {
            r.iter().map(|m| f(m) * m.support as f64).sum::<f64>() / total
        };
        (mean(&|m| m.precision), mean(&|m| m.recall), mean(&|m| m.f1))
    }

    /// The `k` most frequent mistakes `(true, predicted, count)`, most frequent first
    /// (ties by true class, then predicted class).
    pub fn most_confused(&self, k: usize) -> Vec<(usize, usize, usize)> {
        let mut pairs: Vec<(usize, usize, usize)> = (0..self.classes)
            .flat_map(|t| (0..self.classes).map(move |p| (t, p)))
            .filter(|&(t, p)| t != p)
            .map(|(t, p)| (t, p, self.get(t, p)))
            .filter(|&(_, _, n)| n > 0)
            .collect();
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        pairs.truncate(k);
        pairs
    }
}
