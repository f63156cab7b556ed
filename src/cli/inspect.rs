//! `scrawl evaluate`, `scrawl predict` and `scrawl summary`.

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde_json::json;

use super::{DataArgs, Overwrite, load_model, model_config};
use scrawl::kernels::argmax;
use scrawl::model::Sequential;

/// Flags of `scrawl evaluate`.
#[derive(clap::Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub compute: super::Threads,
    /// A model file written by `scrawl train`, or a run folder (its model).
    #[arg(long)]
    model: PathBuf,
    /// Images per forward pass.
    #[arg(long, default_value_t = 500, value_parser = super::batch_size_arg)]
    batch_size: usize,
    /// Print JSON (`loss` and `accuracy` at full precision).
    #[arg(long)]
    json: bool,
    /// Which part of the data to score: test (the default) or train.
    #[arg(long, default_value = "test", value_parser = ["train", "test"])]
    split: String,
    /// Test-time augmentation: average the probabilities of each image and 6 fixed
    /// variants of it (shifted one pixel each way, turned 5 degrees each way).
    #[arg(long, conflicts_with = "report")]
    tta: bool,
    /// Also write a report into this folder: per-class precision/recall/F1, the
    /// confusion matrix (table and heatmap), the most confused pairs, a gallery of
    /// mistakes, tied together in report.md.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    #[command(flatten)]
    overwrite: Overwrite,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs `scrawl evaluate`.
pub fn evaluate(a: EvaluateArgs) -> anyhow::Result<()> {
    if let Some(dir) = &a.report {
        // The folder is made if it is not there; a file of that name is not one.
        if dir.exists() && !dir.is_dir() {
            bail!("--report {} is a file, not a folder", dir.display());
        }
        for f in scrawl::report::REPORT_FILES {
            a.overwrite.check_existing(&dir.join(f))?;
        }
    }
    let (mut model, info) = load_model(&a.model)?;
    let mnist = a.data.load_for_model(&a.model, &info)?;
    let data = mnist.split(&a.split)?;
    let e = if a.tta {
        let test = data;
        let probs = scrawl::model::ensemble::predict_tta(&mut model, test, a.batch_size)?;
        let (accuracy, loss, correct) = scrawl::model::ensemble::score(&probs, test);
        scrawl::model::Evaluation {
            loss,
            accuracy,
            correct,
            count: test.len(),
        }
    } else {
        // Into a log (not a terminal): a line at most every 30 s during a long one.
        let piped = !std::io::IsTerminal::is_terminal(&std::io::stderr());
        let mut beat = scrawl::train::Heartbeat::new(scrawl::train::HEARTBEAT);
        model.evaluate_reporting(data, a.batch_size, &mut |done, total| {
            if piped && done < total && beat.due() {
                eprintln!("Evaluating: {done}/{total} images");
            }
        })?
    };
    if a.json {
        println!(
            "{}",
            json!({"split": a.split, "loss": e.loss, "accuracy": e.accuracy, "correct": e.correct, "count": e.count})
        );
    } else {
        println!(
            "{} loss: {} - {} accuracy: {:.4} ({}/{} right)",
            if a.split == "train" { "Train" } else { "Test" },
            scrawl::history::format_loss(e.loss),
            a.split,
            e.accuracy,
            e.correct,
            e.count
        );
    }
    if let Some(dir) = &a.report {
        let names = class_names(&info, &mnist.spec);
        let title = a.model.display().to_string();
        let r = scrawl::report::write_report(dir, &mut model, data, &names, &title)?;
        if !a.json {
            let name = |c: usize| names.get(c).cloned().unwrap_or(c.to_string());
            print!("{}", scrawl::report::classification_table(&r.matrix, &name));
            let pairs: Vec<String> = r
                .matrix
                .most_confused(5)
                .iter()
                .map(|(t, p, n)| format!("{}→{} ({n})", name(*t), name(*p)))
                .collect();
            println!("most confused (true→predicted): {}", pairs.join(", "));
            println!(
                "Wrote {} (with confusion.png, misclassified.png)",
                dir.join("report.md").display()
            );
        }
    }
    Ok(())
}

/// Flags of `scrawl predict`.
#[derive(clap::Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub compute: super::Threads,
    /// A model file written by `scrawl train`, or a run folder (its model).
    #[arg(long)]
    model: PathBuf,
    /// Which image of the data set.
    #[arg(long, required_unless_present_any = ["csv", "images"])]
    index: Option<usize>,
    /// Image files (PNG, JPEG, BMP, any size, dark-on-light or light-on-dark) to
    /// classify; each is first made to look like MNIST (cropped, scaled, centred).
    #[arg(value_name = "IMAGE", conflicts_with_all = ["index", "csv"])]
    images: Vec<PathBuf>,
    /// train or test.
    #[arg(long, default_value = "test")]
    split: String,
    /// Predict every row of a CSV file (Kaggle's test.csv, or any layout) and write a
    /// Kaggle submission (`ImageId,Label`, ImageId from 1) instead.
    #[arg(long, value_name = "FILE", conflicts_with = "index")]
    csv: Option<PathBuf>,
    /// Where the submission goes.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "submission.csv",
        requires = "csv"
    )]
    out: PathBuf,
    #[command(flatten)]
    overwrite: Overwrite,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// Writes a Kaggle submission for every image of a CSV file.
