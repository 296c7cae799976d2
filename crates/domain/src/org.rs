//! Organizations (S 3.2, B 3.7.3): the institution's internal tree and verified outside
//! companies, their members and roles, and the requests that change them.

use crate::{Error, Result};

/// Internal (the institution, its departments and colleges) or external (an outside company).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgKind {
    /// Part of the institution's tree; managed by platform admins.
    Internal,
    /// An outside company, verified by its credit code.
    External,
}

impl OrgKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Internal => "internal",
            OrgKind::External => "external",
        }
    }

    /// Parses the stable name.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "internal" => Ok(OrgKind::Internal),
            "external" => Ok(OrgKind::External),
            _ => Err(Error::Invalid(format!("unknown organization kind {text:?}"))),
        }
    }
}

/// A member's role in one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrgRole {
    /// Plain member.
    Member,
    /// May stamp the organization's seals they are granted.
    SealOperator,
    /// Manages members, roles, join requests and seals. One per organization.
    Admin,
}

impl OrgRole {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Member => "member",
            OrgRole::SealOperator => "seal_operator",
            OrgRole::Admin => "admin",
        }
    }

    /// Parses the stable name.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "member" => Ok(OrgRole::Member),
            "seal_operator" => Ok(OrgRole::SealOperator),
            "admin" => Ok(OrgRole::Admin),
            _ => Err(Error::Invalid(format!(
                "unknown role {text:?}: member, seal_operator or admin"
            ))),
        }
    }
}

/// The state of a request someone decides on: organization verification, joining, becoming
/// admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved (final).
    Approved,
    /// Rejected with a reason; a verification may be continued (edited and resubmitted).
    Rejected,
    /// Taken back by the applicant; a verification may be continued.
    Withdrawn,
}

/// What happens to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestAction {
    /// The decider approves.
    Approve,
    /// The decider rejects.
    Reject,
    /// The applicant takes it back.
    Withdraw,
    /// The applicant edits and resubmits (verifications only).
    Resubmit,
}

impl RequestStatus {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Withdrawn => "withdrawn",
        }
    }

    /// Parses the stable name.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "pending" => RequestStatus::Pending,
            "approved" => RequestStatus::Approved,
            "rejected" => RequestStatus::Rejected,
            "withdrawn" => RequestStatus::Withdrawn,
            _ => return Err(Error::Invalid(format!("unknown request status {text:?}"))),
        })
    }

    /// The state after `action`, or why it is not allowed.
    pub fn next(self, action: RequestAction) -> Result<RequestStatus> {
        use RequestAction as A;
        use RequestStatus as S;
        match (self, action) {
            (S::Pending, A::Approve) => Ok(S::Approved),
            (S::Pending, A::Reject) => Ok(S::Rejected),
            (S::Pending, A::Withdraw) => Ok(S::Withdrawn),
            (S::Rejected | S::Withdrawn, A::Resubmit) => Ok(S::Pending),
            (state, action) => Err(Error::State(format!(
                "a {} request cannot be {}",
                state.as_str(),
                match action {
                    A::Approve => "approved",
                    A::Reject => "rejected",
                    A::Withdraw => "withdrawn",
                    A::Resubmit => "resubmitted",
                }
            ))),
        }
    }
}

/// An organization's name: 2–100 characters, no control characters.
pub fn check_org_name(name: &str) -> Result<()> {
    let count = name.trim().chars().count();
    if !(2..=100).contains(&count) || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "the organization name must have 2 to 100 characters".into(),
        ));
    }
    Ok(())
}

/// A unified social credit code (GB 32100 check character), normalized to upper case.
pub fn check_credit_code(code: &str) -> Result<String> {
    let normalized = code.trim().to_ascii_uppercase();
    qz_pki::ca::check_credit_code(&normalized).map_err(|_| {
        Error::Invalid(format!(
            "{code:?} is not a valid unified social credit code (18 characters, GB 32100 check character)"
        ))
    })?;
    Ok(normalized)
}

/// A rejection needs a reason the applicant can act on.
pub fn check_reason(reason: &str) -> Result<()> {
    let count = reason.trim().chars().count();
    if !(2..=500).contains(&count) {
        return Err(Error::Invalid("give a reason of 2 to 500 characters".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_status() -> impl Strategy<Value = RequestStatus> {
        prop_oneof![
            Just(RequestStatus::Pending),
            Just(RequestStatus::Approved),
            Just(RequestStatus::Rejected),
            Just(RequestStatus::Withdrawn),
        ]
    }

    fn any_action() -> impl Strategy<Value = RequestAction> {
        prop_oneof![
            Just(RequestAction::Approve),
            Just(RequestAction::Reject),
            Just(RequestAction::Withdraw),
            Just(RequestAction::Resubmit),
        ]
    }

    proptest! {
        /// Approved is final; only pending requests are decided; nothing leads back to pending
        /// except a resubmission of a rejected or withdrawn one.
        #[test]
        fn request_machine(start in any_status(), actions in proptest::collection::vec(any_action(), 0..12)) {
            let mut state = start;
            for action in actions {
                if let Ok(next) = state.next(action) {
                    {
                        prop_assert!(state != RequestStatus::Approved);
                        if matches!(action, RequestAction::Approve | RequestAction::Reject | RequestAction::Withdraw) {
                            prop_assert_eq!(state, RequestStatus::Pending);
                        }
                        if next == RequestStatus::Pending {
                            prop_assert_eq!(action, RequestAction::Resubmit);
                        }
                        state = next;
                    }
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for role in [OrgRole::Member, OrgRole::SealOperator, OrgRole::Admin] {
            assert_eq!(OrgRole::parse(role.as_str()), Ok(role));
        }
        for kind in [OrgKind::Internal, OrgKind::External] {
            assert_eq!(OrgKind::parse(kind.as_str()), Ok(kind));
        }
    }

    #[test]
    fn credit_codes() {
        assert_eq!(
            check_credit_code("91350100m000100y43"),
            Ok("91350100M000100Y43".into())
        );
        assert!(check_credit_code("91350100M000100Y44").is_err());
    }
}
