//! Untrusted signature pictures (uploads and phone captures): cleaned or refused, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = qz_seal::handwriting::clean(data, qz_seal::handwriting::Ink::Black);
});
