//! TensorBoard event files: a run with the TensorBoard callback writes records whose
//! framing and CRCs check, and whose scalars are history.csv's values (as f32).
//! `scripts/check_tensorboard.py` reads the same files with TensorBoard's own reader.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use scrawl::optim::OptimizerConfig;
use scrawl::run::{Folder, Run, RunOptions, RunSpec, TensorBoardSpec};
use scrawl::tensorboard::{Event, HParamsData, ValueKind, What, read_events};
use scrawl::train::Verbosity;

fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().contains("tfevents"))
        .collect();
    files.sort();
    files
}

fn events(dir: &Path) -> Vec<Event> {
    let files = event_files(dir);
    assert!(!files.is_empty(), "no event file in {}", dir.display());
    files.iter().flat_map(|f| read_events(f).unwrap()).collect()
}

/// Every scalar `tag` of `events`, by step.
fn scalars(events: &[Event], tag: &str) -> BTreeMap<i64, f32> {
    let mut out = BTreeMap::new();
    for e in events {
        if let Some(What::Summary(s)) = &e.what {
            for v in &s.value {
                if let (true, Some(ValueKind::Tensor(t))) = (v.tag == tag, &v.value) {
                    assert_eq!(t.float_val.len(), 1, "{tag} is not a scalar");
                    out.insert(e.step, t.float_val[0]);
                }
            }
        }
    }
    out
}

fn run_with_tensorboard(dir: &Path, update_freq: Option<u64>) -> scrawl::history::History {
    let m = common::mnist();
    let (train, test) = (m.train.take(1_000), m.test.take(300));
    let model = scrawl::presets::preset("Flatten Dense(32,relu) Dense(10,softmax)").unwrap();
    let mut spec = RunSpec::new(model, OptimizerConfig::adam(), 3, 100);
    spec.validation_freq = 2;
    spec.callbacks.tensorboard = Some(TensorBoardSpec {
        log_dir: None,
        update_freq,
    });
    let mut run = Run::create(spec, Folder::At(dir.to_path_buf())).unwrap();
    let opts = RunOptions {
        verbose: Some(Verbosity::Silent),
        ..Default::default()
    };
    let mut trained = run.fit(&train, Some(&test), opts).unwrap();
    run.finish(&mut trained, Some(&test)).unwrap();
    trained.history
}

