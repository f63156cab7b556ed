//! `scrawl data ...`: look at the data the way the tutorials do.

use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;

use super::{DataArgs, Overwrite, Sets};
use scrawl::data::Dataset;
use scrawl::data::augment::{Augmentation, warp_field};
use scrawl::plot::{self, DigitGrid, DigitTile, LabelCountsChart};

/// Subcommands of `scrawl data`.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Shapes, dtype, pixel range and label counts of train and test.
    Info {
        #[command(flatten)]
        data: DataArgs,
    },
    /// One image as its pixel numbers and as shaded text, with its label; with --out,
    /// also as a picture (upscaled without blur, the label in the title).
    Show {
        /// Which image.
        #[arg(long)]
        index: usize,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: String,
        /// Also draw it into this .png or .svg file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Screen pixels per image pixel in the picture.
        #[arg(long, default_value_t = 10)]
        scale: u32,
        #[command(flatten)]
        overwrite: Overwrite,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Many images in a grid, each with its label, into a .png or .svg file.
    Grid {
        /// Rows of images.
        #[arg(long, default_value_t = 10)]
        rows: usize,
        /// Images per row.
        #[arg(long, default_value_t = 10)]
        cols: usize,
        /// The first image shown.
        #[arg(long, default_value_t = 0)]
        start: usize,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: String,
        /// Screen pixels per image pixel.
        #[arg(long, default_value_t = 3)]
        scale: u32,
        /// The image file (.png or .svg).
        #[arg(long, value_name = "FILE", default_value = "grid.png")]
        out: PathBuf,
        /// One image a row: the original, then what epochs 1, 2, ... of `scrawl train
        /// --augment --seed S` make of it (rotated, zoomed and shifted at random,
        /// default ranges); the title names the augmentation.
        #[arg(long)]
        augment: bool,
        /// The seed of --augment.
        #[arg(long, default_value_t = 42, requires = "augment")]
        seed: u64,
        /// With --augment: add elastic distortion of this strength α in pixels, as
        /// `scrawl train --elastic` does (σ = 4).
        #[arg(allow_hyphen_values = true, value_parser = super::finite_f32,
            long,
            value_name = "ALPHA",
            requires = "augment"
        )]
        elastic: Option<f32>,
        #[command(flatten)]
        overwrite: Overwrite,
        #[command(flatten)]
        data: DataArgs,
    },
    /// A bar chart of how many images carry each label, train and test side by side
    /// (the tutorials' countplot), into a .png or .svg file.
    PlotLabels {
        /// The image file (.png or .svg).
        #[arg(long, value_name = "FILE", default_value = "labels.png")]
        out: PathBuf,
        #[command(flatten)]
        overwrite: Overwrite,
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
    /// header label,1x1..28x28), `kaggle` (Digit Recognizer train.csv with labels and
    /// test.csv without) or `png-dir` (train/ and test/ folders of 28x28 greyscale PNGs
    /// named INDEX_LABEL.png), into the folder --out.
    Export {
        /// csv, kaggle or png-dir.
        #[arg(long)]
        format: String,
        /// The folder to write into (created if missing).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Export only the first N images of each split.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Replace files an earlier export wrote there (in a PNG folder, only its
        /// INDEX_LABEL.png files; other files are never touched).
        #[arg(long)]
        overwrite: bool,
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
            if !sets.spec.digits() {
                let names: Vec<String> = (0..sets.spec.class_names.len())
                    .map(|c| format!("{c} {}", sets.spec.class_name(c)))
                    .collect();
                println!("classes: {}", names.join(", "));
            }
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
            out,
            scale,
            overwrite,
            data,
        } => {
            if let Some(out) = &out {
                check_scale(scale, 1..=40)?;
                plot::Format::of(out)?;
            }
            let sets = data.load()?;
            let set = sets.split(&name)?;
            check_index(set, &name, index)?;
            if let Some(out) = &out {
                overwrite.check(out)?;
            }
            let [rows, cols, _] = set.image_shape;
            let img = set.image(index);
            println!(
                "{name} image {index}, label {}",
                label_text(&sets, set.labels[index])
            );
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
            if let Some(out) = out {
                let grid = DigitGrid {
                    title: Some(format!(
                        "{name} #{index}: label {}",
                        label_text(&sets, set.labels[index])
                    )),
                    tiles: vec![tile(set, index, String::new())],
                    cols: 1,
                    scale,
                };
                plot::save(&grid, &out)?;
                println!("\nWrote {}", out.display());
            }
        }
        DataCommand::Grid {
            rows,
            cols,
            start,
            split: name,
            scale,
            out,
            augment,
            seed,
            elastic,
            overwrite,
            data,
        } => {
            if !(1..=100).contains(&rows) || !(1..=100).contains(&cols) {
                bail!("--rows and --cols must be between 1 and 100, got {rows} and {cols}");
            }
            check_scale(scale, 1..=20)?;
            plot::Format::of(&out)?;
            let sets = data.load()?;
            let set = sets.split(&name)?;
            check_index(set, &name, start)?;
            overwrite.check(&out)?;
            let aug = Augmentation {
                elastic_alpha: elastic.unwrap_or(0.0),
                ..Augmentation::default()
            };
            aug.validate()?;
            // With --augment a row is one image: the original, then what epochs 1,
            // 2, ... of `train --augment --seed S` make of it.
            let per_row = if augment { 1 } else { cols };
            let end = (start + rows * per_row).min(set.len());
            let [r, c, _] = set.image_shape;
            let mut field = Vec::new();
            let mut tiles = Vec::new();
            for i in start..end {
                tiles.push(tile(set, i, caption(&sets, set.labels[i])));
                if !augment {
                    continue;
                }
                tiles.last_mut().expect("just pushed").caption =
                    format!("#{i} {}", caption(&sets, set.labels[i]));
                for epoch in 1..cols {
                    let mut t = tile(set, i, format!("epoch {epoch}"));
                    let affine = aug.draw(seed, epoch, i, r, c);
                    aug.elastic_field(seed, epoch, i, [r, c], &mut field);
                    warp_field(
                        set.image(i),
                        &mut t.pixels,
                        set.image_shape,
                        &affine,
                        &field,
                    );
                    tiles.push(t);
                }
            }
            let title = if augment {
                format!(
                    "{} {name} images {start}-{}: each original, then epochs 1-{} of --augment --seed {seed}\n{aug}",
                    sets.spec.name,
                    end - 1,
                    cols.saturating_sub(1).max(1)
                )
            } else {
                format!("{} {name} images {start}-{}", sets.spec.name, end - 1)
            };
            let grid = DigitGrid {
                title: Some(title),
                tiles,
                cols,
                scale,
            };
            plot::save(&grid, &out)?;
            println!(
                "Wrote {} ({} {name} images from #{start}, labels above each)",
                out.display(),
                end - start
            );
        }
        DataCommand::PlotLabels {
            out,
            overwrite,
            data,
        } => {
            plot::Format::of(&out)?;
            overwrite.check(&out)?;
            let sets = data.load()?;
            let mut series = Vec::new();
            for (name, set) in [("train", &sets.train), ("test", &sets.test)] {
                if let Some(set) = set {
                    series.push((name.to_string(), set.label_counts()));
                }
            }
            if series.is_empty() {
                bail!(
                    "no labelled images to count: give labelled --train/--test CSV files or IDX data"
                );
            }
            let chart = LabelCountsChart {
                title: format!("Label counts: {}", sets.spec.name),
                class_names: sets.spec.class_names.clone(),
                series,
            };
            plot::save(&chart, &out)?;
            println!("Wrote {}", out.display());
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
            overwrite,
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
                "png-dir" => [("train", CsvLayout::Kaggle), ("test", CsvLayout::Kaggle)],
                other => bail!("--format must be csv, kaggle or png-dir, not '{other}'"),
            };
            if limit == Some(0) {
                bail!("--limit must be at least 1");
            }
            let sets = data.load()?;
            if out.exists() && !out.is_dir() {
                bail!("--out {} is a file, not a folder", out.display());
            }
            std::fs::create_dir_all(&out)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
            if !overwrite {
                let taken: Vec<String> = files
                    .iter()
                    .map(|(name, _)| out.join(name))
                    .filter(|p| {
                        p.is_file() || std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_some())
                    })
                    .map(|p| p.display().to_string())
                    .collect();
                if !taken.is_empty() {
                    bail!(
                        "{} already exist{}: add --overwrite to replace {} (in a PNG folder only the INDEX_LABEL.png files are replaced; other files there are kept)",
                        taken.join(" and "),
                        if taken.len() == 1 { "s" } else { "" },
                        if taken.len() == 1 { "it" } else { "them" }
                    );
                }
            }
            if format == "png-dir" {
                for ((name, _), set) in files.into_iter().zip([&sets.train, &sets.test]) {
                    let Some(set) = set else { continue };
                    let set = set.take(limit.unwrap_or(usize::MAX));
                    let dir = out.join(name);
                    scrawl::data::png::write_png_dir(&set, &dir)?;
                    println!(
                        "{}: {} images, greyscale PNG named INDEX_LABEL.png",
                        dir.display(),
                        set.len()
                    );
                }
                return Ok(());
            }
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

