//! `cargo fuzz run onnx`: see [`scrawl::fuzz::fuzz_onnx`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_onnx(data));
