//! Real-name verification (实名认证): the format rules a name and a resident ID number must
//! pass before any provider is asked, and the states a check goes through.

use crate::{Error, Result};

/// Where a person's identity check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityStatus {
    /// Never checked.
    Unverified,
    /// Waiting for an outside step (e.g. a face check) to report back.
    Pending,
    /// Checked and matched.
    Verified,
    /// Checked and did not match.
    Rejected,
}

impl IdentityStatus {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityStatus::Unverified => "unverified",
            IdentityStatus::Pending => "pending",
            IdentityStatus::Verified => "verified",
            IdentityStatus::Rejected => "rejected",
        }
    }

    /// Parses the stable name.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "unverified" => IdentityStatus::Unverified,
            "pending" => IdentityStatus::Pending,
            "verified" => IdentityStatus::Verified,
            "rejected" => IdentityStatus::Rejected,
            _ => return Err(Error::Invalid(format!("unknown identity status {text:?}"))),
        })
    }

    /// Whether a new check may start: not while one is pending, not once verified (a verified
    /// identity is final; changing it is an admin matter).
    pub fn may_submit(self) -> Result<()> {
        match self {
            IdentityStatus::Unverified | IdentityStatus::Rejected => Ok(()),
            IdentityStatus::Pending => Err(Error::State(
                "an identity check is already waiting for its result".into(),
            )),
            IdentityStatus::Verified => Err(Error::State("the identity is already verified".into())),
        }
    }
}

/// What an identity provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderOutcome {
    /// Name and number belong together.
    Match,
    /// They do not; the reason is shown to the user.
    Mismatch(String),
    /// An outside step must finish first; the reference identifies it in the callback.
    Pending(String),
}

/// A person's legal name: 2–30 characters, CJK or letters, with the middle dot of minority and
/// foreign names (·) and spaces between Latin words.
pub fn check_real_name(name: &str) -> Result<()> {
    let count = name.chars().count();
    let allowed = |c: char| c.is_alphabetic() || c == '·' || c == '•' || c == ' ';
    if !(2..=30).contains(&count)
        || !name.chars().all(allowed)
        || name.starts_with(' ')
        || name.ends_with(' ')
    {
        return Err(Error::Invalid(format!(
            "{name:?} is not a legal name: 2 to 30 letters or Chinese characters"
        )));
    }
    Ok(())
}

/// A resident ID number: 18 characters, a real birth date, the GB 11643 check digit. Returns
/// the number normalized (check character upper case).
pub fn check_id_number(id: &str) -> Result<String> {
    let normalized = id.trim().to_ascii_uppercase();
    qz_pki::ca::check_id_number(&normalized).map_err(|_| {
        Error::Invalid(format!(
            "{id:?} is not a valid resident ID number (18 characters, birth date, check digit)"
        ))
    })?;
    let year: i32 = normalized[6..10].parse().unwrap_or(0);
    let month: u32 = normalized[10..12].parse().unwrap_or(0);
    let day: u32 = normalized[12..14].parse().unwrap_or(0);
    if day > days_in_month(year, month) {
        return Err(Error::Invalid(format!(
            "{id:?} carries a birth date that does not exist"
        )));
    }
    Ok(normalized)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The form shown back to users and admins: first four and last four characters only.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["张三", "欧阳娜娜", "阿卜杜·热合曼", "John Smith"] {
            assert!(check_real_name(good).is_ok(), "{good}");
        }
        for bad in ["张", "张3", " 张三", "张三<script>", ""] {
            assert!(check_real_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn id_numbers() {
        assert_eq!(
            check_id_number("11010519491231002x"),
            Ok("11010519491231002X".into())
        );
        assert!(check_id_number("110105194912310021").is_err()); // wrong check digit
        assert!(check_id_number("1101051949123100").is_err());
    }

    #[test]
    fn impossible_birth_dates_are_refused() {
        // 1949-02-30 with a correct check digit.
        let mut base = String::from("11010519490230001");
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = base
            .bytes()
            .zip(weights)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        base.push(b"10X98765432"[(sum % 11) as usize] as char);
        assert!(check_id_number(&base).is_err());
    }

    #[test]
    fn masking() {
        assert_eq!(mask_id_number("11010519491231002X"), "1101**********002X");
        assert_eq!(mask_id_number("1234"), "****");
    }

    #[test]
    fn submission_states() {
        assert!(IdentityStatus::Unverified.may_submit().is_ok());
        assert!(IdentityStatus::Rejected.may_submit().is_ok());
        assert!(IdentityStatus::Pending.may_submit().is_err());
        assert!(IdentityStatus::Verified.may_submit().is_err());
    }
}
