//! `cargo fuzz run csv`: see [`scrawl::fuzz::fuzz_csv`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_csv(data));