#[test]
fn a_runs_event_files_hold_its_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let history = run_with_tensorboard(&dir, Some(4));
    let log = dir.join("tensorboard");

    let train = events(&log.join("train"));
    assert!(matches!(&train[0].what, Some(What::FileVersion(v)) if v == "brain.Event:2"));
    let (loss, acc, lr) = (
        scalars(&train, "epoch_loss"),
        scalars(&train, "epoch_accuracy"),
        scalars(&train, "epoch_learning_rate"),
    );
    let validation = events(&log.join("validation"));
    let (val_loss, val_acc) = (
        scalars(&validation, "epoch_loss"),
        scalars(&validation, "epoch_accuracy"),
    );
    assert_eq!(loss.len(), 3);
    for e in &history.epochs {
        let step = e.epoch as i64;
        assert_eq!(loss[&step], e.loss as f32);
        assert_eq!(acc[&step], e.accuracy as f32);
        assert_eq!(lr[&step], e.learning_rate);
        assert_eq!(val_loss.get(&step), e.val_loss.map(|v| v as f32).as_ref());
        assert_eq!(
            val_acc.get(&step),
            e.val_accuracy.map(|v| v as f32).as_ref()
        );
    }
    // Validated every second epoch only.
    assert_eq!(val_loss.keys().copied().collect::<Vec<_>>(), vec![2]);

    // 10 steps an epoch, 30 in all: the batch loss at steps 4, 8, ..., 28.
    let batches = scalars(&train, "batch_loss");
    assert_eq!(
        batches.keys().copied().collect::<Vec<_>>(),
        (4..=28).step_by(4).collect::<Vec<i64>>()
    );

    // A histogram of each weight tensor per epoch, counting every weight.
    let mut histograms = BTreeMap::<String, Vec<f64>>::new();
    for e in &train {
        if let Some(What::Summary(s)) = &e.what {
            for v in &s.value {
                if let Some(ValueKind::Histo(h)) = &v.value {
                    assert_eq!(h.bucket.iter().sum::<f64>(), h.num);
                    histograms.entry(v.tag.clone()).or_default().push(h.num);
                }
            }
        }
    }
    let expect: BTreeMap<String, Vec<f64>> = [
        ("dense/kernel", 784.0 * 32.0),
        ("dense/bias", 32.0),
        ("dense_1/kernel", 320.0),
        ("dense_1/bias", 10.0),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), vec![n; 3]))
    .collect();
    assert_eq!(histograms, expect);

    // The run's own records: settings, the mistakes gallery (a PNG), the end.
    let top = events(&log);
    let mut seen = Vec::new();
    for e in &top {
        let Some(What::Summary(s)) = &e.what else {
            continue;
        };
        for v in &s.value {
            seen.push(v.tag.clone());
            match (&v.value, &v.metadata) {
                (Some(ValueKind::Image(i)), _) => {
                    assert!(i.encoded_image_string.starts_with(b"\x89PNG\r\n\x1a\n"));
                    let png = image::load_from_memory(&i.encoded_image_string).unwrap();
                    assert_eq!(
                        (png.width() as i32, png.height() as i32),
                        (i.width, i.height)
                    );
                }
                (_, Some(m)) if m.plugin_data.as_ref().unwrap().plugin_name == "hparams" => {
                    use prost::Message;
                    let content = &m.plugin_data.as_ref().unwrap().content;
                    let data =
                        scrawl::tensorboard::HParamsPluginData::decode(&content[..]).unwrap();
                    if let Some(HParamsData::SessionStartInfo(s)) = data.data {
                        assert_eq!(s.group_name, "run");
                        assert_eq!(
                            s.hparams["batch_size"].kind,
                            Some(scrawl::tensorboard::Kind::Number(100.0))
                        );
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        seen,
        [
            "_hparams_/session_start_info",
            "mistakes",
            "_hparams_/session_end_info"
        ]
    );
}

#[test]
fn damaged_event_files_are_refused_with_the_record_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    run_with_tensorboard(&dir, None);
    let file = event_files(&dir.join("tensorboard").join("train")).remove(0);
    let good = std::fs::read(&file).unwrap();
    let n = read_events(&file).unwrap().len();
    assert!(n > 3);
    // Without update_freq there is no batch loss.
    assert!(scalars(&read_events(&file).unwrap(), "batch_loss").is_empty());

    // A flipped byte inside the second record's data.
    let first_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize + 16;
    let mut bad = good.clone();
    bad[first_len + 14] ^= 0x40;
    std::fs::write(&file, &bad).unwrap();
    let e = read_events(&file).unwrap_err().to_string();
    assert!(
        e.contains(&format!("data CRC of the record at byte {first_len}")),
        "{e}"
    );

    // A flipped byte in a length.
    let mut bad = good.clone();
    bad[first_len + 1] ^= 1;
    std::fs::write(&file, &bad).unwrap();
    let e = read_events(&file).unwrap_err().to_string();
    assert!(e.contains("length CRC"), "{e}");

    // Cut short inside the last record: the events before it.
    std::fs::write(&file, &good[..good.len() - 3]).unwrap();
    assert_eq!(read_events(&file).unwrap().len(), n - 1);
}

#[test]
fn train_tensorboard_flag_writes_where_asked_and_overwrite_clears_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let logs = tmp.path().join("logs");
    let train = |extra: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_scrawl"))
            .env("SCRAWL_DATA", common::mnist_dir())
            .args([
                "train", "--model", "mlp:16", "--limit", "500", "--epochs", "1", "--quiet",
            ])
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    train(&["--tensorboard", logs.to_str().unwrap()]);
    assert_eq!(event_files(&logs.join("train")).len(), 1);
    assert!(!out.join("tensorboard").exists());
    // Given bare: RUN/tensorboard. --overwrite replaces the run's event files, not
    // others'.
    std::fs::create_dir_all(out.join("tensorboard")).unwrap();
    std::fs::write(out.join("tensorboard").join("notes.txt"), "mine").unwrap();
    train(&["--tensorboard", "--overwrite"]);
    train(&["--tensorboard", "--overwrite"]);
    assert_eq!(event_files(&out.join("tensorboard").join("train")).len(), 1);
    assert!(out.join("tensorboard").join("notes.txt").is_file());
}
