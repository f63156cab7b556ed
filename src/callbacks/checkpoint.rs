//! `ModelCheckpoint`: save the model after an epoch, every time or only when the
//! monitored metric improves, to a path that may name the epoch and its metrics.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;

use super::{Callback, CallbackState, Control, EpochEnd, Mode, Monitor};
use crate::error::{Error, Result};
use crate::history::EpochLog;
use crate::model::Sequential;

/// Keras's `ModelCheckpoint(filepath, monitor, mode, save_best_only)`.
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    template: String,
    monitor: Monitor,
    save_best_only: bool,
    info: BTreeMap<String, serde_json::Value>,
    /// The last file written.
    pub last_saved: Option<PathBuf>,
}

impl ModelCheckpoint {
    /// Saves to `filepath`, a template such as `model/mnist-{epoch:02d}-{val_loss:.4f}.safetensors`
    /// (Python's format syntax for `epoch`, `loss`, `accuracy`, `val_loss`, `val_accuracy`).
    pub fn new(filepath: &str, monitor: &str, mode: Mode, save_best_only: bool) -> Result<Self> {
        // Validate the template now rather than after the first hour of training.
        let probe = EpochLog {
            epoch: 1,
            loss: 0.5,
            accuracy: 0.5,
            val_loss: Some(0.5),
            val_accuracy: Some(0.5),
            learning_rate: 0.001,
            seconds: 1.0,
        };
        format_template(filepath, &probe)?;
        Ok(ModelCheckpoint {
            template: filepath.to_string(),
            monitor: Monitor::new(monitor, mode, 0.0)?,
            save_best_only,
            info: BTreeMap::new(),
            last_saved: None,
        })
    }

    /// Facts stored in each saved file's metadata (class names, the data set...).
    pub fn with_info(mut self, info: BTreeMap<String, serde_json::Value>) -> Self {
        self.info = info;
        self
    }
}

impl Callback for ModelCheckpoint {
    fn name(&self) -> &'static str {
        "model_checkpoint"
    }

    fn on_epoch_end(&mut self, model: &mut Sequential, end: &mut EpochEnd<'_>) -> Result<Control> {
        let epoch = end.log.epoch;
        let Some(value) = self.monitor.value(end, "ModelCheckpoint")? else {
            end.say(format!(
                "Epoch {epoch}: not validated (validation_freq), no checkpoint"
            ));
            return Ok(Control::Continue);
        };
        let path = PathBuf::from(format_template(&self.template, end.log)?);
        if self.save_best_only {
            if !self.monitor.improves(value) {
                end.say(format!(
                    "Epoch {epoch}: {} did not improve from {}",
                    self.monitor.name,
                    self.monitor.best_text()
                ));
                return Ok(Control::Continue);
            }
            end.say(format!(
                "Epoch {epoch}: {} improved from {} to {value:.4}, saving model to {}",
                self.monitor.name,
                self.monitor.best_text(),
                path.display()
            ));
            self.monitor.best = Some(value);
        } else {
            end.say(format!("Epoch {epoch}: saving model to {}", path.display()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut info = self.info.clone();
        info.insert("epoch".into(), json!(epoch));
        for name in super::METRICS {
            if let Some(v) = end.log.metric(name) {
                info.insert(name.into(), json!(v));
            }
        }
        model.save_with_info(&path, &info)?;
        self.last_saved = Some(path);
        Ok(Control::Continue)
    }

    fn state(&self) -> CallbackState {
        CallbackState {
            meta: json!({"best": self.monitor.best, "last_saved": self.last_saved}),
            tensors: Vec::new(),
        }
    }

    fn restore(&mut self, state: CallbackState) -> Result<()> {
        self.monitor.best = state.meta["best"].as_f64();
        self.last_saved = state.meta["last_saved"].as_str().map(PathBuf::from);
        Ok(())
    }
}

/// Fills a Keras file-path template: `{name}` or `{name:SPEC}` with SPEC one of
/// Python's `d` (`02d`, `3d`), `f` (`.4f`) or `e` (`.2e`) forms; `{{` and `}}` are
/// literal braces.
pub fn format_template(template: &str, log: &EpochLog) -> Result<String> {
    let bad = |msg: String| Error::config(format!("checkpoint path '{template}': {msg}"));
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(bad("a '}' without its '{'".into())),
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => field.push(ch),
                        None => return Err(bad("a '{' is never closed".into())),
                    }
                }
                let (name, spec) = field.split_once(':').unwrap_or((&field, ""));
                let value = if name == "epoch" {
                    log.epoch as f64
                } else {
                    match log.metric(name) {
                        Some(v) => v,
                        None if super::METRICS.contains(&name) => {
                            return Err(bad(format!(
                                "it names {{{name}}} but there is no validation data"
                            )));
                        }
                        None => {
                            return Err(bad(format!(
                                "unknown field {{{name}}}: use epoch, {}",
                                super::METRICS.join(", ")
                            )));
                        }
                    }
                };
                out.push_str(&format_number(value, spec).map_err(bad)?);
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Files already on disk that `template` could write over: those in its folder whose
/// names fit its file-name part, each `{field}` standing for the text a number
/// formats to (digits, sign, point, exponent, `inf`, `nan`, padding spaces). A
/// template whose folder part holds a field is not searched (nothing is returned).
/// Sorted, so that a message names the same file every time.
pub fn files_a_template_may_replace(template: &str) -> Vec<PathBuf> {
    let path = std::path::Path::new(template);
    let (Some(name), dir) = (path.file_name().and_then(|n| n.to_str()), path.parent()) else {
        return Vec::new();
    };
    let dir = dir
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if dir.to_string_lossy().contains('{') {
        return Vec::new();
    }
    let literals = literal_runs(name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| fits(n, &literals)))
        .map(|e| dir.join(e.file_name()))
        .collect();
    found.sort();
    found
}

