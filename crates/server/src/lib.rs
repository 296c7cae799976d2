//! Qianzhang's HTTP side: the platform (`/api/v1`, health, metrics), the PKI services (CRL,
//! OCSP, TSA, co-signing) and the background notification sender.

pub mod api;
pub mod app;
pub mod config;
pub mod credentials;
pub mod notify;
pub mod pki;
pub mod secrets;
pub mod web;
pub mod xlsx;
