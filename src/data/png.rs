//! A data set as a folder of PNG files, one 8-bit greyscale image each, named
//! `INDEX_LABEL.png` (`00042_7.png`), which any image viewer or Python script opens.

use std::path::{Path, PathBuf};

use image::ImageEncoder;

use super::Dataset;
use crate::error::{Error, Result};

/// Encodes one greyscale image as PNG bytes.
pub fn encode_gray_png(pixels: &[u8], rows: usize, cols: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            pixels,
            cols as u32,
            rows as u32,
            image::ExtendedColorType::L8,
        )
        .map_err(|e| Error::config(format!("encoding a {rows}x{cols} PNG: {e}")))?;
    Ok(out)
}

/// The file name of image `index` with `label` in a set of `len` images: the index is
/// zero-padded to the width of the largest one, so names sort in order.
pub fn file_name(index: usize, label: u8, len: usize) -> String {
    let width = len.saturating_sub(1).to_string().len().max(5);
    format!("{index:0width$}_{label}.png")
}

/// Whether `name` is one [`file_name`] makes (`00042_7.png`).
pub fn is_image_file_name(name: &str) -> bool {
    let Some((index, label)) = name
        .strip_suffix(".png")
        .and_then(|stem| stem.split_once('_'))
    else {
        return false;
    };
    index.len() >= 5
        && index.bytes().all(|b| b.is_ascii_digit())
        && label.len() == 1
        && label.bytes().all(|b| b.is_ascii_digit())
}

/// Writes every image of `set` into the folder `dir` as `INDEX_LABEL.png`.
///
/// A new `dir` is written as a temporary folder beside it first, which then takes its
/// place, so an interrupted export never leaves a half-written folder. Into an
/// existing `dir`, each image is written atomically, and the `INDEX_LABEL.png` files
/// of an earlier, larger export are removed; every other file there (a photo, a
/// folder of notes) is left as it is: scrawl never deletes a file it did not write.
pub fn write_png_dir(set: &Dataset, dir: &Path) -> Result<()> {
    let [rows, cols, channels] = set.image_shape;
    if channels != 1 {
        return Err(Error::Shape(format!(
            "PNG export writes greyscale images; these have {channels} channels"
        )));
    }
    if dir.is_dir() {
        let mut written = std::collections::HashSet::new();
        for i in 0..set.len() {
            let bytes = encode_gray_png(set.image(i), rows, cols)?;
            let name = file_name(i, set.labels[i], set.len());
            crate::files::write_atomic(&dir.join(&name), &bytes)?;
            written.insert(name);
        }
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_image_file_name(&name)
                && !written.contains(&name)
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        return Ok(());
    }
    let name = dir
        .file_name()
        .ok_or_else(|| Error::config(format!("{} is not a folder path", dir.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        for i in 0..set.len() {
            let bytes = encode_gray_png(set.image(i), rows, cols)?;
            let path: PathBuf = tmp.join(file_name(i, set.labels[i], set.len()));
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Reads a folder of labelled images back into a [`Dataset`] of 10 classes. Two
/// layouts are accepted: files named `ANYTHING_LABEL.png` (what [`write_png_dir`]
/// writes), read in name order; or one sub-folder per class named `0` to `9` (Keras's
/// `image_dataset_from_directory` layout), read class by class in name order. Colour
/// images are converted to grey; every image must have the size of the first.
pub fn read_png_dir(dir: &Path) -> Result<Dataset> {
    let mut files: Vec<(PathBuf, u8)> = Vec::new();
    let mut entries = list(dir)?;
    entries.sort();
    let class_dirs: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    if !class_dirs.is_empty() {
        for sub in class_dirs {
            let name = sub.file_name().unwrap_or_default().to_string_lossy();
            let label = parse_label(&name).ok_or_else(|| {
                Error::format(sub, "a class folder must be named by its label, 0 to 9")
            })?;
            let mut inner = list(sub)?;
            inner.sort();
            files.extend(inner.into_iter().filter(|p| is_png(p)).map(|p| (p, label)));
        }
    } else {
        for path in entries.into_iter().filter(|p| is_png(p)) {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let label = stem
                .rsplit_once('_')
                .and_then(|(_, l)| parse_label(l))
                .ok_or_else(|| {
                    Error::format(
                        &path,
                        "the file name must end in _LABEL.png with LABEL 0-9 (e.g. 00042_7.png), or put the images in folders 0 to 9",
                    )
                })?;
            files.push((path, label));
        }
    }
    if files.is_empty() {
        return Err(Error::format(
            dir,
            "no .png images here (expected INDEX_LABEL.png files or folders 0 to 9)",
        ));
    }
    let mut shape = None;
    let mut images = Vec::new();
    let mut labels = Vec::with_capacity(files.len());
    for (path, label) in files {
        // The drawing loader's limits (file size, pixels a side, decoder memory) hold
        // for each image, and the pixels of all of them share one budget.
        let img = crate::data::drawing::load(&path)?;
        let (w, h) = img.dimensions();
        if (images.len() + img.as_raw().len()) as u64 > crate::data::idx::MAX_IDX_BYTES {
            return Err(Error::format(
                &path,
                format!(
                    "the images of this folder hold more than {} of pixels together; refusing",
                    crate::files::human_bytes(crate::data::idx::MAX_IDX_BYTES)
                ),
            ));
        }
        match shape {
            None => shape = Some((h, w)),
            Some(s) if s != (h, w) => {
                return Err(Error::format(
                    &path,
                    format!(
                        "is {w}x{h} pixels but the images before it are {}x{}",
                        s.1, s.0
                    ),
                ));
            }
            _ => {}
        }
        images.extend_from_slice(img.as_raw());
        labels.push(label);
    }
    let (h, w) = shape.expect("at least one image");
    Dataset::new(images, labels, [h as usize, w as usize, 1], 10)
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        // Skip hidden files (and a half-written export's temporary folder).
        if !name.to_string_lossy().starts_with('.') {
            out.push(entry.path());
        }
    }
    Ok(out)
}

fn is_png(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

fn parse_label(s: &str) -> Option<u8> {
    match s.parse::<u8>() {
        Ok(l) if l < 10 && s.len() == 1 => Some(l),
        _ => None,
    }
}
