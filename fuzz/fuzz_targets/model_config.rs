//! `cargo fuzz run model_config`: see [`scrawl::fuzz::fuzz_model_config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_model_config(data));
