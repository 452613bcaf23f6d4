//! Fuzz target: see [`tapegrad_fuzz::torch_state_dict`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapegrad_fuzz::torch_state_dict(data));
