//! Untrusted XLSX uploads (the internal tree import): read or refused, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = qz_server::xlsx::read_tree(data);
});
