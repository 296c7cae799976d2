//! Accounts: phone numbers, passwords, verification codes and the lockout rule.

use crate::{Error, Result};

/// A mainland mobile number: 11 digits starting with 1[3-9].
pub fn check_phone(phone: &str) -> Result<()> {
    let bytes = phone.as_bytes();
    if bytes.len() == 11
        && bytes[0] == b'1'
        && (b'3'..=b'9').contains(&bytes[1])
        && bytes.iter().all(u8::is_ascii_digit)
    {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{phone:?} is not a mobile number: 11 digits starting with 13–19"
        )))
    }
}

/// An e-mail address: one `@`, something on both sides, a dot in the domain, no spaces.
pub fn check_email(email: &str) -> Result<()> {
    let bad = || Error::Invalid(format!("{email:?} is not an e-mail address"));
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || email.len() > 254
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(())
}

/// Password policy: 8–64 characters with at least one letter and one digit. Long passphrases
/// are welcome; the upper bound keeps Argon2 input bounded.
pub fn check_password(password: &str) -> Result<()> {
    let length = password.chars().count();
    if !(8..=64).contains(&length) {
        return Err(Error::Invalid("the password must have 8 to 64 characters".into()));
    }
    if !password.chars().any(|c| c.is_ascii_digit()) || !password.chars().any(char::is_alphabetic) {
        return Err(Error::Invalid(
            "the password must contain letters and digits".into(),
        ));
    }
    Ok(())
}

/// A display name: 1–50 characters, no control characters.
pub fn check_display_name(name: &str) -> Result<()> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 50 || name.chars().any(char::is_control) {
        return Err(Error::Invalid("the name must have 1 to 50 characters".into()));
    }
    Ok(())
}

/// What a one-time code is for; a code for one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodePurpose {
    /// Registering a new account.
    Register,
    /// Logging in without the password.
    Login,
    /// Resetting a forgotten password.
    ResetPassword,
    /// Proving a new phone number.
    ChangePhone,
    /// Proving a new e-mail address.
    ChangeEmail,
    /// Confirming a signature with a hosted certificate, or enabling auto-sign (DESIGN §5: the
    /// SMS code is the signing intent).
    Sign,
}

impl CodePurpose {
    /// Stable name (database, API).
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::Register => "register",
            CodePurpose::Login => "login",
            CodePurpose::ResetPassword => "reset_password",
            CodePurpose::ChangePhone => "change_phone",
            CodePurpose::ChangeEmail => "change_email",
            CodePurpose::Sign => "sign",
        }
    }

    /// Parses the stable name.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "register" => CodePurpose::Register,
            "login" => CodePurpose::Login,
            "reset_password" => CodePurpose::ResetPassword,
            "change_phone" => CodePurpose::ChangePhone,
            "change_email" => CodePurpose::ChangeEmail,
            "sign" => CodePurpose::Sign,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown code purpose {text:?}: register, login, reset_password, change_phone, change_email or sign"
                )));
            }
        })
    }

    /// Whether the code goes by e-mail rather than SMS.
    pub fn by_email(self) -> bool {
        self == CodePurpose::ChangeEmail
    }
}

/// Limits on one-time codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePolicy {
    /// Seconds a code stays valid.
    pub ttl: i64,
    /// Wrong guesses before the code is void.
    pub max_attempts: i64,
    /// Seconds between two codes for the same purpose to one recipient.
    pub resend_after: i64,
    /// Codes per recipient per 24 hours.
    pub per_day: i64,
}

impl Default for CodePolicy {
    fn default() -> Self {
        CodePolicy {
            ttl: 300,
            max_attempts: 5,
            resend_after: 60,
            per_day: 10,
        }
    }
}

impl CodePolicy {
    /// Whether another code may go to a recipient who got `sent_last_day` codes, the latest at
    /// `last_sent` (Unix seconds).
    pub fn may_send(&self, now: i64, last_sent: Option<i64>, sent_last_day: i64) -> Result<()> {
        if let Some(last) = last_sent
            && now - last < self.resend_after
        {
            return Err(Error::Forbidden(
                "a code for this was sent to this recipient less than a minute ago",
            ));
        }
        if sent_last_day >= self.per_day {
            return Err(Error::Forbidden(
                "too many codes were sent to this recipient today",
            ));
        }
        Ok(())
    }
}

/// Account lockout after repeated wrong passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account.
    pub max_failures: i64,
    /// Seconds the account stays locked.
    pub lock_for: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            lock_for: 15 * 60,
        }
    }
}

impl LockoutPolicy {
    /// Whether a login may be tried now.
    pub fn check(&self, now: i64, locked_until: i64) -> Result<()> {
        if now < locked_until {
            Err(Error::Forbidden(
                "the account is locked after repeated failures; try again later or reset the password",
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        assert!(check_phone("13800138000").is_ok());
        for bad in ["12800138000", "1380013800", "138001380000", "1380013800a", ""] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(check_email("zhang.san@example.edu.cn").is_ok());
        for bad in [
            "", "a", "a@b", "@b.cn", "a@.cn", "a b@c.cn", "a@b@c.cn", "a@b.cn.",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("abcdefg1").is_ok());
        assert!(check_password("密码密码密码密码1").is_ok());
        assert!(check_password("abcdefgh").is_err());
        assert!(check_password("12345678").is_err());
        assert!(check_password("abc1").is_err());
        assert!(check_password(&"a1".repeat(33)).is_err());
    }

    #[test]
    fn code_purposes_round_trip() {
        for p in [
            CodePurpose::Register,
            CodePurpose::Login,
            CodePurpose::ResetPassword,
            CodePurpose::ChangePhone,
            CodePurpose::ChangeEmail,
        ] {
            assert_eq!(CodePurpose::parse(p.as_str()), Ok(p));
        }
        assert!(CodePurpose::parse("other").is_err());
    }

    #[test]
    fn code_limits() {
        let policy = CodePolicy::default();
        assert!(policy.may_send(1000, None, 0).is_ok());
        assert!(policy.may_send(1000, Some(990), 1).is_err());
        assert!(policy.may_send(1000, Some(900), 1).is_ok());
        assert!(policy.may_send(1000, Some(100), 10).is_err());
    }

    #[test]
    fn lockout() {
        let policy = LockoutPolicy::default();
        assert!(policy.check(999, 1000).is_err());
        assert!(policy.check(1000, 1000).is_ok());
    }
}
