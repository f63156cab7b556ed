//! `cargo fuzz run tfevents`: see [`scrawl::fuzz::fuzz_tfevents`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_tfevents(data));
