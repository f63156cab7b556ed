//! `cargo fuzz run idx`: see [`scrawl::fuzz::fuzz_idx`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_idx(data));