fn submission(model: &mut Sequential, csv: &Path, out: &Path, as_json: bool) -> anyhow::Result<()> {
    let input = scrawl::data::csv::read_csv(csv)?;
    let classes = model.predict_classes(&input.dataset, 500)?;
    let mut text = String::with_capacity(classes.len() * 8 + 16);
    text.push_str("ImageId,Label\n");
    for (i, c) in classes.iter().enumerate() {
        text.push_str(&format!("{},{c}\n", i + 1));
    }
    scrawl::files::write_atomic(out, text.as_bytes())?;
    let mut counts = [0usize; 10];
    for &c in &classes {
        counts[(c as usize).min(9)] += 1;
    }
    if as_json {
        println!(
            "{}",
            json!({"rows": classes.len(), "out": out, "layout": input.layout.describe(), "label_counts": counts})
        );
    } else {
        println!(
            "Predicted {} images of {} ({}); wrote {}",
            classes.len(),
            csv.display(),
            input.layout.describe(),
            out.display()
        );
        let parts: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(l, n)| format!("{l}: {n}"))
            .collect();
        println!("  predicted label counts  {}", parts.join("  "));
    }
    Ok(())
}

/// The class names a model was trained with (saved in its file by `scrawl train`),
/// else those of the data set at hand.
fn class_names(
    info: &std::collections::BTreeMap<String, serde_json::Value>,
    fallback: &scrawl::data::DatasetSpec,
) -> Vec<String> {
    info.get("class_names")
        .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        .unwrap_or_else(|| fallback.class_names.clone())
}

/// "3" for digits, "9 Ankle boot" when the classes have names.
fn named(names: &[String], class: usize) -> String {
    match names.get(class) {
        Some(n) if *n != class.to_string() => format!("{class} {n}"),
        _ => class.to_string(),
    }
}

/// Classifies image files after MNIST-style preprocessing.
fn predict_images(
    model: &mut Sequential,
    info: &std::collections::BTreeMap<String, serde_json::Value>,
    images: &[PathBuf],
    as_json: bool,
) -> anyhow::Result<()> {
    use scrawl::data::drawing::{Prepared, load, mnistify};
    if model.input_len() != 784 {
        bail!(
            "this model takes inputs of shape {:?}, not 28x28 images",
            model.config().input_shape
        );
    }
    let names = class_names(info, &scrawl::data::DatasetSpec::mnist());
    for path in images {
        let img = load(path)?;
        match mnistify(&img) {
            Prepared::Blank => {
                if as_json {
                    println!("{}", json!({"image": path, "blank": true}));
                } else {
                    println!(
                        "{}: blank (no ink found), nothing to classify",
                        path.display()
                    );
                }
            }
            Prepared::Digit { pixels, inverted } => {
                let x: Vec<f32> = pixels.iter().map(|&p| (p as f64 / 255.0) as f32).collect();
                let probs = model.predict_values(&x)?;
                let digit = argmax(&probs);
                if as_json {
                    println!(
                        "{}",
                        json!({"image": path, "digit": digit, "probabilities": probs, "inverted": inverted})
                    );
                } else {
                    println!(
                        "{}: {} ({:.1}%){}",
                        path.display(),
                        named(&names, digit),
                        100.0 * probs[digit],
                        if inverted {
                            ", dark ink on a light background"
                        } else {
                            ""
                        }
                    );
                    let parts: Vec<String> = probs
                        .iter()
                        .enumerate()
                        .map(|(c, p)| format!("{c}: {p:.4}"))
                        .collect();
                    println!("  {}", parts.join("  "));
                }
            }
        }
    }
    Ok(())
}

/// Runs `scrawl predict`.
pub fn predict(a: PredictArgs) -> anyhow::Result<()> {
    if a.csv.is_some() {
        a.overwrite.check(&a.out)?;
    }
    let (mut model, info) = load_model(&a.model)?;
    if let Some(csv) = &a.csv {
        return submission(&mut model, csv, &a.out, a.json);
    }
    if !a.images.is_empty() {
        return predict_images(&mut model, &info, &a.images, a.json);
    }
    let index = a.index.expect("clap requires --index without --csv");
    let mnist = a.data.load_for_model(&a.model, &info)?;
    let set = mnist.split(&a.split)?;
    if index >= set.len() {
        bail!(
            "--index {} is out of range: the {} set has {} images (0-{})",
            index,
            a.split,
            set.len(),
            set.len() - 1
        );
    }
    let one = set.select(&[index]);
    let probs = model.predict(&one, 1)?;
    let digit = argmax(&probs);
    let label = one.labels[0];
    let names = class_names(&info, &mnist.spec);
    if a.json {
        println!(
            "{}",
            json!({"index": index, "digit": digit, "label": label, "probabilities": probs, "class_names": names})
        );
    } else {
        println!(
            "{} image {}: predicted {} (label {})",
            a.split,
            index,
            named(&names, digit),
            named(&names, label as usize)
        );
        let width = (0..probs.len())
            .map(|c| named(&names, c).len())
            .max()
            .unwrap_or(1);
        for (c, p) in probs.iter().enumerate() {
            let bar = "#".repeat((p * 40.0).round() as usize);
            println!("  {:<width$}: {p:.6} {bar}", named(&names, c));
        }
    }
    Ok(())
}

/// Flags of `scrawl summary`.
#[derive(clap::Args)]
pub struct SummaryArgs {
    /// A preset, mlp:H1,H2,..., a model config .json, a saved .safetensors model or a
    /// run folder.
    #[arg(long, default_value = "mlp-512")]
    model: String,
}

/// Runs `scrawl summary`.
pub fn summary(a: SummaryArgs) -> anyhow::Result<()> {
    let model = if a.model.ends_with(".safetensors")
        || Path::new(&a.model).is_dir()
        || (Path::new(&a.model).is_file() && !a.model.ends_with(".json"))
    {
        load_model(Path::new(&a.model))?.0
    } else {
        Sequential::new(model_config(&a.model)?, 0)?
    };
    print!("{}", model.summary());
    Ok(())
}
