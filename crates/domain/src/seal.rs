//! Seals (印章) and who may stamp them.
//!
//! A person's seals (the generated name seal, a handwritten signature) are theirs alone. An
//! organization's seals are managed by its admin and seal operators, and stamped only by people
//! holding a current grant (授权): the admin too must grant the seal to themselves first, so the
//! trail always names a grant for every organization stamp (S 5.1).

use crate::access::Actor;
use crate::org::OrgRole;
use crate::{Error, Result};

/// What a seal image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealKind {
    /// Round official seal (公章).
    Official,
    /// Contract seal (合同专用章).
    Contract,
    /// Finance seal (财务专用章).
    Finance,
    /// Oval seal.
    Oval,
    /// Square personal name seal (名章).
    Name,
    /// Handwritten signature (手写签名).
    Handwriting,
    /// An image uploaded as is (a scanned seal).
    Uploaded,
}

impl SealKind {
    /// Stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SealKind::Official => "official",
            SealKind::Contract => "contract",
            SealKind::Finance => "finance",
            SealKind::Oval => "oval",
            SealKind::Name => "name",
            SealKind::Handwriting => "handwriting",
            SealKind::Uploaded => "uploaded",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "official" => SealKind::Official,
            "contract" => SealKind::Contract,
            "finance" => SealKind::Finance,
            "oval" => SealKind::Oval,
            "name" => SealKind::Name,
            "handwriting" => SealKind::Handwriting,
            "uploaded" => SealKind::Uploaded,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown seal kind {other:?}: official, contract, finance, oval, name, handwriting or uploaded"
                )));
            }
        })
    }

    /// Whether an organization may own this kind.
    pub fn for_org(self) -> bool {
        matches!(
            self,
            SealKind::Official | SealKind::Contract | SealKind::Finance | SealKind::Oval | SealKind::Uploaded
        )
    }

    /// Whether a person may own this kind.
    pub fn for_person(self) -> bool {
        matches!(self, SealKind::Name | SealKind::Handwriting | SealKind::Uploaded)
    }
}

/// Life of a seal. Deleted seals stay in the database (the trail and signed documents refer
/// to them) but are never listed or stamped again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealStatus {
    /// Usable.
    Enabled,
    /// Kept, not usable until enabled again.
    Disabled,
    /// Soft-deleted.
    Deleted,
}

impl SealStatus {
    /// Stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            SealStatus::Enabled => "enabled",
            SealStatus::Disabled => "disabled",
            SealStatus::Deleted => "deleted",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "enabled" => SealStatus::Enabled,
            "disabled" => SealStatus::Disabled,
            "deleted" => SealStatus::Deleted,
            other => return Err(Error::Invalid(format!("unknown seal status {other:?}"))),
        })
    }

    /// Whether `self → to` is allowed: enabled ⇄ disabled, either → deleted, nothing back.
    pub fn may_become(self, to: SealStatus) -> Result<()> {
        match (self, to) {
            (SealStatus::Enabled, SealStatus::Disabled)
            | (SealStatus::Disabled, SealStatus::Enabled)
            | (SealStatus::Enabled | SealStatus::Disabled, SealStatus::Deleted) => Ok(()),
            (SealStatus::Deleted, _) => Err(Error::State("the seal is deleted".into())),
            (from, to) => Err(Error::State(format!(
                "the seal is already {}; it cannot become {}",
                from.as_str(),
                to.as_str()
            ))),
        }
    }
}

/// Who owns a seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealOwner<'a> {
    /// A person (user id).
    Person(&'a str),
    /// An organization (org id).
    Org(&'a str),
}

/// The facts about a seal that the rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealRef<'a> {
    /// Seal id.
    pub id: &'a str,
    /// Owner.
    pub owner: SealOwner<'a>,
    /// Status.
    pub status: SealStatus,
}

