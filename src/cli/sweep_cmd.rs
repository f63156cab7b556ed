//! `scrawl sweep`: the scikit-learn tutorial's hidden-layer sweep, and any grid of
//! optimizer, learning rate and batch size.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::{DataArgs, Overwrite};
use scrawl::files::write_atomic;
use scrawl::sweep::{self, SweepRow};

/// Flags of `scrawl sweep`.
#[derive(clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub compute: super::Threads,
    /// Hidden-layer sizes of one MLP, e.g. 10,20,10; repeat the flag for more.
    #[arg(long, required = true, value_name = "H1,H2,...")]
    hidden: Vec<String>,
    /// Held-out share of the training images (scikit-learn's test_size).
    #[arg(allow_hyphen_values = true, value_parser = super::finite_f64, long, default_value_t = 0.3)]
    test_size: f64,
    /// Seed of the split, the weights and the shuffling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Optimizers to try, comma-separated.
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rates to try, comma-separated (default: each optimizer's own).
    #[arg(long)]
    lr: Option<String>,
    /// Batch sizes to try, comma-separated (scikit-learn's default is 200).
    #[arg(long, default_value = "200")]
    batch_size: String,
    /// Epochs per configuration.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Write the table as CSV (.csv) or Markdown (.md). Rows already in the CSV are not
    /// run again, so an interrupted sweep resumes (a .md keeps its CSV beside it).
    #[arg(long, value_name = "FILE", default_value = "sweep.csv")]
    out: PathBuf,
    #[command(flatten)]
    overwrite: Overwrite,
    #[command(flatten)]
    data: DataArgs,
}

fn list<T: std::str::FromStr>(flag: &str, text: &str) -> anyhow::Result<Vec<T>> {
    text.split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("--{flag}: '{s}' is not a valid value"))
        })
        .collect()
}

/// Runs `scrawl sweep`.
pub fn run(a: SweepArgs) -> anyhow::Result<()> {
    let hidden: Vec<Vec<usize>> = a
        .hidden
        .iter()
        .map(|h| list::<usize>("hidden", h))
        .collect::<anyhow::Result<_>>()?;
    if hidden.iter().any(|h| h.contains(&0)) {
        bail!("--hidden sizes must be at least 1");
    }
    let optimizers: Vec<String> = a
        .optimizer
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    for o in &optimizers {
        scrawl::optim::OptimizerConfig::by_name(o)?;
    }
    let lrs: Vec<Option<f32>> = match &a.lr {
        Some(t) => list::<f32>("lr", t)?.into_iter().map(Some).collect(),
        None => vec![None],
    };
    if let Some(lr) = lrs
        .iter()
        .flatten()
        .find(|lr| !(**lr > 0.0 && lr.is_finite()))
    {
        bail!("--lr: a learning rate must be a positive number, got {lr}");
    }
    let batch_sizes: Vec<usize> = list("batch-size", &a.batch_size)?;
    if batch_sizes.contains(&0) {
        bail!("--batch-size must be at least 1");
    }
    super::check_epochs(a.epochs)?;
    if !(a.test_size > 0.0 && a.test_size < 1.0) {
        bail!(
            "--test-size must be strictly between 0 and 1, got {}",
            a.test_size
        );
    }
    let ext = a.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    let csv_path = match ext {
        "csv" => a.out.clone(),
        "md" => a.out.with_extension("md.csv"),
        _ => bail!("--out must end in .csv or .md"),
    };
    // A table already there is this sweep's to resume (it must parse as one); a
    // Markdown file with no table beside it is someone else's.
    let resuming = std::fs::symlink_metadata(&csv_path).is_ok();
    if ext == "md" && !resuming {
        a.overwrite.check(&a.out)?;
    }
    super::check_folder(&a.out)?;
    let points = sweep::grid(
        &hidden,
        &optimizers,
        &lrs,
        &batch_sizes,
        (a.epochs, a.seed, a.test_size),
    );
    let sets = a.data.load()?;
    let (train, test) = sets.train()?.split(a.test_size, a.seed, false)?;
    let mut rows: Vec<SweepRow> = if resuming {
        let text = scrawl::files::read_text_limited(&csv_path, 64 << 20, "a sweep table")?;
        sweep::from_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", csv_path.display()))?
    } else {
        Vec::new()
    };
    let done: Vec<String> = rows.iter().map(|r| r.point.key()).collect();
    println!(
        "{} on {} training / {} held-out images ({}), {} each{}",
        super::count(points.len(), "configuration"),
        train.len(),
        test.len(),
        sets.source,
        super::count(a.epochs, "epoch"),
        if done.is_empty() {
            String::new()
        } else {
            format!("; {} already in {}", done.len(), csv_path.display())
        }
    );
    let w = points
        .iter()
        .map(|p| format!("{:?}", p.hidden).len())
        .chain(rows.iter().map(|r| format!("{:?}", r.point.hidden).len()))
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<w$} {:>9} {:>8} {:>6} {:>6} {:>5} {:>9} {:>9} {:>8} {:>8}",
        "hidden",
        "optimizer",
        "lr",
        "batch",
        "epochs",
        "seed",
        "params",
        "train",
        "test",
        "seconds"
    );
    let print = |r: &SweepRow| {
        println!(
            "{:<w$} {:>9} {:>8} {:>6} {:>6} {:>5} {:>9} {:>8.2}% {:>7.2}% {:>8.1}",
            format!("{:?}", r.point.hidden),
            r.point.optimizer,
            r.point.lr.map_or("default".into(), |l| l.to_string()),
            r.point.batch_size,
            r.point.epochs,
            r.point.seed,
            r.params,
            100.0 * r.train_accuracy,
            100.0 * r.test_accuracy,
            r.seconds
        )
    };
    for r in &rows {
        print(r);
    }
    for p in points.iter().filter(|p| !done.contains(&p.key())) {
        let row = sweep::run_point(p, &train, &test)?;
        print(&row);
        rows.push(row);
        // Saved after every row: an interrupted sweep loses at most the row it was on.
        write_atomic(&csv_path, sweep::to_csv(&rows).as_bytes())
            .with_context(|| format!("saving {}", csv_path.display()))?;
    }
    if ext == "md" {
        write_atomic(&a.out, sweep::to_markdown(&rows).as_bytes())?;
    }
    println!("Wrote {}", a.out.display());
    Ok(())
}
