//! `cargo fuzz run keras`: see [`scrawl::fuzz::fuzz_keras`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_keras(data));
