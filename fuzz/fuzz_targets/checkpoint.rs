//! Fuzz target: see [`tapegrad_fuzz::checkpoint`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapegrad_fuzz::checkpoint(data));
