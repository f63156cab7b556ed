//! Run folders on disk: created atomically under a unique name, and locked while a process
//! writes them, so two runs never share a folder and no run's files are lost.
//!
//! - A new run's folder is made with one `mkdir` (`runs/20261126-140501`, then
//!   `-2`, `-3`, ... when that name is taken): two runs started in the same second
//!   get two folders, because `mkdir` succeeds for exactly one of them.
//! - A process writing a run holds an exclusive lock on `RUN/.scrawl.lock` (an
//!   advisory file lock, which the system releases when the process ends, however it
//!   ends); a second process that asks for it is refused at once, with the holder's
//!   process id.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file inside a run folder.
pub const LOCK_FILE: &str = ".scrawl.lock";

/// The files a run writes at the top of its folder: a folder holding any of them
/// holds a run.
pub const RUN_FILES: [&str; 10] = [
    "config.json",
    "model.safetensors",
    "checkpoint.safetensors",
    "best.safetensors",
    "history.csv",
    "history.json",
    "curves.png",
    "curves.svg",
    "checkpoints",
    "tensorboard",
];

/// A run folder this process holds the lock of; the lock is released when it is
/// dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    dir: PathBuf,
    _file: std::fs::File,
}

impl RunLock {
    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Takes the lock of the run folder `dir` (which must exist), or says which process
/// holds it.
pub fn lock(dir: &Path) -> Result<RunLock> {
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (process {})", crate::files::clip(holder, 20))
            };
            return Err(Error::config(format!(
                "{} is being written by another scrawl process{who}: wait for it to finish, or give another --out",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    // The holder's id, for the message another process gets.
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(RunLock {
        dir: dir.to_path_buf(),
        _file: file,
    })
}

/// Creates a new, empty run folder `parent/stem` (or `stem-2`, `stem-3`, ... when
/// the name is taken) with one `mkdir` each, and locks it.
pub fn create_unique(parent: &Path, stem: &str) -> Result<RunLock> {
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    for n in 1..=10_000u32 {
        let name = if n == 1 {
            stem.to_string()
        } else {
            format!("{stem}-{n}")
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return lock(&dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    Err(Error::config(format!(
        "{}: 10,000 run folders named {stem}; give --out",
        parent.display()
    )))
}

/// The run files already in `dir` (see [`RUN_FILES`]).
pub fn existing_run_files(dir: &Path) -> Vec<&'static str> {
    RUN_FILES
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect()
}

/// Removes the files an earlier run wrote at the top of `dir` (the user asked to
/// overwrite it); any other file is left alone.
pub fn remove_run_files(dir: &Path) -> Result<()> {
    for f in existing_run_files(dir) {
        let path = dir.join(f);
        let removed = if f == "tensorboard" && path.is_dir() {
            remove_event_files(&path)
        } else if path.is_dir() {
            remove_epoch_checkpoints(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Removes TensorBoard event files (`*tfevents*`) under `dir`, then each folder
/// that this left empty: anything else there is the user's and stays.
fn remove_event_files(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            remove_event_files(&path)?;
        } else if kind.is_file() && entry.file_name().to_string_lossy().contains("tfevents") {
            std::fs::remove_file(&path)?;
        }
    }
    if std::fs::read_dir(dir)?.next().is_none() {
        std::fs::remove_dir(dir)?;
    }
    Ok(())
}

/// Removes `checkpoints/epoch-NN.safetensors` files, then the folder if that left it
/// empty.
fn remove_epoch_checkpoints(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("epoch-") && name.ends_with(".safetensors") {
            std::fs::remove_file(entry.path())?;
        }
    }
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_folders_and_locks() {
        let parent = tempfile::tempdir().unwrap();
        let a = create_unique(parent.path(), "run").unwrap();
        let b = create_unique(parent.path(), "run").unwrap();
        assert_eq!(a.dir(), parent.path().join("run"));
        assert_eq!(b.dir(), parent.path().join("run-2"));
        // A second lock on a held folder is refused (file locks conflict between
        // open file descriptions, also within one process).
        let e = lock(a.dir()).unwrap_err().to_string();
        assert!(e.contains("another scrawl process"), "{e}");
        assert!(e.contains(&std::process::id().to_string()), "{e}");
        drop(a);
        lock(&parent.path().join("run")).unwrap();
    }

    #[test]
    fn overwrite_removes_only_run_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "model.safetensors", "notes.txt"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("checkpoints")).unwrap();
        std::fs::write(dir.path().join("checkpoints/epoch-01.safetensors"), b"x").unwrap();
        std::fs::write(dir.path().join("checkpoints/mine.txt"), b"x").unwrap();
        assert_eq!(existing_run_files(dir.path()).len(), 3);
        remove_run_files(dir.path()).unwrap();
        assert!(dir.path().join("notes.txt").exists());
        assert!(dir.path().join("checkpoints/mine.txt").exists());
        assert!(!dir.path().join("checkpoints/epoch-01.safetensors").exists());
        assert!(!dir.path().join("model.safetensors").exists());
    }
}
