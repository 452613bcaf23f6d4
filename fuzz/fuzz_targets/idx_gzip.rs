//! Fuzz target: see [`tapegrad_fuzz::idx_gzip`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapegrad_fuzz::idx_gzip(data));
