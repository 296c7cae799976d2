//! Grant requests (用印申请, S 5.1) and auto-sign grants (自动签署授权, W 5).

use crate::{Error, Result};

/// Where a grant request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantRequestStatus {
    /// Waiting for the department head.
    Pending,
    /// Approved: a grant was created.
    Approved,
    /// Rejected with a reason.
    Rejected,
    /// Withdrawn by the applicant.
    Withdrawn,
}

/// What someone does to a grant request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRequestAction {
    /// The approver approves.
    Approve,
    /// The approver rejects.
    Reject,
    /// The applicant withdraws.
    Withdraw,
}

impl GrantRequestStatus {
    /// Stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantRequestStatus::Pending => "pending",
            GrantRequestStatus::Approved => "approved",
            GrantRequestStatus::Rejected => "rejected",
            GrantRequestStatus::Withdrawn => "withdrawn",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "pending" => GrantRequestStatus::Pending,
            "approved" => GrantRequestStatus::Approved,
            "rejected" => GrantRequestStatus::Rejected,
            "withdrawn" => GrantRequestStatus::Withdrawn,
            other => return Err(Error::Invalid(format!("unknown grant request status {other:?}"))),
        })
    }

    /// The status after `action`; only pending requests move.
    pub fn after(self, action: GrantRequestAction) -> Result<Self> {
        if self != GrantRequestStatus::Pending {
            return Err(Error::State(format!("the request is already {}", self.as_str())));
        }
        Ok(match action {
            GrantRequestAction::Approve => GrantRequestStatus::Approved,
            GrantRequestAction::Reject => GrantRequestStatus::Rejected,
            GrantRequestAction::Withdraw => GrantRequestStatus::Withdrawn,
        })
    }
}

/// Default auto-sign window: 24 hours (W 5).
pub const AUTOSIGN_DEFAULT_SECONDS: i64 = 24 * 3600;
/// Longest auto-sign window: 180 days (W 5).
pub const AUTOSIGN_MAX_SECONDS: i64 = 180 * 86_400;

/// The auto-sign window for a requested number of hours (`None`: the default).
pub fn autosign_window(hours: Option<i64>) -> Result<i64> {
    match hours {
        None => Ok(AUTOSIGN_DEFAULT_SECONDS),
        Some(h) if h >= 1 && h.saturating_mul(3600) <= AUTOSIGN_MAX_SECONDS => Ok(h * 3600),
        Some(_) => Err(Error::Invalid(
            "auto-sign lasts from 1 hour to 180 days (4320 hours)".into(),
        )),
    }
}

/// An auto-sign grant as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoSignRef {
    /// Grant id.
    pub id: String,
    /// The person who enabled it.
    pub user_id: String,
    /// Unix seconds it started.
    pub not_before: i64,
    /// Unix seconds it ends.
    pub not_after: i64,
    /// Unix seconds of revocation.
    pub revoked_at: Option<i64>,
}

impl AutoSignRef {
    /// Whether it lets the platform sign for `user_id` at `now`.
    pub fn live(&self, user_id: &str, now: i64) -> bool {
        self.user_id == user_id && self.revoked_at.is_none() && self.not_before <= now && now < self.not_after
    }
}

/// Checks a reason text (rejections, applications).
pub fn check_note(note: &str) -> Result<()> {
    if note.chars().count() > 500 || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::Invalid("a note has at most 500 characters".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pending_requests_move() {
        use GrantRequestAction::*;
        use GrantRequestStatus::*;
        assert_eq!(Pending.after(Approve), Ok(Approved));
        assert_eq!(Pending.after(Reject), Ok(Rejected));
        assert_eq!(Pending.after(Withdraw), Ok(Withdrawn));
        for done in [Approved, Rejected, Withdrawn] {
            for action in [Approve, Reject, Withdraw] {
                assert!(matches!(done.after(action), Err(Error::State(_))));
            }
        }
    }

    #[test]
    fn autosign_windows() {
        assert_eq!(autosign_window(None), Ok(86_400));
        assert_eq!(autosign_window(Some(1)), Ok(3600));
        assert_eq!(autosign_window(Some(4320)), Ok(180 * 86_400));
        assert!(autosign_window(Some(4321)).is_err());
        assert!(autosign_window(Some(0)).is_err());
        assert!(autosign_window(Some(i64::MAX)).is_err());
    }

    #[test]
    fn autosign_liveness() {
        let grant = AutoSignRef {
            id: "a".into(),
            user_id: "u".into(),
            not_before: 10,
            not_after: 20,
            revoked_at: None,
        };
        assert!(grant.live("u", 10));
        assert!(!grant.live("u", 20));
        assert!(!grant.live("v", 15));
        let revoked = AutoSignRef {
            revoked_at: Some(12),
            ..grant
        };
        assert!(!revoked.live("u", 15));
    }
}
