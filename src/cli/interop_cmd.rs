//! `scrawl import ...` and `scrawl export ...`: weights in, models out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;

use super::{Overwrite, load_model, model_config};
use scrawl::interop;
use scrawl::model::Sequential;

/// Subcommands of `scrawl import`.
#[derive(Subcommand)]
pub enum ImportCommand {
    /// A network of the book "Deep Learning from Scratch" as its code pickles it:
    /// chapter 3's sample_weight.pkl, chapter 7's SimpleConvNet, chapter 8's
    /// DeepConvNet.
    Dlfs {
        /// The pickle (a dict of NumPy arrays W1 b1 W2 b2 ...).
        file: PathBuf,
        /// The scrawl model file to write.
        #[arg(long, default_value = "dlfs.safetensors")]
        out: PathBuf,
        #[command(flatten)]
        overwrite: Overwrite,
    },
    /// A Keras model: a Keras 3 `.keras` archive (`model.save("x.keras")`), or the
    /// HDF5 file of `model.save("x.h5")` / `ModelCheckpoint("x.hdf5")`; sequential
    /// models of the layers scrawl has.
    Keras {
        /// The .keras, .h5 or .hdf5 file.
        file: PathBuf,
        /// The scrawl model file to write.
        #[arg(long, default_value = "imported.safetensors")]
        out: PathBuf,
        #[command(flatten)]
        overwrite: Overwrite,
    },
    /// A network from an ONNX file: the chain-shaped graphs `torch.onnx.export`
    /// writes for MNIST networks (Conv, pooling, BatchNormalization, Flatten, Gemm,
    /// activations), NCHW weights and PyTorch's C,H,W flatten order converted.
    Onnx {
        /// The .onnx file.
        file: PathBuf,
        /// The scrawl model file to write.
        #[arg(long, default_value = "imported.safetensors")]
        out: PathBuf,
        #[command(flatten)]
        overwrite: Overwrite,
    },
    /// Weights from a NumPy .npz archive (one array per parameter, named like
    /// `dense/kernel`) into a model of the given architecture.
    Npz {
        /// The .npz archive.
        file: PathBuf,
        /// The architecture: a preset, a stack, a model config .json, or a model file.
        #[arg(long)]
        model: String,
        /// The scrawl model file to write.
        #[arg(long, default_value = "imported.safetensors")]
        out: PathBuf,
        #[command(flatten)]
        overwrite: Overwrite,
    },
}

/// Flags of `scrawl export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// A model file written by scrawl, or a run folder (its model); for npz also an
    /// architecture (a preset, a stack or a model config .json), exported with fresh
    /// weights to show the names and shapes `import npz` expects.
    #[arg(long)]
    model: String,
    /// npz (NumPy arrays), onnx, or keras (a Keras 3 .keras archive that
    /// keras.models.load_model opens).
    #[arg(long)]
    format: String,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    overwrite: Overwrite,
}

fn save(model: &Sequential, out: &std::path::Path, source: &str) -> anyhow::Result<()> {
    let mut info = BTreeMap::new();
    info.insert("imported_from".to_string(), json!(source));
    model.save_with_info(out, &info)?;
    println!(
        "Wrote {} ({}, {} parameters)",
        out.display(),
        model.config().name,
        model.param_count()
    );
    Ok(())
}

/// Runs `scrawl import ...`.
pub fn import(cmd: ImportCommand) -> anyhow::Result<()> {
    match cmd {
        ImportCommand::Dlfs {
            file,
            out,
            overwrite,
        } => {
            overwrite.check(&out)?;
            let model = interop::dlfs::import_dlfs(&file)?;
            print!("{}", model.summary());
            save(&model, &out, &file.display().to_string())
        }
        ImportCommand::Keras {
            file,
            out,
            overwrite,
        } => {
            overwrite.check(&out)?;
            let model = interop::keras::import_keras(&file)?;
            print!("{}", model.summary());
            save(&model, &out, &file.display().to_string())
        }
        ImportCommand::Onnx {
            file,
            out,
            overwrite,
        } => {
            overwrite.check(&out)?;
            let model = interop::onnx::import_onnx(&file)?;
            print!("{}", model.summary());
            save(&model, &out, &file.display().to_string())
        }
        ImportCommand::Npz {
            file,
            model,
            out,
            overwrite,
        } => {
            overwrite.check(&out)?;
            let config = if model.ends_with(".safetensors") {
                load_model(std::path::Path::new(&model))?.0.config().clone()
            } else {
                model_config(&model)?
            };
            let mut m = Sequential::new(config, 0)?;
            interop::npz::import_npz(&mut m, &file)?;
            save(&m, &out, &file.display().to_string())
        }
    }
}

/// Runs `scrawl export`.
pub fn export(a: ExportArgs) -> anyhow::Result<()> {
    a.overwrite.check(&a.out)?;
    let path = std::path::Path::new(&a.model);
    let saved = path.is_dir() || a.model.ends_with(".safetensors");
    if a.format == "npz" && !saved {
        let model = Sequential::new(model_config(&a.model)?, 0)?;
        interop::npz::export_npz(&model, &a.out)?;
        println!(
            "Wrote {} (npz): fresh weights of {}, untrained; the arrays import npz expects:",
            a.out.display(),
            a.model
        );
        for (name, p) in model.named_params() {
            // As NumPy prints a shape: `(30,)` for one axis.
            let shape: Vec<String> = p.shape.iter().map(usize::to_string).collect();
            let comma = if shape.len() == 1 { "," } else { "" };
            println!("  {name:<32} ({}{comma})", shape.join(", "));
        }
        return Ok(());
    }
    let (model, _) = load_model(path)?;
    match a.format.as_str() {
        "npz" => interop::npz::export_npz(&model, &a.out)?,
        "onnx" => interop::onnx::export_onnx(&model, &a.out)?,
        "keras" => interop::keras::export_keras(&model, &a.out)?,
        other => bail!("--format must be npz, onnx or keras, not '{other}'"),
    }
    println!("Wrote {} ({})", a.out.display(), a.format);
    Ok(())
}
