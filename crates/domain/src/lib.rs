//! The platform's types and rules (DESIGN.md §3): who an account is, what an organization is,
//! which role may do what, and which state may follow which. Pure functions over plain values:
//! no database, no HTTP, no clock (callers pass `now`), so every rule is tested directly and the
//! server cannot forget one by handling a request differently.
//!
//! ```
//! use qz_domain::account::check_password;
//! assert!(check_password("correct horse 1").is_ok());
//! assert!(check_password("short1").is_err());
//! ```

pub mod access;
pub mod account;
pub mod flow;
pub mod grant;
pub mod identity;
pub mod org;
pub mod seal;

/// Errors of the rules: something the caller asked for is not allowed or not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input fails a format rule; the text says which and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// The actor may not do this (and may know the object exists).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The actor may not even learn whether the object exists.
    #[error("not found")]
    Hidden,
    /// The object is not in a state that allows the action.
    #[error("{0}")]
    State(String),
}

/// Result of a rule.
pub type Result<T> = std::result::Result<T, Error>;
