//! No module imports one above it: the library's top-level modules sit in levels, and
//! a file may name (`crate::x`) only modules of lower levels. A new dependency that
//! breaks the order fails here, naming the file and the import, before it becomes a
//! tangle. docs/ARCHITECTURE.md draws the same levels.

use std::path::Path;

/// Bottom to top. Modules on one level do not import each other.
const LEVELS: &[&[&str]] = &[
    &["error"],
    &["files", "tensorboard"],
    &["tensor", "kernels", "activations", "data"],
    &["loss", "layers"],
    &["optim"],
    &["model"],
    &["stack", "interop", "history", "metrics"],
    &["presets", "callbacks", "serve"],
    &["train", "plot"],
    &["report"],
    &["run", "sweep", "bench"],
    &["fuzz"],
];

fn level(module: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut seen = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .replace(".rs", "");
        if ["lib", "main", "cli"].contains(&top.as_str()) {
            continue; // the crate root and the binary sit above everything
        }
        let Some(own) = level(&top) else {
            wrong.push(format!("src/{top} is not in LEVELS: give it a level"));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for part in line.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name == top || name.is_empty() {
                    continue;
                }
                seen += 1;
                match level(&name) {
                    Some(l) if l < own => {}
                    Some(_) => wrong.push(format!(
                        "{}:{}: {top} imports {name}, which is not below it",
                        rel.display(),
                        n + 1
                    )),
                    None if ["Error", "Result"].contains(&name.as_str()) => {}
                    None => wrong.push(format!(
                        "{}:{}: crate::{name} is not in LEVELS",
                        rel.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(
        seen > 100,
        "only {seen} imports found: is the scan reading src/?"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