/// The literal text of a template between its fields, braces unescaped: one more
/// piece than there are fields.
fn literal_runs(template: &str) -> Vec<String> {
    let mut runs = vec![String::new()];
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                runs.last_mut().expect("never empty").push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                runs.last_mut().expect("never empty").push('}');
            }
            '{' => {
                chars.by_ref().take_while(|&ch| ch != '}').for_each(drop);
                runs.push(String::new());
            }
            c => runs.last_mut().expect("never empty").push(c),
        }
    }
    runs
}

/// Whether `name` is `literals` joined by texts a formatted number could be.
fn fits(name: &str, literals: &[String]) -> bool {
    let number = |s: &str| !s.is_empty() && s.chars().all(|c| "0123456789.+-eEinfa ".contains(c));
    let (first, rest) = literals.split_first().expect("never empty");
    let Some(mut tail) = name.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for lit in middle {
        // The shortest field that is followed by the next literal.
        let Some(at) = tail
            .char_indices()
            .skip(1)
            .map(|(i, _)| i)
            .find(|&i| tail[i..].starts_with(lit.as_str()))
        else {
            return false;
        };
        if !number(&tail[..at]) {
            return false;
        }
        tail = &tail[at + lit.len()..];
    }
    tail.strip_suffix(last.as_str()).is_some_and(number)
}

/// Formats `v` with a Python format spec (`02d`, `.4f`, `.2e`, or empty).
/// The widest field and longest precision a path template may ask for.
const MAX_FORMAT_WIDTH: usize = 64;

pub(crate) fn format_number(v: f64, spec: &str) -> std::result::Result<String, String> {
    if spec.is_empty() {
        return Ok(if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        });
    }
    // Split before the last character, not byte: the spec may be any text.
    let last = spec.char_indices().last().map_or(0, |(i, _)| i);
    let (body, kind) = spec.split_at(last);
    let zero = body.starts_with('0');
    let (width, precision) = match body.split_once('.') {
        Some((w, p)) => (w, Some(p)),
        None => (body, None),
    };
    let width: usize = if width.is_empty() {
        0
    } else {
        width
            .parse()
            .map_err(|_| format!("bad width in ':{spec}'"))?
    };
    let precision: Option<usize> = match precision {
        Some(p) => Some(
            p.parse()
                .map_err(|_| format!("bad precision in ':{spec}'"))?,
        ),
        None => None,
    };
    // A file name has no use for more: and Rust's formatter panics on widths and
    // precisions past u16 ("Formatting argument out of range").
    if width > MAX_FORMAT_WIDTH || precision.is_some_and(|p| p > MAX_FORMAT_WIDTH) {
        return Err(format!(
            "width and precision in ':{}' must be at most {MAX_FORMAT_WIDTH}",
            crate::files::clip(spec, 40)
        ));
    }
    let text = match kind {
        "d" => format!("{}", v.round() as i64),
        "f" => format!("{:.*}", precision.unwrap_or(6), v),
        "e" => {
            // Python writes 1.23e-04; Rust writes 1.23e-4.
            let s = format!("{:.*e}", precision.unwrap_or(6), v);
            match s.split_once('e') {
                Some((m, e)) => {
                    let (sign, digits) = match e.strip_prefix('-') {
                        Some(d) => ('-', d),
                        None => ('+', e),
                    };
                    format!("{m}e{sign}{digits:0>2}")
                }
                None => s,
            }
        }
        _ => return Err(format!("unsupported format ':{spec}' (use d, f or e)")),
    };
    Ok(if zero {
        format!("{text:0>width$}")
    } else {
        format!("{text:>width$}")
    })
}

#[cfg(test)]
mod tests {
    use super::{files_a_template_may_replace, fits, literal_runs};

    #[test]
    fn a_template_matches_the_names_it_could_write() {
        let lits = literal_runs("m-{epoch:02d}-{val_loss:.4f}.safetensors");
        assert_eq!(lits, ["m-", "-", ".safetensors"]);
        assert_eq!(literal_runs("a{{b}}c.safetensors"), ["a{b}c.safetensors"]);
        for name in [
            "m-03-0.1234.safetensors",
            "m-12-1.5e-05.safetensors",
            "m- 3-inf.safetensors",
        ] {
            assert!(fits(name, &lits), "{name}");
        }
        for name in [
            "m-final-0.1234.safetensors",
            "m--0.1.safetensors",
            "m-03-.safetensors",
            "m-03-0.1234.safetensors.bak",
            "x-03-0.1234.safetensors",
        ] {
            assert!(!fits(name, &lits), "{name}");
        }
        // No field: only the name itself.
        let fixed = literal_runs("best.safetensors");
        assert!(fits("best.safetensors", &fixed) && !fits("best2.safetensors", &fixed));
    }

    #[test]
    fn files_on_disk_that_a_template_could_replace() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "m-01.safetensors",
            "m-02.safetensors",
            "m-best.safetensors",
            "n-01.safetensors",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let template = dir.path().join("m-{epoch:02d}.safetensors");
        let found = files_a_template_may_replace(template.to_str().unwrap());
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["m-01.safetensors", "m-02.safetensors"]);
        // A folder that is not there, or one named by a field, holds nothing.
        let missing = dir.path().join("none/m-{epoch}.safetensors");
        assert!(files_a_template_may_replace(missing.to_str().unwrap()).is_empty());
        let by_field = dir.path().join("{epoch}/m.safetensors");
        assert!(files_a_template_may_replace(by_field.to_str().unwrap()).is_empty());
    }
}
