//! Fuzz target: see [`tapegrad_fuzz::recipe`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapegrad_fuzz::recipe(data));
