//! `cargo fuzz run model_file`: see [`scrawl::fuzz::fuzz_model_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_model_file(data));
