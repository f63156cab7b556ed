//! Finding MNIST (or another data set in its IDX layout) on disk, in a fixed order,
//! and fetching MNIST when it is nowhere.
//!
//! Order: `--data DIR`, `$SCRAWL_DATA` (MNIST only), `./data/NAME`, `../shared/data/NAME`,
//! `/usr/share/datasets/NAME` (where Debian's `dataset-*` packages install). A folder
//! the user named explicitly must hold the files (a typo is an error, not a silent
//! fallback). When no folder has MNIST, the files are downloaded into `./data/mnist`
//! and each is checked against the SHA-256 compiled in below.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Dataset;
use super::idx;
use crate::error::{Error, Result};

/// The four MNIST files with the SHA-256 of their decompressed contents.
pub const MNIST_FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// Public mirrors serving the gzipped MNIST files, tried in order.
pub const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// Where scrawl downloads MNIST when it finds it nowhere.
pub const DOWNLOAD_DIR: &str = "data/mnist";

/// MNIST's training and test sets, and the folder they came from.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// 60,000 training images.
    pub train: Dataset,
    /// 10,000 test images.
    pub test: Dataset,
    /// The folder the files were read from.
    pub dir: PathBuf,
}

/// Returns the path of `stem` in `dir`, gzipped or raw (also the `train-images.idx3-ubyte`
/// spelling some copies use), if present.
fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    [
        format!("{stem}.gz"),
        stem.to_string(),
        format!("{dotted}.gz"),
        dotted,
    ]
    .into_iter()
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
}

fn holds_mnist(dir: &Path) -> bool {
    MNIST_FILES.iter().all(|(s, _)| find_file(dir, s).is_some())
}

/// The folders scrawl looks in for the data set `name`, in order, each with where it
/// came from (`default` for the built-in places, which may be missing).
pub fn candidate_dirs(explicit: Option<&Path>, name: &str) -> Vec<(PathBuf, String)> {
    let mut dirs = Vec::new();
    if let Some(d) = explicit {
        dirs.push((d.to_path_buf(), "--data".to_string()));
    }
    if name == "mnist"
        && let Some(d) = std::env::var_os("SCRAWL_DATA")
    {
        dirs.push((PathBuf::from(d), "$SCRAWL_DATA".to_string()));
    }
    for base in ["data", "../shared/data", "/usr/share/datasets"] {
        dirs.push((Path::new(base).join(name), "default".to_string()));
    }
    dirs
}

/// Finds a folder holding the four MNIST files, without downloading.
pub fn find_mnist(explicit: Option<&Path>) -> Result<PathBuf> {
    find_dataset(explicit, "mnist")
}

/// Finds a folder holding the four IDX files of the data set `name`, without downloading.
pub fn find_dataset(explicit: Option<&Path>, name: &str) -> Result<PathBuf> {
    let mut looked = Vec::new();
    for (dir, origin) in candidate_dirs(explicit, name) {
        if holds_mnist(&dir) {
            return Ok(dir);
        }
        if origin != "default" {
            // A folder that cannot be read says why (permission denied, not a
            // folder) instead of claiming the files are missing.
            if let Err(e) = std::fs::read_dir(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(Error::io(&dir, e));
            }
            let shown = if name == "mnist" { "MNIST" } else { name };
            return Err(Error::DataNotFound(format!(
                "{} (from {origin}) does not hold the four {shown} files ({})",
                dir.display(),
                file_list()
            )));
        }
        looked.push(dir);
    }
    Err(Error::DataNotFound(not_found_message(name, &looked, None)))
}

