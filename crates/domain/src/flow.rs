//! Signing flows (签署流程, DESIGN §1, S 二, B 3.5–3.6): who signs, in which order, and which
//! state may follow which.
//!
//! Order is expressed by stages: every signer has a stage number; all signers of the lowest
//! stage that still has someone waiting sign in parallel, the next stage starts when they are
//! done. Unordered flows put everyone in stage 0, ordered flows give each signer their own
//! stage, staged flows group them. A flow ends completed when every signer has signed, or void
//! when a signer declines, the initiator revokes, or the deadline passes; nothing leaves an
//! ended flow.

use crate::access::Actor;
use crate::{Error, Result};

/// Where a flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowStatus {
    /// Signers are signing.
    InProgress,
    /// Everyone signed.
    Completed,
    /// A signer declined (拒签).
    Declined,
    /// The initiator revoked it (撤销).
    Revoked,
    /// The deadline passed (已过期).
    Expired,
}

impl FlowStatus {
    /// Stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::InProgress => "in_progress",
            FlowStatus::Completed => "completed",
            FlowStatus::Declined => "declined",
            FlowStatus::Revoked => "revoked",
            FlowStatus::Expired => "expired",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "in_progress" => FlowStatus::InProgress,
            "completed" => FlowStatus::Completed,
            "declined" => FlowStatus::Declined,
            "revoked" => FlowStatus::Revoked,
            "expired" => FlowStatus::Expired,
            other => return Err(Error::Invalid(format!("unknown flow status {other:?}"))),
        })
    }

    /// Whether the flow has ended.
    pub fn ended(self) -> bool {
        self != FlowStatus::InProgress
    }

    /// Void: ended without completing (已作废).
    pub fn void(self) -> bool {
        matches!(
            self,
            FlowStatus::Declined | FlowStatus::Revoked | FlowStatus::Expired
        )
    }
}

/// Where one signer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignerStatus {
    /// Not signed yet (their turn, or waiting for an earlier stage).
    Waiting,
    /// Signed every document.
    Signed,
    /// Declined.
    Declined,
}

impl SignerStatus {
    /// Stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignerStatus::Waiting => "waiting",
            SignerStatus::Signed => "signed",
            SignerStatus::Declined => "declined",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "waiting" => SignerStatus::Waiting,
            "signed" => SignerStatus::Signed,
            "declined" => SignerStatus::Declined,
            other => return Err(Error::Invalid(format!("unknown signer status {other:?}"))),
        })
    }
}

/// Who signs in a signer slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// A person (user id).
    Person(String),
    /// An organization (org id): a member holding a grant of one of its seals signs for it.
    Org(String),
}

/// One signer slot as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerRef {
    /// Slot id.
    pub id: String,
    /// Stage (lower signs first).
    pub stage: u32,
    /// Who.
    pub party: Party,
    /// Where they stand.
    pub status: SignerStatus,
    /// Whether they may decline.
    pub may_decline: bool,
}

/// A flow as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRef {
    /// Status.
    pub status: FlowStatus,
    /// Who started it.
    pub initiator: String,
    /// Unix seconds from which it is expired.
    pub deadline: Option<i64>,
    /// The signers.
    pub signers: Vec<SignerRef>,
}

/// What a signer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerAction {
    /// Signs (all documents).
    Sign,
    /// Declines.
    Decline,
}

impl FlowRef {
    /// The stage now signing: the lowest with someone waiting.
    pub fn current_stage(&self) -> Option<u32> {
        self.signers
            .iter()
            .filter(|s| s.status == SignerStatus::Waiting)
            .map(|s| s.stage)
            .min()
    }

    /// Whether the deadline has passed at `now`.
    pub fn past_deadline(&self, now: i64) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    fn signer(&self, signer_id: &str) -> Result<&SignerRef> {
        self.signers
            .iter()
            .find(|s| s.id == signer_id)
            .ok_or(Error::Hidden)
    }

    /// Whether `actor` may act in slot `signer_id` now: the flow runs, the slot is theirs (the
    /// person, or a member of the organization), still waiting, and its stage is current.
    pub fn may_act(&self, actor: &Actor, signer_id: &str, action: SignerAction, now: i64) -> Result<()> {
        let signer = self.signer(signer_id)?;
        let theirs = match &signer.party {
            Party::Person(user) => *user == actor.user_id,
            Party::Org(org) => actor.role_in(org).is_some(),
        };
        if !theirs {
            return Err(Error::Hidden);
        }
        if self.status.ended() {
            return Err(Error::State(format!("the flow is {}", self.status.as_str())));
        }
        if self.past_deadline(now) {
            return Err(Error::State("the flow passed its deadline".into()));
        }
        if signer.status != SignerStatus::Waiting {
            return Err(Error::State(format!(
                "this signer has {}",
                signer.status.as_str()
            )));
        }
        if self.current_stage() != Some(signer.stage) {
            return Err(Error::State(
                "not your turn yet: an earlier signer has not signed".into(),
            ));
        }
        if action == SignerAction::Decline && !signer.may_decline {
            return Err(Error::Forbidden("the initiator did not allow declining"));
        }
        if !actor.identity_verified {
            return Err(Error::Forbidden("verify your identity before signing"));
        }
        Ok(())
    }

