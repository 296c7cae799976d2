//! Untrusted PDF bytes through the whole signing preparation: open, then append an invisible
//! signature revision. Must never panic, hang or allocate without bound.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qz_pdf::fuzzing::open_and_prepare(data);
});
