//! The integration tests, as one test binary (linking one binary instead of one per
//! file saves most of a clean build's time). Each file is a module named for what it
//! covers; `cargo test --release NAME::` runs one. Tests marked
//! `#[ignore = "full tier: ..."]` are the full tier (`cargo test --release -- --ignored`).
//! `tests/no_alloc.rs` stays a binary of its own: it installs a counting allocator.

#[path = "../common/mod.rs"]
mod common;

mod augment;
mod browser;
mod callbacks;
mod cli;
mod convolution;
mod csv;
mod dlfs_convnets;
mod drawing;
mod errors;
mod examples;
mod fusion;
mod gradients;
mod guide;
mod hostile;
mod idx;
mod inference;
mod interop;
mod keras_config;
mod keras_import;
mod layering;
mod model_io;
mod onnx_import;
mod optimizers;
mod plots;
mod report;
mod resume;
mod runs;
mod serve;
mod serve_attacks;
mod split;
mod tensorboard;
mod training;
mod trust;
