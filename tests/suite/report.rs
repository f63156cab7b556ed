//! The evaluation report's numbers against values worked out by hand, and the files it
//! writes.

use crate::common;

use scrawl::metrics::ConfusionMatrix;
use scrawl::report::{classification_table, write_report};

#[test]
fn confusion_matrix_precision_recall_by_hand() {
    // 3 classes, 8 images:
    //   true 0: predicted 0, 0, 1        -> row [2, 1, 0]
    //   true 1: predicted 1, 1, 1, 2     -> row [0, 3, 1]
    //   true 2: predicted 0              -> row [1, 0, 0]
    let labels = [0u8, 0, 0, 1, 1, 1, 1, 2];
    let preds = [0u8, 0, 1, 1, 1, 1, 2, 0];
    let m = ConfusionMatrix::new(&labels, &preds, 3);
    assert_eq!(m.counts, vec![2, 1, 0, 0, 3, 1, 1, 0, 0]);
    assert_eq!(m.accuracy(), 5.0 / 8.0);
    // class 0: tp 2, predicted 3 (2 + the 2 predicted as 0), support 3
    let c0 = m.class_metrics(0);
    assert_eq!(
        (c0.precision, c0.recall, c0.support),
        (2.0 / 3.0, 2.0 / 3.0, 3)
    );
    assert!((c0.f1 - 2.0 / 3.0).abs() < 1e-15);
    // class 1: tp 3, predicted 4, support 4
    let c1 = m.class_metrics(1);
    assert_eq!((c1.precision, c1.recall), (0.75, 0.75));
    // class 2: never right: precision 0/1, recall 0/1, F1 0 (zero_division=0)
    let c2 = m.class_metrics(2);
    assert_eq!(
        (c2.precision, c2.recall, c2.f1, c2.support),
        (0.0, 0.0, 0.0, 1)
    );
    let (p, r, f) = m.macro_avg();
    assert!((p - (2.0 / 3.0 + 0.75) / 3.0).abs() < 1e-15);
    assert!((r - (2.0 / 3.0 + 0.75) / 3.0).abs() < 1e-15);
    assert!((f - (2.0 / 3.0 + 0.75) / 3.0).abs() < 1e-15);
    // Weighted by support (3, 4, 1 of 8), as scikit-learn's "weighted avg".
    let (p, r, f) = m.weighted_avg();
    let want = (3.0 * (2.0 / 3.0) + 4.0 * 0.75) / 8.0;
    assert!(
        (p - want).abs() < 1e-15 && (r - want).abs() < 1e-15,
        "{p} {r}"
    );
    assert!((f - want).abs() < 1e-12, "{f}");
    // The three mistakes, most frequent first, ties by true then predicted class.
    assert_eq!(m.most_confused(5), vec![(0, 1, 1), (1, 2, 1), (2, 0, 1)]);
    let table = classification_table(&m, &|c| c.to_string());
    assert!(
        table.contains("0.7500") && table.contains("accuracy") && table.contains("weighted avg"),
        "{table}"
    );
}

#[test]
fn a_report_on_a_trained_model() {
    let m = common::mnist();
    let mut model = common::trained(
        scrawl::presets::preset("mlp:32").unwrap(),
        3,
        &m.train,
        3000,
    );
    let test = m.test.take(500);
    let names: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let r = write_report(dir.path(), &mut model, &test, &names, "mlp:32").unwrap();
    // The report agrees with evaluate and with its own mistakes list.
    let e = model.evaluate(&test, 100).unwrap();
    assert_eq!(r.matrix.total(), 500);
    assert_eq!(r.matrix.total() - r.mistakes.len(), e.correct);
    assert!(
        r.mistakes
            .windows(2)
            .all(|w| w[0].confidence >= w[1].confidence)
    );
    for f in [
        "confusion.png",
        "confusion.svg",
        "misclassified.png",
        "metrics.json",
        "report.md",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let img = image::open(dir.path().join("confusion.png")).unwrap();
    assert!(img.width() > 600 && img.height() > 600);
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("| macro avg |") && md.contains("![confusion matrix](confusion.png)"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(json["count"], 500);
    assert_eq!(json["confusion_matrix"].as_array().unwrap().len(), 10);
}
