//! `cargo fuzz run checkpoint`: see [`scrawl::fuzz::fuzz_checkpoint`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_checkpoint(data));
