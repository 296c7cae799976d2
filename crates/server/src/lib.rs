//! Qianzhang's HTTP side. Today: the PKI services a CA needs on the network (CRLs, CA
//! certificates, OCSP, RFC 3161 timestamps), mounted by `qz pki serve` and, later, by the
//! platform server under the same paths.

pub mod pki;