/// A grant of an organization seal to a person, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRef {
    /// Grant id.
    pub id: String,
    /// Seal granted.
    pub seal_id: String,
    /// Holder (user id).
    pub grantee: String,
    /// Unix seconds from which it holds.
    pub not_before: i64,
    /// Unix seconds from which it no longer holds.
    pub not_after: i64,
    /// Business types it covers (业务类型); empty covers all.
    pub scope: Vec<String>,
    /// Unix seconds of revocation.
    pub revoked_at: Option<i64>,
}

impl GrantRef {
    /// Whether the grant holds at `now` for `purpose`.
    pub fn covers(&self, seal_id: &str, grantee: &str, purpose: Option<&str>, now: i64) -> bool {
        self.seal_id == seal_id
            && self.grantee == grantee
            && self.revoked_at.is_none()
            && self.not_before <= now
            && now < self.not_after
            && (self.scope.is_empty() || purpose.is_some_and(|p| self.scope.iter().any(|s| s == p)))
    }
}

/// Longest grant window: five years.
pub const MAX_GRANT_SECONDS: i64 = 5 * 366 * 86_400;

/// Checks a grant's window and scope.
pub fn check_grant(not_before: i64, not_after: i64, scope: &[String], now: i64) -> Result<()> {
    if not_after <= not_before {
        return Err(Error::Invalid("the grant must end after it starts".into()));
    }
    if not_after <= now {
        return Err(Error::Invalid("the grant would already be over".into()));
    }
    // Starting more than a day back would hide how long it really lasts; checked_sub, because
    // the bounds come from the request.
    if not_before < now.saturating_sub(86_400)
        || not_after
            .checked_sub(not_before)
            .is_none_or(|length| length > MAX_GRANT_SECONDS)
    {
        return Err(Error::Invalid(
            "a grant starts at most a day back and lasts at most five years".into(),
        ));
    }
    if scope.len() > 20
        || scope
            .iter()
            .any(|s| s.trim().is_empty() || s.chars().count() > 40)
    {
        return Err(Error::Invalid(
            "the scope is up to 20 business types of 1–40 characters each".into(),
        ));
    }
    Ok(())
}

/// Checks a seal's display name.
pub fn check_seal_name(name: &str) -> Result<()> {
    let count = name.trim().chars().count();
    if count == 0 || count > 60 || name.chars().any(char::is_control) {
        return Err(Error::Invalid("a seal name has 1–60 characters".into()));
    }
    Ok(())
}

impl Actor {
    /// Whether the actor may see a seal (list it, read its image and statistics).
    pub fn may_view_seal(&self, seal: SealRef<'_>) -> Result<()> {
        if seal.status == SealStatus::Deleted {
            return Err(Error::Hidden);
        }
        match seal.owner {
            SealOwner::Person(owner) if owner == self.user_id || self.platform_admin => Ok(()),
            SealOwner::Person(_) => Err(Error::Hidden),
            SealOwner::Org(org) if self.role_in(org).is_some() || self.platform_admin => Ok(()),
            SealOwner::Org(_) => Err(Error::Hidden),
        }
    }

    /// Whether the actor may create, enable, disable, delete and grant seals of `org_id`:
    /// its admin and seal operators.
    pub fn may_manage_seals(&self, org_id: &str) -> Result<()> {
        match self.role_in(org_id) {
            Some(OrgRole::Admin | OrgRole::SealOperator) => Ok(()),
            Some(OrgRole::Member) => Err(Error::Forbidden(
                "only the organization's admin or seal operators manage its seals",
            )),
            None if self.platform_admin => Err(Error::Forbidden(
                "seals are managed by the organization's own admin or seal operators",
            )),
            None => Err(Error::Hidden),
        }
    }

