//! `cargo fuzz run npz`: see [`scrawl::fuzz::fuzz_npz`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_npz(data));
