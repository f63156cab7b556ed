//! `cargo fuzz run api_predict`: see [`scrawl::fuzz::fuzz_api_predict`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrawl::fuzz::fuzz_api_predict(data));
