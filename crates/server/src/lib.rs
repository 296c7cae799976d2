//! Qianzhang's HTTP side: the platform server (`qz serve`: health, readiness, metrics, and the
//! API as it grows) and the PKI services a CA needs on the network (CRLs, CA certificates,
//! OCSP, RFC 3161 timestamps, co-signing), which `qz pki serve` also runs on their own.

pub mod app;
pub mod pki;
