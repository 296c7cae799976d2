//! Per-client request limits on the authentication endpoints, in memory per instance (a
//! fixed one-minute window per key). Limits that must hold across instances (codes per
//! recipient, account lockout) live in the database instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::api::ApiError;

/// Counters per key and minute.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

impl RateLimiter {
    /// Counts a request for `key`; refuses once `per_minute` is reached within the minute.
    pub fn check(&self, key: &str, per_minute: u32) -> Result<(), ApiError> {
        let minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            / 60;
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(key.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= per_minute {
            return Err(ApiError::rate_limited(
                "too many attempts from this address; wait a minute",
            ));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key() {
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert!(limiter.check("login:1.2.3.4", 3).is_ok());
        }
        assert!(limiter.check("login:1.2.3.4", 3).is_err());
        assert!(limiter.check("login:5.6.7.8", 3).is_ok());
    }
}
