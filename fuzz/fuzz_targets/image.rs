//! `cargo fuzz run image`: see [`scrawl::fuzz::fuzz_image`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_image(data));
