//! Fuzz target: see [`tapegrad_fuzz::cifar`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapegrad_fuzz::cifar(data));
