//! Untrusted OCSP and timestamp requests: the responders answer (with an error status when the
//! request is bad) and never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    qz_pki::fuzzing::respond_to_requests(data);
});