    /// The flow after `signer_id` did `action` (checked with [`Self::may_act`] before).
    pub fn after(&self, signer_id: &str, action: SignerAction) -> FlowRef {
        let mut next = self.clone();
        for signer in &mut next.signers {
            if signer.id == signer_id {
                signer.status = match action {
                    SignerAction::Sign => SignerStatus::Signed,
                    SignerAction::Decline => SignerStatus::Declined,
                };
            }
        }
        next.status = match action {
            SignerAction::Decline => FlowStatus::Declined,
            SignerAction::Sign if next.signers.iter().all(|s| s.status == SignerStatus::Signed) => {
                FlowStatus::Completed
            }
            SignerAction::Sign => FlowStatus::InProgress,
        };
        next
    }

    /// Whether `actor` may revoke the flow: its initiator, while it runs.
    pub fn may_revoke(&self, actor: &Actor) -> Result<()> {
        if actor.user_id != self.initiator {
            return Err(Error::Forbidden("only the initiator revokes a flow"));
        }
        if self.status.ended() {
            return Err(Error::State(format!("the flow is {}", self.status.as_str())));
        }
        Ok(())
    }

    /// The signers whose turn it is (to notify, to remind).
    pub fn current_signers(&self) -> Vec<&SignerRef> {
        let stage = self.current_stage();
        self.signers
            .iter()
            .filter(|s| s.status == SignerStatus::Waiting && Some(s.stage) == stage)
            .collect()
    }
}

/// Checks a flow's signers: 1–50 slots, each person or organization once.
pub fn check_signers(signers: &[SignerRef]) -> Result<()> {
    if signers.is_empty() || signers.len() > 50 {
        return Err(Error::Invalid("a flow has 1 to 50 signers".into()));
    }
    for (i, a) in signers.iter().enumerate() {
        if signers[..i].iter().any(|b| b.party == a.party) {
            return Err(Error::Invalid(
                "each person or organization signs once per flow".into(),
            ));
        }
    }
    Ok(())
}

/// Checks a title: 1–100 characters.
pub fn check_title(title: &str) -> Result<()> {
    let count = title.trim().chars().count();
    if count == 0 || count > 100 || title.chars().any(char::is_control) {
        return Err(Error::Invalid("a title has 1–100 characters".into()));
    }
    Ok(())
}

/// The deadline for a date `YYYY-MM-DD`: 24:00 of that day at `offset_seconds` from UTC
/// (Asia/Shanghai: 8 × 3600), as Unix seconds. It must lie after `now`.
pub fn deadline_end_of_day(date: &str, offset_seconds: i64, now: i64) -> Result<i64> {
    let bad = || Error::Invalid(format!("deadline {date:?} must be a date YYYY-MM-DD"));
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in[(m - 1) as usize] {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's days_from_civil).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let end = (days + 1) * 86_400 - offset_seconds;
    if end <= now {
        return Err(Error::Invalid("the deadline has passed already".into()));
    }
    Ok(end)
}

/// The inbox views (S 2.2–2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbox {
    /// 待我签署: my turn.
    Todo,
    /// 待他人签署: I signed or started it, others have not finished.
    WaitingOthers,
    /// 已完成签署.
    Completed,
    /// 已作废: declined, revoked, expired.
    Void,
    /// 抄送我的.
    Cc,
    /// 我发起的.
    Initiated,
}

