//! Evaluation reports: what a model gets wrong and how, as numbers, pictures and one
//! Markdown page (`scrawl evaluate --report DIR`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::metrics::ConfusionMatrix;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::model::Sequential;
use crate::plot::{self, ConfusionHeatmap, DigitGrid, DigitTile};

/// One misclassified image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Mistake {
    /// Its index in the evaluated set.
    pub index: usize,
    /// Its label.
    pub label: u8,
    /// What the model said.
    pub predicted: u8,
    /// The model's probability for its prediction.
    pub confidence: f32,
}

/// The files a report may write into its folder ([`write_report`]; the gallery of
/// mistakes only when there are some).
pub const REPORT_FILES: [&str; 5] = [
    "confusion.png",
    "confusion.svg",
    "misclassified.png",
    "metrics.json",
    "report.md",
];

/// What a report found, and where it wrote it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The confusion matrix.
    pub matrix: ConfusionMatrix,
    /// Every mistake, most confident first.
    pub mistakes: Vec<Mistake>,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// The predicted class of every row of `probs` (`classes` wide), and the rows whose
/// prediction is not their label, most confident first.
pub fn find_mistakes(probs: &[f32], labels: &[u8], classes: usize) -> (Vec<u8>, Vec<Mistake>) {
    let mut predictions = Vec::with_capacity(labels.len());
    let mut mistakes = Vec::new();
    for (i, row) in probs.chunks_exact(classes).enumerate() {
        let p = crate::kernels::argmax(row);
        predictions.push(p as u8);
        if p as u8 != labels[i] {
            mistakes.push(Mistake {
                index: i,
                label: labels[i],
                predicted: p as u8,
                confidence: row[p],
            });
        }
    }
    mistakes.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.index.cmp(&b.index))
    });
    (predictions, mistakes)
}

/// The gallery of the first [`GALLERY`] `mistakes` (most confident first), each
/// captioned with its index, true and predicted class and confidence; `None` when
/// there are none.
pub fn mistakes_gallery(
    mistakes: &[Mistake],
    data: &Dataset,
    class_names: &[String],
) -> Option<DigitGrid> {
    let name = |c: usize| class_names.get(c).cloned().unwrap_or(c.to_string());
    let digits = class_names
        .iter()
        .enumerate()
        .all(|(i, n)| *n == i.to_string());
    let [rows, cols, _] = data.image_shape;
    let tiles: Vec<DigitTile> = mistakes
        .iter()
        .take(GALLERY)
        .map(|m| DigitTile {
            pixels: data.image(m.index).to_vec(),
            rows,
            cols,
            caption: if digits {
                format!(
                    "#{}\n{}→{} {:.2}",
                    m.index, m.label, m.predicted, m.confidence
                )
            } else {
                let (label, predicted) = (name(m.label as usize), name(m.predicted as usize));
                format!("#{}\n{label}→{predicted}", m.index)
            },
            alert: true,
        })
        .collect();
    if tiles.is_empty() {
        return None;
    }
    Some(DigitGrid {
        title: Some(format!(
            "{} most confident mistakes of {} (index, true→predicted{})",
            tiles.len(),
            mistakes.len(),
            if digits { " confidence" } else { "" }
        )),
        tiles,
        cols: 10,
        scale: if digits { 3 } else { 4 },
    })
}

/// The most mistakes the gallery shows.
pub const GALLERY: usize = 100;

