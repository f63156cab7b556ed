//! Nothing to use: this crate holds only `tests/tract.rs`, which runs the ONNX files
//! scrawl exports in tract (see the test's documentation).
