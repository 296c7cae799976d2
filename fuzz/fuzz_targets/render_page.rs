//! Untrusted PDF bytes through the page renderer behind the page images (hayro): must never
//! panic, hang or allocate without bound.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qz_pdf::fuzzing::render_first_page(data);
});
