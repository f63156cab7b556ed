//! `cargo fuzz run template`: see [`scrawl::fuzz::fuzz_template`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_template(data));
