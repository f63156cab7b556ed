//! `scrawl runs` and `scrawl plot`: the run folders, listed and compared.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use scrawl::history::History;
use scrawl::plot::{self, TrainingCurves};

/// Flags of `scrawl runs`.
#[derive(clap::Args)]
pub struct RunsArgs {
    /// The folder holding run folders.
    #[arg(long, default_value = "runs")]
    dir: PathBuf,
    /// One JSON array of the runs instead of the table.
    #[arg(long)]
    json: bool,
}

/// Flags of `scrawl plot`.
#[derive(clap::Args)]
pub struct PlotArgs {
    /// Run folders (or their history.json files) to draw on one chart.
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<PathBuf>,
    /// The image file (.png or .svg).
    #[arg(long, default_value = "curves.png")]
    out: PathBuf,
    #[command(flatten)]
    overwrite: super::Overwrite,
    /// The chart's title.
    #[arg(long)]
    title: Option<String>,
}

/// A run's history, from its history.json, or history.csv while it is still running.
fn history_of(run: &Path) -> anyhow::Result<History> {
    let file = if run.is_file() {
        run.to_path_buf()
    } else {
        run.join("history.json")
    };
    if file.is_file() {
        let text = scrawl::files::read_text_limited(&file, 64 << 20, "a history")?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not a scrawl history", file.display()));
    }
    let csv = run.join("history.csv");
    if csv.is_file() {
        return History::from_csv_file(&csv).map_err(Into::into);
    }
    bail!(
        "{} is not a run folder: it has no history.json or history.csv",
        run.display()
    )
}

/// Runs `scrawl plot`.
pub fn plot_runs(a: PlotArgs) -> anyhow::Result<()> {
    plot::Format::of(&a.out)?;
    let mut runs = Vec::new();
    for r in &a.runs {
        let h = history_of(r)?;
        let name = r
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.display().to_string());
        let name = if name == "history.json" {
            r.parent()
                .and_then(|p| p.file_name())
                .map_or(name.clone(), |n| n.to_string_lossy().into_owned())
        } else {
            name
        };
        runs.push((name, h));
    }
    let title = a.title.unwrap_or_else(|| {
        runs.iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" vs ")
    });
    a.overwrite.check(&a.out)?;
    plot::save(
        &TrainingCurves {
            title,
            runs,
            mark: None,
        },
        &a.out,
    )?;
    println!("Wrote {}", a.out.display());
    Ok(())
}

/// One row of `scrawl runs`.
#[derive(serde::Serialize)]
struct RunRow {
    run: String,
    model: String,
    /// When the run started (its config.json's time), local time.
    date: String,
    epochs: usize,
    best_val_accuracy: Option<f64>,
    best_epoch: Option<usize>,
    test_accuracy: Option<f64>,
    state: &'static str,
}

/// Runs `scrawl runs`.
pub fn list(a: RunsArgs) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(&a.dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if a.json {
                println!("[]");
            } else {
                println!(
                    "No runs in {} yet: scrawl train saves each run there",
                    a.dir.display()
                );
            }
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", a.dir.display())),
    };
    let mut rows = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let Ok(h) = history_of(&path) else { continue };
        let config_file = path.join("config.json");
        let config: serde_json::Value =
            scrawl::files::read_text_limited(&config_file, 16 << 20, "a run config")
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
        let model = config["model"]["name"].as_str().unwrap_or("?").to_string();
        let date = std::fs::metadata(&config_file)
            .and_then(|m| m.modified())
            .map(|t| {
                chrono::DateTime::<chrono::Local>::from(t)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_else(|_| "-".into());
        let best = h
            .epochs
            .iter()
            .filter_map(|e| e.val_accuracy.map(|v| (v, e.epoch)))
            .fold(None, |acc: Option<(f64, usize)>, x| match acc {
                Some(a) if a.0 >= x.0 => Some(a),
                _ => Some(x),
            });
        let model_file = path.join("model.safetensors");
        let state = if model_file.is_file() {
            "done"
        } else if path.join("checkpoint.safetensors").is_file() {
            "resumable"
        } else {
            "incomplete"
        };
        // The test accuracy is in the finished model's metadata.
        let test_accuracy = scrawl::model::Sequential::load_with_info(&model_file)
            .ok()
            .and_then(|(_, info)| {
                info.get("test_accuracy")
                    .and_then(serde_json::Value::as_f64)
            });
        rows.push(RunRow {
            run: path.display().to_string(),
            model,
            date,
            epochs: h.epochs.len(),
            best_val_accuracy: best.map(|b| b.0),
            best_epoch: best.map(|b| b.1),
            test_accuracy,
            state,
        });
    }
    rows.sort_by(|a, b| a.run.cmp(&b.run));
    if a.json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("No runs in {}", a.dir.display());
        return Ok(());
    }
    println!(
        "{:<36} {:<24} {:<16} {:>6} {:>13} {:>6} {:>9}  state",
        "run", "model", "date", "epochs", "best val_acc", "epoch", "test_acc"
    );
    let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    for r in rows {
        println!(
            "{:<36} {:<24} {:<16} {:>6} {:>13} {:>6} {:>9}  {}",
            r.run,
            r.model,
            r.date,
            r.epochs,
            num(r.best_val_accuracy),
            r.best_epoch.map_or("-".into(), |e| e.to_string()),
            num(r.test_accuracy),
            r.state
        );
    }
    Ok(())
}
