//! Untrusted PDF bytes through the verifier: a report or an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = qz_verify::verify(data, &qz_verify::VerifyOptions::default());
});