/// Evaluates `model` on `data` and writes into `dir`: `confusion.png`/`.svg` (the
/// heatmap), `misclassified.png` (the most confident mistakes with true and predicted
/// labels), `metrics.json` and `report.md` tying them together.
pub fn write_report(
    dir: &Path,
    model: &mut Sequential,
    data: &Dataset,
    class_names: &[String],
    title: &str,
) -> Result<Report> {
    if data.is_empty() {
        return Err(Error::config("there are no images to report on"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let probs = model.predict(data, 500)?;
    let classes = model.classes();
    let (predictions, mistakes) = find_mistakes(&probs, &data.labels, classes);
    let matrix = ConfusionMatrix::new(&data.labels, &predictions, classes);
    let name = |c: usize| class_names.get(c).cloned().unwrap_or(c.to_string());
    let mut files = Vec::new();

    let heatmap = ConfusionHeatmap {
        title: format!("Confusion matrix: {title}"),
        class_names: (0..classes).map(name).collect(),
        matrix: matrix.clone(),
    };
    for f in ["confusion.png", "confusion.svg"] {
        plot::save(&heatmap, &dir.join(f))?;
        files.push(dir.join(f));
    }

    if let Some(gallery) = mistakes_gallery(&mistakes, data, class_names) {
        plot::save(&gallery, &dir.join("misclassified.png"))?;
        files.push(dir.join("misclassified.png"));
    }

    let json = serde_json::json!({
        "accuracy": matrix.accuracy(),
        "count": matrix.total(),
        "classes": matrix.report(),
        "macro_avg": matrix.macro_avg(),
        "weighted_avg": matrix.weighted_avg(),
        "confusion_matrix": matrix.counts.chunks(classes).collect::<Vec<_>>(),
        "most_confused": matrix.most_confused(10),
        "mistakes": mistakes,
    });
    let path = dir.join("metrics.json");
    write_atomic(
        &path,
        serde_json::to_string_pretty(&json)
            .expect("serializes")
            .as_bytes(),
    )?;
    files.push(path);

    let md = markdown(&matrix, &mistakes, title, &name, !mistakes.is_empty());
    let path = dir.join("report.md");
    write_atomic(&path, md.as_bytes())?;
    files.push(path);
    Ok(Report {
        matrix,
        mistakes,
        files,
    })
}

/// The classification report as text (scikit-learn's layout).
pub fn classification_table(matrix: &ConfusionMatrix, name: &dyn Fn(usize) -> String) -> String {
    let mut s = format!(
        "{:>14} {:>9} {:>9} {:>9} {:>9}\n",
        "", "precision", "recall", "f1-score", "support"
    );
    for m in matrix.report() {
        let _ = writeln!(
            s,
            "{:>14} {:>9.4} {:>9.4} {:>9.4} {:>9}",
            name(m.class),
            m.precision,
            m.recall,
            m.f1,
            m.support
        );
    }
    let (p, r, f) = matrix.macro_avg();
    let _ = writeln!(
        s,
        "\n{:>14} {:>9} {:>9} {:>9.4} {:>9}",
        "accuracy",
        "",
        "",
        matrix.accuracy(),
        matrix.total()
    );
    let _ = writeln!(
        s,
        "{:>14} {p:>9.4} {r:>9.4} {f:>9.4} {:>9}",
        "macro avg",
        matrix.total()
    );
    let (p, r, f) = matrix.weighted_avg();
    let _ = writeln!(
        s,
        "{:>14} {p:>9.4} {r:>9.4} {f:>9.4} {:>9}",
        "weighted avg",
        matrix.total()
    );
    s
}

fn markdown(
    matrix: &ConfusionMatrix,
    mistakes: &[Mistake],
    title: &str,
    name: &dyn Fn(usize) -> String,
    gallery: bool,
) -> String {
    let n = matrix.classes;
    let mut s = format!("# Evaluation report: {title}\n\n");
    let _ = writeln!(
        s,
        "Accuracy **{:.4}** ({} of {} images right, {} wrong).\n",
        matrix.accuracy(),
        matrix.total() - mistakes.len(),
        matrix.total(),
        mistakes.len()
    );
    s.push_str("## Per class\n\n| class | precision | recall | F1 | support |\n| --- | ---: | ---: | ---: | ---: |\n");
    for m in matrix.report() {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4} | {:.4} | {} |",
            name(m.class),
            m.precision,
            m.recall,
            m.f1,
            m.support
        );
    }
    let (p, r, f) = matrix.macro_avg();
    let _ = writeln!(
        s,
        "| macro avg | {p:.4} | {r:.4} | {f:.4} | {} |",
        matrix.total()
    );
    let (p, r, f) = matrix.weighted_avg();
    let _ = writeln!(
        s,
        "| weighted avg | {p:.4} | {r:.4} | {f:.4} | {} |\n",
        matrix.total()
    );
    s.push_str("## Confusion matrix\n\nRows are the true classes, columns the predictions.\n\n![confusion matrix](confusion.png)\n\n| true \\ predicted |");
    for c in 0..n {
        let _ = write!(s, " {} |", name(c));
    }
    s.push_str("\n| --- |");
    s.push_str(&" ---: |".repeat(n));
    s.push('\n');
    for t in 0..n {
        let _ = write!(s, "| **{}** |", name(t));
        for p in 0..n {
            let v = matrix.get(t, p);
            if t == p {
                let _ = write!(s, " **{v}** |");
            } else {
                let _ = write!(s, " {v} |");
            }
        }
        s.push('\n');
    }
    s.push_str("\n## Most confused pairs\n\n| true | predicted | images |\n| --- | --- | ---: |\n");
    for (t, p, c) in matrix.most_confused(10) {
        let _ = writeln!(s, "| {} | {} | {c} |", name(t), name(p));
    }
    if gallery {
        let _ = writeln!(
            s,
            "\n## Mistakes\n\nThe {} most confident mistakes, each captioned with its index in the evaluated set, true→predicted and the model's probability for its prediction:\n\n![misclassified](misclassified.png)",
            mistakes.len().min(GALLERY)
        );
    }
    s
}