fn file_list() -> String {
    MNIST_FILES
        .iter()
        .map(|(s, _)| format!("{s}[.gz]"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn not_found_message(name: &str, looked: &[PathBuf], download_error: Option<&str>) -> String {
    let shown = if name == "mnist" { "MNIST" } else { name };
    let mut msg = format!("{shown} was not found. Looked in:\n");
    for d in looked {
        msg.push_str(&format!("  - {}\n", d.display()));
    }
    if let Some(e) = download_error {
        msg.push_str(&format!(
            "Downloading it into ./{DOWNLOAD_DIR} failed: {e}\n"
        ));
    }
    if name != "mnist" {
        msg.push_str(&format!(
            "scrawl downloads only MNIST. On Debian, `apt-get install dataset-{name}` installs {name} under /usr/share/datasets/{name}, if such a package exists.\n"
        ));
    }
    msg.push_str(&format!(
        "Point scrawl at a folder holding {} with --data DIR{}.",
        file_list(),
        if name == "mnist" {
            " or SCRAWL_DATA=DIR"
        } else {
            ""
        }
    ));
    msg
}

/// Finds MNIST; when it is nowhere and `allow_download` is set, downloads it into
/// `./data/mnist` (with a progress bar) and returns that folder.
pub fn locate_or_download(explicit: Option<&Path>, allow_download: bool) -> Result<PathBuf> {
    locate_dataset(explicit, "mnist", allow_download)
}

/// Finds the data set `name` (see [`candidate_dirs`]); MNIST alone is downloaded when
/// it is nowhere and `allow_download` is set.
pub fn locate_dataset(
    explicit: Option<&Path>,
    name: &str,
    allow_download: bool,
) -> Result<PathBuf> {
    match find_dataset(explicit, name) {
        Ok(d) => Ok(d),
        Err(Error::DataNotFound(msg))
            if allow_download && name == "mnist" && msg.starts_with("MNIST was not") =>
        {
            let dest = PathBuf::from(DOWNLOAD_DIR);
            #[cfg(feature = "download")]
            eprintln!("MNIST not found locally; downloading into ./{DOWNLOAD_DIR}");
            match download_mnist(&dest, &MIRRORS) {
                Ok(()) => Ok(dest),
                Err(e) => {
                    let looked: Vec<PathBuf> = candidate_dirs(explicit, name)
                        .into_iter()
                        .map(|(d, _)| d)
                        .collect();
                    Err(Error::DataNotFound(not_found_message(
                        name,
                        &looked,
                        Some(&e.to_string()),
                    )))
                }
            }
        }
        Err(e) => Err(e),
    }
}

/// Without the `download` feature: says so, so the caller reports where it looked.
#[cfg(not(feature = "download"))]
pub fn download_mnist(_dest: &Path, _mirrors: &[&str]) -> Result<()> {
    Err(Error::Download(
        "this scrawl was built without the `download` feature".into(),
    ))
}

/// Downloads the four gzipped files from the first mirror that serves each, verifies
/// the SHA-256 of the decompressed bytes, and writes them into `dest` atomically.
#[cfg(feature = "download")]
pub fn download_mnist(dest: &Path, mirrors: &[&str]) -> Result<()> {
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .build()
        .into();
    for (stem, sha) in MNIST_FILES {
        let target = dest.join(format!("{stem}.gz"));
        if target.is_file() {
            continue;
        }
        let mut last_err = String::new();
        let mut got = None;
        for base in mirrors {
            let url = format!("{base}{stem}.gz");
            match fetch(&agent, &url) {
                Ok(bytes) => match verify(&bytes, sha) {
                    Ok(()) => {
                        got = Some(bytes);
                        break;
                    }
                    Err(e) => last_err = format!("{url}: {e}"),
                },
                Err(e) => last_err = format!("{url}: {e}"),
            }
        }
        let bytes = got.ok_or(Error::Download(last_err))?;
        crate::files::write_atomic(&target, &bytes)?;
    }
    Ok(())
}

#[cfg(feature = "download")]
fn fetch(agent: &ureq::Agent, url: &str) -> std::result::Result<Vec<u8>, String> {
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::no_length(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
    let mut reader = resp.body_mut().as_reader();
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        if out.len() as u64 + n as u64 > idx::MAX_IDX_BYTES {
            return Err("response larger than any MNIST file".into());
        }
        out.extend_from_slice(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Checks gzipped `bytes` against the SHA-256 of their decompressed contents.
pub fn verify(gz_bytes: &[u8], sha256_hex: &str) -> std::result::Result<(), String> {
    let mut hasher = Sha256::new();
    std::io::copy(
        &mut flate2::read::MultiGzDecoder::new(gz_bytes).take(idx::MAX_IDX_BYTES),
        &mut hasher,
    )
    .map_err(|e| format!("not a valid gzip stream: {e}"))?;
    let got = format!("{:x}", hasher.finalize());
    if got != sha256_hex {
        return Err(format!(
            "SHA-256 of the decompressed file is {got}, expected {sha256_hex}"
        ));
    }
    Ok(())
}

/// Reads MNIST, or any data set in its IDX layout, from `dir` (see [`find_mnist`] for
/// the file names accepted).
///
/// ```
/// # fn main() -> scrawl::Result<()> {
/// let mnist = scrawl::data::load_mnist(std::path::Path::new("../shared/data/mnist"))?;
/// assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
/// assert_eq!(mnist.train.image_shape, [28, 28, 1]);
/// assert_eq!(mnist.train.labels[0], 5); // the first training digit is a 5
/// # Ok(()) }
/// ```
pub fn load_mnist(dir: &Path) -> Result<Mnist> {
    let path_of = |stem: &str| {
        find_file(dir, stem).ok_or_else(|| {
            Error::DataNotFound(format!("{}: no {stem}[.gz] in this folder", dir.display()))
        })
    };
    // One budget for the four files together: a second file may take only what the
    // first left of it.
    let mut budget = idx::MAX_IDX_BYTES;
    let train = read_pair(
        &path_of(MNIST_FILES[0].0)?,
        &path_of(MNIST_FILES[1].0)?,
        &mut budget,
    )?;
    let test = read_pair(
        &path_of(MNIST_FILES[2].0)?,
        &path_of(MNIST_FILES[3].0)?,
        &mut budget,
    )?;
    Ok(Mnist {
        train,
        test,
        dir: dir.to_path_buf(),
    })
}

/// Reads an IDX image file and its label file into a [`Dataset`] of 10 classes.
pub fn load_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    read_pair(images, labels, &mut idx::MAX_IDX_BYTES.clone())
}

/// [`load_pair`] taking its bytes from `budget`.
fn read_pair(images: &Path, labels: &Path, budget: &mut u64) -> Result<Dataset> {
    let img = idx::read_images(images, *budget)?;
    *budget -= img.data.len() as u64;
    let lab = idx::read_labels(labels, 10, *budget)?;
    *budget -= lab.data.len() as u64;
    if img.dims[0] != lab.dims[0] {
        return Err(Error::format(
            labels,
            format!(
                "count mismatch: {} labels here but {} images in {}",
                lab.dims[0],
                img.dims[0],
                images.display()
            ),
        ));
    }
    Dataset::new(img.data, lab.data, [img.dims[1], img.dims[2], 1], 10)
}
