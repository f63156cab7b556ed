//! docs/GUIDE.md cannot drift from what scrawl prints: `docs/guide.sh --quick` runs the
//! guide's commands (all but the long trainings and what needs their runs), and every
//! output the guide shows is compared with what the command printed, line for line,
//! with durations masked (and trailing blanks ignored). A training the quick run skips still has its model summary
//! checked against `scrawl summary`. A line of the guide starting with `... ` stands
//! for any number of lines.

use crate::common;

use std::path::Path;
use std::process::Command;

/// One `$ scrawl ...` line and the lines after it.
#[derive(Debug)]
struct Shown {
    command: String,
    output: Vec<String>,
}

/// The commands and outputs of the guide's code blocks.
fn guide_blocks(text: &str) -> Vec<Shown> {
    let mut shown: Vec<Shown> = Vec::new();
    let mut in_block = false;
    let mut current: Option<Shown> = None;
    for line in text.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            shown.extend(current.take());
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ scrawl ") {
            shown.extend(current.take());
            current = Some(Shown {
                command: cmd.to_string(),
                output: Vec::new(),
            });
        } else if let Some(c) = current.as_mut() {
            c.output.push(line.to_string());
        }
    }
    shown
}

/// What docs/guide.sh recorded: the command, its output, and `None` for a command
/// `--quick` skipped, else its exit status.
fn recorded(dir: &Path) -> Vec<(Shown, Option<i32>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let mut lines: Vec<String> = text.lines().map(String::from).collect();
            let command = lines.remove(0);
            let last = lines.pop().unwrap_or_default();
            let status = last.strip_prefix("rc=").map(|s| s.parse().unwrap());
            let command = command.strip_prefix("$ scrawl ").unwrap().to_string();
            (
                Shown {
                    command,
                    output: lines,
                },
                status,
            )
        })
        .collect()
}

/// Durations (`22.9s`, `495.8s`, `12ms`) replaced by `<time>`: they vary run to run.
fn mask_times(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            && (i == 0 || chars[i - 1].is_whitespace() || chars[i - 1] == '(');
        if starts_number {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let unit = if chars.get(j) == Some(&'s') {
                1
            } else if chars.get(j) == Some(&'m') && chars.get(j + 1) == Some(&'s') {
                2
            } else {
                0
            };
            let ends = chars.get(j + unit).is_none_or(|c| !c.is_alphanumeric());
            if unit > 0 && ends {
                out.push_str("<time>");
                i = j + unit;
                continue;
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Lines equal once durations are masked (and trailing blanks, which Markdown
/// editors strip, ignored).
fn same_line(expected: &str, actual: &str) -> bool {
    mask_times(expected.trim_end()) == mask_times(actual.trim_end())
}

/// Whether `actual` is `expected`, a `... ` line of `expected` matching any lines.
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e.starts_with("... ") => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| same_line(e, a) && matches(rest, more)),
    }
}

#[test]
fn masking_and_wildcards_do_what_the_comparison_needs() {
    assert_eq!(
        mask_times("Epoch 1/20 - 22.9s - loss: 1.6952 (495.8s of training), 12ms"),
        "Epoch 1/20 - <time> - loss: 1.6952 (<time> of training), <time>"
    );
    assert_eq!(mask_times("mlp-512s 3 images"), "mlp-512s 3 images");
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(matches(
        &v(&["a", "... any", "d"]),
        &v(&["a", "b", "c", "d"])
    ));
    assert!(matches(&v(&["a", "... any", "d"]), &v(&["a", "d"])));
    assert!(!matches(&v(&["a", "... any", "d"]), &v(&["a", "b"])));
    assert!(!matches(&v(&["a", "b"]), &v(&["a", "c"])));
}

#[test]
#[ignore = "full tier: runs docs/guide.sh --quick (writes the 60,000-image CSV exports)"]
fn the_guide_shows_what_scrawl_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("docs/GUIDE.md")).unwrap();
    let shown = guide_blocks(&guide);
    assert!(
        shown.len() >= 20,
        "only {} commands found in GUIDE.md",
        shown.len()
    );

    let tmp = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(root.join("docs/guide.sh"))
        .arg("--quick")
        .current_dir(tmp.path())
        .env("SCRAWL_BIN", env!("CARGO_BIN_EXE_scrawl"))
        .status()
        .unwrap();
    assert!(status.success());
    let runs = recorded(&tmp.path().join("guide-work/out"));

    let mut problems = Vec::new();
    let mut next = 0;
    let mut compared = 0;
    for s in &shown {
        let Some(found) = runs[next..]
            .iter()
            .position(|(r, _)| r.command == s.command)
        else {
            problems.push(format!(
                "GUIDE.md shows `scrawl {}`, which docs/guide.sh does not run (in this order)",
                s.command
            ));
            continue;
        };
        for (skipped, status) in &runs[next..next + found] {
            if status.is_some_and(|c| c != 0) {
                problems.push(format!(
                    "`scrawl {}` failed:\n{}",
                    skipped.command,
                    skipped.output.join("\n")
                ));
            }
        }
        let (run, status) = &runs[next + found];
        next += found + 1;
        match status {
            None if s.command.starts_with("train ") => {
                // Skipped by --quick: its model summary is still checked.
                let model = s
                    .command
                    .split_whitespace()
                    .skip_while(|w| *w != "--model")
                    .nth(1)
                    .unwrap();
                let o = Command::new(env!("CARGO_BIN_EXE_scrawl"))
                    .args(["summary", "--model", model])
                    .env("SCRAWL_DATA", common::mnist_dir())
                    .output()
                    .unwrap();
                let summary: Vec<String> = String::from_utf8(o.stdout)
                    .unwrap()
                    .lines()
                    .map(String::from)
                    .collect();
                let head: Vec<String> = s
                    .output
                    .iter()
                    .take_while(|l| !l.starts_with("Training on"))
                    .cloned()
                    .collect();
                if head != summary {
                    problems.push(format!(
                        "the summary GUIDE.md shows for `scrawl {}` differs from scrawl's:\n--- guide\n{}\n--- scrawl\n{}",
                        s.command,
                        head.join("\n"),
                        summary.join("\n")
                    ));
                }
                compared += 1;
            }
            None => {}
            Some(code) => {
                if *code != 0 {
                    problems.push(format!("`scrawl {}` failed (status {code})", s.command));
                }
                if !matches(&s.output, &run.output) {
                    problems.push(format!(
                        "`scrawl {}` prints otherwise than GUIDE.md shows:\n--- guide\n{}\n--- scrawl\n{}",
                        s.command,
                        s.output.join("\n"),
                        run.output.join("\n")
                    ));
                }
                compared += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(compared >= 15, "only {compared} outputs compared");
}