    /// Whether the actor may stamp `seal` now for `purpose`; for an organization seal, the
    /// grant that allows it. This is the one rule every stamping path goes through.
    pub fn may_stamp(
        &self,
        seal: SealRef<'_>,
        grants: &[GrantRef],
        purpose: Option<&str>,
        now: i64,
    ) -> Result<Option<String>> {
        match seal.owner {
            SealOwner::Person(owner) if owner != self.user_id => return Err(Error::Hidden),
            SealOwner::Org(org) if self.role_in(org).is_none() => return Err(Error::Hidden),
            _ => {}
        }
        match seal.status {
            SealStatus::Enabled => {}
            SealStatus::Disabled => return Err(Error::State("the seal is disabled".into())),
            SealStatus::Deleted => return Err(Error::Hidden),
        }
        if !self.identity_verified {
            return Err(Error::Forbidden("verify your identity before stamping"));
        }
        match seal.owner {
            SealOwner::Person(_) => Ok(None),
            SealOwner::Org(_) => grants
                .iter()
                .find(|g| g.covers(seal.id, &self.user_id, purpose, now))
                .map(|g| Some(g.id.clone()))
                .ok_or(Error::Forbidden(
                    "you hold no current grant of this seal (ask for one: 用印申请)",
                )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Membership;

    fn actor(user: &str, role: Option<OrgRole>) -> Actor {
        Actor {
            user_id: user.into(),
            platform_admin: false,
            identity_verified: true,
            memberships: role
                .map(|role| Membership {
                    org_id: "org".into(),
                    role,
                })
                .into_iter()
                .collect(),
        }
    }

    fn grant(grantee: &str) -> GrantRef {
        GrantRef {
            id: "g1".into(),
            seal_id: "seal".into(),
            grantee: grantee.into(),
            not_before: 100,
            not_after: 200,
            scope: vec![],
            revoked_at: None,
        }
    }

    const ORG_SEAL: SealRef<'static> = SealRef {
        id: "seal",
        owner: SealOwner::Org("org"),
        status: SealStatus::Enabled,
    };

    #[test]
    fn stamping_an_org_seal_table() {
        let holder = actor("u1", Some(OrgRole::Member));
        let revoked = GrantRef {
            revoked_at: Some(150),
            ..grant("u1")
        };
        let scoped = GrantRef {
            scope: vec!["合同".into()],
            ..grant("u1")
        };
        let other_seal = GrantRef {
            seal_id: "other".into(),
            ..grant("u1")
        };
        type Case<'a> = (
            &'a str,
            Actor,
            Vec<GrantRef>,
            Option<&'a str>,
            i64,
            Result<Option<String>>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "current grant",
                holder.clone(),
                vec![grant("u1")],
                None,
                150,
                Ok(Some("g1".into())),
            ),
            (
                "first second",
                holder.clone(),
                vec![grant("u1")],
                None,
                100,
                Ok(Some("g1".into())),
            ),
            (
                "expired",
                holder.clone(),
                vec![grant("u1")],
                None,
                200,
                Err(Error::Forbidden("")),
            ),
            (
                "not yet",
                holder.clone(),
                vec![grant("u1")],
                None,
                99,
                Err(Error::Forbidden("")),
            ),
            (
                "revoked",
                holder.clone(),
                vec![revoked],
                None,
                150,
                Err(Error::Forbidden("")),
            ),
            (
                "someone else's grant",
                holder.clone(),
                vec![grant("u2")],
                None,
                150,
                Err(Error::Forbidden("")),
            ),
            (
                "another seal's grant",
                holder.clone(),
                vec![other_seal],
                None,
                150,
                Err(Error::Forbidden("")),
            ),
            (
                "in scope",
                holder.clone(),
                vec![scoped.clone()],
                Some("合同"),
                150,
                Ok(Some("g1".into())),
            ),
            (
                "out of scope",
                holder.clone(),
                vec![scoped.clone()],
                Some("财务"),
                150,
                Err(Error::Forbidden("")),
            ),
            (
                "scope needs a purpose",
                holder.clone(),
                vec![scoped],
                None,
                150,
                Err(Error::Forbidden("")),
            ),
            (
                "admin without grant",
                actor("u1", Some(OrgRole::Admin)),
                vec![],
                None,
                150,
                Err(Error::Forbidden("")),
            ),
            (
                "non-member with grant",
                actor("u1", None),
                vec![grant("u1")],
                None,
                150,
                Err(Error::Hidden),
            ),
        ];
        for (name, who, grants, purpose, now, want) in cases {
            let got = who.may_stamp(ORG_SEAL, &grants, purpose, now);
            match (&got, &want) {
                (Err(Error::Forbidden(_)), Err(Error::Forbidden(_))) => {}
                _ => assert_eq!(got, want, "{name}"),
            }
        }
    }