fn check_index(set: &Dataset, name: &str, index: usize) -> anyhow::Result<()> {
    if index >= set.len() {
        bail!(
            "--index {index} is out of range: the {name} set has {} images (0-{})",
            set.len(),
            set.len().saturating_sub(1)
        );
    }
    Ok(())
}

fn check_scale(scale: u32, range: std::ops::RangeInclusive<u32>) -> anyhow::Result<()> {
    if !range.contains(&scale) {
        bail!(
            "--scale must be between {} and {}, got {scale}",
            range.start(),
            range.end()
        );
    }
    Ok(())
}

/// "5", or "9 (Ankle boot)" for a data set whose classes have names.
fn label_text(sets: &Sets, label: u8) -> String {
    if sets.spec.digits() {
        label.to_string()
    } else {
        format!("{label} ({})", sets.spec.class_name(label as usize))
    }
}

/// The caption over a tile in a grid: the digit, or the class name.
fn caption(sets: &Sets, label: u8) -> String {
    if sets.spec.digits() {
        label.to_string()
    } else {
        sets.spec.class_name(label as usize)
    }
}

fn tile(set: &Dataset, i: usize, caption: String) -> DigitTile {
    let [rows, cols, _] = set.image_shape;
    DigitTile {
        pixels: set.image(i).to_vec(),
        rows,
        cols,
        caption,
        alert: false,
    }
}
