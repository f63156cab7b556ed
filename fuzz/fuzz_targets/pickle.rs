//! `cargo fuzz run pickle`: see [`scrawl::fuzz::fuzz_pickle`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_pickle(data));