    #[test]
    fn disabled_deleted_and_unverified() {
        let holder = actor("u1", Some(OrgRole::Member));
        let disabled = SealRef {
            status: SealStatus::Disabled,
            ..ORG_SEAL
        };
        assert!(matches!(
            holder.may_stamp(disabled, &[grant("u1")], None, 150),
            Err(Error::State(_))
        ));
        let deleted = SealRef {
            status: SealStatus::Deleted,
            ..ORG_SEAL
        };
        assert_eq!(
            holder.may_stamp(deleted, &[grant("u1")], None, 150),
            Err(Error::Hidden)
        );
        let unverified = Actor {
            identity_verified: false,
            ..holder
        };
        assert!(matches!(
            unverified.may_stamp(ORG_SEAL, &[grant("u1")], None, 150),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn personal_seals_are_the_owners_alone() {
        let seal = SealRef {
            id: "s",
            owner: SealOwner::Person("u1"),
            status: SealStatus::Enabled,
        };
        assert_eq!(actor("u1", None).may_stamp(seal, &[], None, 1), Ok(None));
        assert_eq!(
            actor("u2", None).may_stamp(seal, &[], None, 1),
            Err(Error::Hidden)
        );
        let admin = Actor {
            platform_admin: true,
            ..actor("u2", None)
        };
        assert_eq!(admin.may_stamp(seal, &[], None, 1), Err(Error::Hidden));
        assert!(admin.may_view_seal(seal).is_ok());
    }

    #[test]
    fn managing_seals_by_role() {
        assert!(actor("u", Some(OrgRole::Admin)).may_manage_seals("org").is_ok());
        assert!(
            actor("u", Some(OrgRole::SealOperator))
                .may_manage_seals("org")
                .is_ok()
        );
        assert!(matches!(
            actor("u", Some(OrgRole::Member)).may_manage_seals("org"),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(actor("u", None).may_manage_seals("org"), Err(Error::Hidden));
    }

    #[test]
    fn status_transitions() {
        use SealStatus::*;
        for (from, to, ok) in [
            (Enabled, Disabled, true),
            (Disabled, Enabled, true),
            (Enabled, Deleted, true),
            (Disabled, Deleted, true),
            (Deleted, Enabled, false),
            (Deleted, Disabled, false),
            (Enabled, Enabled, false),
        ] {
            assert_eq!(from.may_become(to).is_ok(), ok, "{from:?} → {to:?}");
        }
    }

    #[test]
    fn grant_windows() {
        assert!(check_grant(0, 100, &[], 50).is_ok());
        assert!(check_grant(100, 100, &[], 50).is_err());
        assert!(check_grant(0, 40, &[], 50).is_err());
        assert!(check_grant(0, MAX_GRANT_SECONDS + 1, &[], 50).is_err());
        assert!(check_grant(i64::MIN, i64::MAX, &[], 50).is_err());
        assert!(check_grant(50 - 2 * 86_400, 100, &[], 50).is_err());
        assert!(check_grant(0, 100, &[" ".into()], 50).is_err());
    }

    proptest::proptest! {
        /// A grant covers exactly the half-open window [not_before, not_after), unrevoked.
        #[test]
        fn grant_window_is_half_open(nb in 0i64..1000, len in 1i64..1000, now in -10i64..2100, revoked: bool) {
            let g = GrantRef { not_before: nb, not_after: nb + len, revoked_at: revoked.then_some(0), ..grant("u1") };
            let expected = !revoked && nb <= now && now < nb + len;
            proptest::prop_assert_eq!(g.covers("seal", "u1", None, now), expected);
            let holder = actor("u1", Some(OrgRole::Member));
            proptest::prop_assert_eq!(holder.may_stamp(ORG_SEAL, &[g], None, now).is_ok(), expected);
        }
    }
}