impl Inbox {
    /// Every view, in the order the inbox shows its tabs.
    pub const ALL: [Inbox; 6] = [
        Inbox::Todo,
        Inbox::WaitingOthers,
        Inbox::Completed,
        Inbox::Void,
        Inbox::Cc,
        Inbox::Initiated,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Inbox::Todo => "todo",
            Inbox::WaitingOthers => "waiting_others",
            Inbox::Completed => "completed",
            Inbox::Void => "void",
            Inbox::Cc => "cc",
            Inbox::Initiated => "initiated",
        }
    }

    /// Parses the API name.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "todo" => Inbox::Todo,
            "waiting_others" => Inbox::WaitingOthers,
            "completed" => Inbox::Completed,
            "void" => Inbox::Void,
            "cc" => Inbox::Cc,
            "initiated" => Inbox::Initiated,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown box {other:?}: todo, waiting_others, completed, void, cc, initiated"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Membership;
    use crate::org::OrgRole;

    fn person(id: &str) -> Actor {
        Actor {
            user_id: id.into(),
            platform_admin: false,
            identity_verified: true,
            memberships: vec![Membership {
                org_id: "org".into(),
                role: OrgRole::Member,
            }],
        }
    }

    fn slot(id: &str, stage: u32, party: Party) -> SignerRef {
        SignerRef {
            id: id.into(),
            stage,
            party,
            status: SignerStatus::Waiting,
            may_decline: true,
        }
    }

    fn flow(signers: Vec<SignerRef>) -> FlowRef {
        FlowRef {
            status: FlowStatus::InProgress,
            initiator: "a".into(),
            deadline: Some(1000),
            signers,
        }
    }

    #[test]
    fn ordered_flow_goes_stage_by_stage() {
        let f = flow(vec![
            slot("s1", 0, Party::Person("a".into())),
            slot("s2", 1, Party::Person("b".into())),
            slot("s3", 1, Party::Org("org".into())),
        ]);
        assert!(matches!(
            f.may_act(&person("b"), "s2", SignerAction::Sign, 10),
            Err(Error::State(_))
        ));
        assert_eq!(
            f.may_act(&person("b"), "s1", SignerAction::Sign, 10),
            Err(Error::Hidden)
        );
        f.may_act(&person("a"), "s1", SignerAction::Sign, 10).unwrap();
        let f = f.after("s1", SignerAction::Sign);
        assert_eq!(f.status, FlowStatus::InProgress);
        assert_eq!(f.current_signers().len(), 2);
        // An org slot is any member's; the seal grant is checked when stamping.
        f.may_act(&person("c"), "s3", SignerAction::Sign, 10).unwrap();
        let f = f.after("s3", SignerAction::Sign).after("s2", SignerAction::Sign);
        assert_eq!(f.status, FlowStatus::Completed);
        assert!(matches!(
            f.may_act(&person("b"), "s2", SignerAction::Sign, 10),
            Err(Error::State(_))
        ));
    }

    #[test]
    fn decline_revoke_deadline() {
        let mut f = flow(vec![slot("s1", 0, Party::Person("b".into()))]);
        assert!(matches!(
            f.may_act(&person("b"), "s1", SignerAction::Sign, 1000),
            Err(Error::State(_))
        ));
        assert!(matches!(f.may_revoke(&person("b")), Err(Error::Forbidden(_))));
        f.may_revoke(&person("a")).unwrap();
        f.signers[0].may_decline = false;
        assert!(matches!(
            f.may_act(&person("b"), "s1", SignerAction::Decline, 10),
            Err(Error::Forbidden(_))
        ));
        f.signers[0].may_decline = true;
        let declined = f.after("s1", SignerAction::Decline);
        assert_eq!(declined.status, FlowStatus::Declined);
        assert!(declined.status.void());
        assert!(matches!(declined.may_revoke(&person("a")), Err(Error::State(_))));
    }

    #[test]
    fn deadlines_are_end_of_day_in_china() {
        // 2026-12-03 24:00 +08:00 = 2026-12-03 16:00 UTC.
        assert_eq!(deadline_end_of_day("2026-12-03", 8 * 3600, 0), Ok(1_796_313_600));
        assert_eq!(deadline_end_of_day("2000-02-29", 0, 0), Ok(951_868_800));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1",
            "x",
            "2026-01-01-01",
            "1969-12-31",
        ] {
            assert!(deadline_end_of_day(bad, 0, 0).is_err(), "{bad}");
        }
        assert!(deadline_end_of_day("2026-12-03", 8 * 3600, 1_796_313_600).is_err());
    }

    #[test]
    fn signer_lists() {
        assert!(check_signers(&[]).is_err());
        let twice = [
            slot("1", 0, Party::Person("a".into())),
            slot("2", 1, Party::Person("a".into())),
        ];
        assert!(check_signers(&twice).is_err());
        assert!(
            check_signers(&[
                slot("1", 0, Party::Person("a".into())),
                slot("2", 0, Party::Org("a".into()))
            ])
            .is_ok()
        );
    }

    proptest::proptest! {
        /// Whatever the signers try, in any order: a signer only ever signs when no earlier
        /// stage has someone waiting, and nothing moves once the flow has ended.
        #[test]
        fn order_holds_and_ended_flows_stay_ended(
            stages in proptest::collection::vec(0u32..3, 1..6),
            moves in proptest::collection::vec((0usize..6, proptest::bool::weighted(0.85)), 0..30),
        ) {
            let signers: Vec<SignerRef> = stages
                .iter()
                .enumerate()
                .map(|(i, &stage)| slot(&i.to_string(), stage, Party::Person(format!("u{i}"))))
                .collect();
            let mut f = flow(signers);
            for (who, sign) in moves {
                let Some(signer) = f.signers.get(who % f.signers.len()).cloned() else { continue };
                let action = if sign { SignerAction::Sign } else { SignerAction::Decline };
                let allowed = f.may_act(&person(&format!("u{}", who % f.signers.len())), &signer.id, action, 10);
                if f.status.ended() {
                    proptest::prop_assert!(allowed.is_err());
                    continue;
                }
                if allowed.is_ok() {
                    let earlier_waiting = f.signers.iter().any(|s| s.stage < signer.stage && s.status == SignerStatus::Waiting);
                    proptest::prop_assert!(!earlier_waiting);
                    f = f.after(&signer.id, action);
                }
            }
            if f.status == FlowStatus::Completed {
                proptest::prop_assert!(f.signers.iter().all(|s| s.status == SignerStatus::Signed));
            }
        }
    }
}
