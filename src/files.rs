//! Reading and writing files safely: the bottom of the library, imported by every
//! module that touches the disk and importing nothing of scrawl's but its error type.
//!
//! - **Reading** goes through [`open_regular`] / [`read_limited`]: only regular files
//!   are opened (a FIFO would block forever, `/dev/zero` never ends), and no read takes
//!   more than the caller's limit, whatever the file's size says, since a file can grow
//!   while it is read.
//! - **Writing** goes through [`write_atomic`]: a temporary file beside the target,
//!   flushed to disk, then renamed over it, so a crash mid-save leaves the old file
//!   whole. The temporary files that a killed process left behind (`.NAME.PID.tmp`,
//!   whose PID is no longer running) are removed the first time this process writes
//!   into that folder.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Opens `path` for reading if it is a regular file (symbolic links followed).
///
/// A FIFO, a socket or a device is refused *before* it is opened: opening a FIFO with
/// no writer blocks forever, and a device such as `/dev/zero` never ends.
pub fn open_regular(path: &Path) -> Result<std::fs::File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::format(path, "is a folder, not a file"));
    }
    if !meta.is_file() {
        return Err(Error::format(
            path,
            "is not a regular file (a pipe, socket or device); scrawl reads only files",
        ));
    }
    std::fs::File::open(path).map_err(|e| Error::io(path, e))
}

/// Reads the regular file `path` whole, refusing it once it holds more than `limit`
/// bytes; `what` names the kind of file in the message ("a model file").
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let too_big = || {
        Error::format(
            path,
            format!(
                "larger than the {} scrawl reads as {what}; refusing",
                human_bytes(limit)
            ),
        )
    };
    if len > limit {
        return Err(too_big());
    }
    let mut out = Vec::with_capacity(len as usize);
    file.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    if out.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(out)
}

/// Reads the regular file `path` as UTF-8 text of at most `limit` bytes.
pub fn read_text_limited(path: &Path, limit: u64, what: &str) -> Result<String> {
    let bytes = read_limited(path, limit, what)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::format(
            path,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// `n` bytes as "512 MiB", "3.5 KiB" or "17 bytes".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::config(format!("{} is not a file path", path.display())))?;
    if path.is_dir() {
        return Err(Error::format(
            path,
            "is a folder: give a file path inside it instead",
        ));
    }
    remove_stale_temporaries(dir);
    let tmp = dir.join(temporary_name(&file_name.to_string_lossy()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The temporary name [`write_atomic`] writes `name` under: `.NAME.PID.tmp`.
fn temporary_name(name: &str) -> String {
    format!(".{name}.{}.tmp", std::process::id())
}

/// The process id in a temporary file name `.NAME.PID.tmp`, if it is one.
fn temporary_owner(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, pid) = inner.rsplit_once('.')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is still running (on systems where that cannot be asked,
/// every process is taken to be alive, so nothing is removed).
fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // Without /proc (a sandbox) nothing can be known: take it to be alive.
        !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        true
    }
}

/// Removes, once per folder per process, the `.NAME.PID.tmp` files that processes no
/// longer running left in `dir` (a `kill -9` during a save). Files of live processes
/// (another scrawl saving right now) and every other file are left alone.
pub fn remove_stale_temporaries(dir: &Path) {
    static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if !swept.get_or_insert_with(HashSet::new).insert(key) {
            return;
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temporary_owner(&name.to_string_lossy()) else {
            continue;
        };
        if pid != me && !process_alive(pid) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// At most `max` characters of `text` for an error message, with how much was left
/// out: a message quoting a 5 MB number or 200,000 names must stay one short line.
pub fn clip(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}... ({count} characters in all)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_round_trip() {
        let name = temporary_name("model.safetensors");
        assert_eq!(temporary_owner(&name), Some(std::process::id()));
        assert_eq!(temporary_owner(".model.safetensors.tmp"), None);
        assert_eq!(temporary_owner("model.123.tmp"), None);
        assert_eq!(temporary_owner(".x.12a.tmp"), None);
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long() {
        assert_eq!(clip("abc", 5), "abc");
        let long = "9".repeat(1000);
        let c = clip(&long, 10);
        assert!(c.starts_with("9999999999..."));
        assert!(c.ends_with("(1000 characters in all)"));
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(17), "17 bytes");
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(3584), "3.5 KiB");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // PID 4194303 is above Linux's default pid_max: never a live process.
        let dead = dir.path().join(".model.safetensors.4194303.tmp");
        let live = dir
            .path()
            .join(format!(".model.safetensors.{}.tmp", std::process::id()));
        let mine = dir.path().join("notes.4194303.tmp");
        for p in [&dead, &live, &mine] {
            std::fs::write(p, b"x").unwrap();
        }
        write_atomic(&dir.path().join("a.txt"), b"hello").unwrap();
        assert!(!dead.exists(), "a dead process's temporary file stays");
        assert!(live.exists(), "this process's temporary file was removed");
        assert!(mine.exists(), "a file of another name was removed");
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"hello");
    }
}
