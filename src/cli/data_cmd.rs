//! `scrawl data ...`: look at the data the way the tutorials do.

use anyhow::bail;
use clap::Subcommand;

use super::DataArgs;

/// Subcommands of `scrawl data`.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Shapes, dtype, pixel range and label counts of train and test.
    Info {
        #[command(flatten)]
        data: DataArgs,
    },
    /// One image as its pixel numbers and as shaded text, with its label.
    Show {
        /// Which image.
        #[arg(long)]
        index: usize,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The class order and the first rows of the one-hot label matrix (scikit-learn's
    /// `encoder.categories_` and Keras's `to_categorical(y)[0:9]`).
    Onehot {
        /// Rows to show.
        #[arg(long, default_value_t = 9)]
        rows: usize,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// The first rows as a table, like pandas' `DataFrame.head()`.
    Head {
        /// Rows to show.
        #[arg(long, default_value_t = 5)]
        rows: usize,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Write the data in another layout: `csv` (mnist_train.csv and mnist_test.csv,
    /// header label,1x1..28x28) or `kaggle` (Digit Recognizer train.csv with labels and
    /// test.csv without), into the folder --out.
    Export {
        /// csv or kaggle.
        #[arg(long)]
        format: String,
        /// The folder to write into (created if missing).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Export only the first N images of each split.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs `scrawl data ...`.
pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Info { data } => {
            let sets = data.load()?;
            println!("{}", sets.source);
            for (name, set) in [("train", &sets.train), ("test", &sets.test)] {
                let Some(set) = set else { continue };
                let [r, c, _] = set.image_shape;
                let (min, max) = set.pixel_range();
                println!("{name}:");
                println!(
                    "  images  shape ({}, {r}, {c})  dtype uint8  min {min}  max {max}",
                    set.len()
                );
                println!(
                    "  labels  shape ({},)  dtype uint8  classes 0-{}",
                    set.len(),
                    set.classes - 1
                );
                let counts = set.label_counts();
                let parts: Vec<String> = counts
                    .iter()
                    .enumerate()
                    .map(|(l, n)| format!("{l}: {n}"))
                    .collect();
                println!("  label counts  {}", parts.join("  "));
            }
        }
        DataCommand::Show {
            index,
            split: name,
            data,
        } => {
            let sets = data.load()?;
            let set = sets.split(&name)?;
            if index >= set.len() {
                bail!(
                    "--index {index} is out of range: the {name} set has {} images (0-{})",
                    set.len(),
                    set.len() - 1
                );
            }
            let [rows, cols, _] = set.image_shape;
            let img = set.image(index);
            println!("{name} image {index}, label {}", set.labels[index]);
            for r in 0..rows {
                let line: Vec<String> = img[r * cols..(r + 1) * cols]
                    .iter()
                    .map(|p| format!("{p:3}"))
                    .collect();
                println!("{}", line.join(" "));
            }
            println!();
            const SHADES: &[u8] = b" .:-=+*#%@";
            for r in 0..rows {
                let line: String = img[r * cols..(r + 1) * cols]
                    .iter()
                    .map(|&p| {
                        let ch = SHADES[(p as usize * (SHADES.len() - 1) + 127) / 255] as char;
                        format!("{ch}{ch}")
                    })
                    .collect();
                println!("{line}");
            }
        }
        DataCommand::Onehot { rows, split, data } => {
            let sets = data.load()?;
            let set = sets.split(&split)?;
            let n = rows.min(set.len());
            let classes: Vec<String> = (0..set.classes).map(|c| c.to_string()).collect();
            println!("categories (column j is class j): [{}]", classes.join(" "));
            let onehot = scrawl::data::one_hot(&set.labels[..n], set.classes);
            for (i, row) in onehot.chunks_exact(set.classes).enumerate() {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:.0}.")).collect();
                println!("{i:>3}  label {}  [{}]", set.labels[i], cells.join(" "));
            }
        }
        DataCommand::Head { rows, split, data } => {
            let sets = data.load()?;
            let set = sets.split(&split)?;
            let n = rows.min(set.len());
            let len = set.sample_len();
            let shown = [0, 1, 2, len - 2, len - 1];
            let mut header = format!("{:>5}  {:>5}", "", "label");
            for (k, &j) in shown.iter().enumerate() {
                if k == 3 {
                    header.push_str("  ...");
                }
                header.push_str(&format!("  {:>8}", format!("pixel{j}")));
            }
            println!("{header}");
            for i in 0..n {
                let img = set.image(i);
                let mut line = format!("{i:>5}  {:>5}", set.labels[i]);
                for (k, &j) in shown.iter().enumerate() {
                    if k == 3 {
                        line.push_str("  ...");
                    }
                    line.push_str(&format!("  {:>8}", img[j]));
                }
                println!("{line}");
            }
            println!("\n[{n} rows x {} columns]", len + 1);
        }
        DataCommand::Export {
            format,
            out,
            limit,
            data,
        } => {
            use scrawl::data::csv::{CsvLayout, write_csv};
            let files = match format.as_str() {
                "csv" => [
                    ("mnist_train.csv", CsvLayout::MnistCsv),
                    ("mnist_test.csv", CsvLayout::MnistCsv),
                ],
                "kaggle" => [
                    ("train.csv", CsvLayout::Kaggle),
                    ("test.csv", CsvLayout::KaggleTest),
                ],
                other => bail!("--format must be csv or kaggle, not '{other}'"),
            };
            if limit == Some(0) {
                bail!("--limit must be at least 1");
            }
            let sets = data.load()?;
            std::fs::create_dir_all(&out)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
            for ((name, layout), set) in files.into_iter().zip([&sets.train, &sets.test]) {
                let Some(set) = set else { continue };
                let set = match limit {
                    Some(n) => set.take(n),
                    None => set.clone(),
                };
                let path = out.join(name);
                write_csv(&set, &path, layout)?;
                println!(
                    "{}: {} images, {}",
                    path.display(),
                    set.len(),
                    layout.describe()
                );
            }
        }
    }
    Ok(())
}
