//! Who may do what. Every handler asks one of these before touching data, and tests check each
//! rule per role and for users of other organizations. A user outside an organization gets
//! [`Error::Hidden`] (the server answers 404), so probing ids reveals nothing; a member who
//! lacks the role gets [`Error::Forbidden`].

use crate::org::{OrgKind, OrgRole};
use crate::{Error, Result};

/// One organization the actor belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Organization id.
    pub org_id: String,
    /// The actor's role there.
    pub role: OrgRole,
}

/// The organization an action is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgRef<'a> {
    /// Its id.
    pub id: &'a str,
    /// Internal or external.
    pub kind: OrgKind,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user's id.
    pub user_id: String,
    /// A platform administrator (管理后台).
    pub platform_admin: bool,
    /// Whether the person's identity is verified.
    pub identity_verified: bool,
    /// Organizations the user belongs to.
    pub memberships: Vec<Membership>,
}

/// Actions on one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgAction {
    /// See the organization, its tree position and member list.
    View,
    /// Add or remove members, change roles, decide join requests.
    ManageMembers,
    /// Hand the admin role to another member.
    TransferAdmin,
    /// Change the name, legal representative or licence (external: starts a re-verification).
    Edit,
    /// Act for the organization (signing later, reading its data now).
    ActFor,
}

impl Actor {
    /// The actor's role in `org_id`, if a member.
    pub fn role_in(&self, org_id: &str) -> Option<OrgRole> {
        self.memberships
            .iter()
            .find(|m| m.org_id == org_id)
            .map(|m| m.role)
    }

    /// Whether the actor may do `action` on `org`.
    pub fn may(&self, action: OrgAction, org: OrgRef<'_>) -> Result<()> {
        let role = self.role_in(org.id);
        if role.is_none() && !self.platform_admin {
            return Err(Error::Hidden);
        }
        let admin_here = role == Some(OrgRole::Admin);
        let allowed = match action {
            OrgAction::View => true,
            OrgAction::ActFor => role.is_some(),
            // Platform admins run the internal tree; outside companies run themselves, with
            // the platform admin as the fallback when their admin is gone.
            OrgAction::ManageMembers | OrgAction::TransferAdmin => admin_here || self.platform_admin,
            OrgAction::Edit => match org.kind {
                OrgKind::Internal => self.platform_admin,
                OrgKind::External => admin_here,
            },
        };
        if allowed {
            Ok(())
        } else if role.is_none() {
            Err(Error::Forbidden("only members may act for an organization"))
        } else {
            Err(Error::Forbidden("this needs the organization's administrator"))
        }
    }

    /// Platform administration: the internal tree, deciding verifications and admin
    /// applications, reading the development outbox, the whole trail.
    pub fn may_administer(&self) -> Result<()> {
        if self.platform_admin {
            Ok(())
        } else {
            Err(Error::Forbidden("this needs a platform administrator"))
        }
    }

    /// Submitting an organization verification or joining one needs a verified identity.
    pub fn may_apply(&self) -> Result<()> {
        if self.identity_verified {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "complete real-name verification (实名认证) first",
            ))
        }
    }
}

/// Checks a role change by an authorized manager: the admin role moves only by transfer, and
/// an organization is never left without its admin.
pub fn check_role_change(current: OrgRole, new: OrgRole) -> Result<()> {
    if current == OrgRole::Admin {
        return Err(Error::State(
            "the administrator's role changes only by transferring it to another member".into(),
        ));
    }
    if new == OrgRole::Admin {
        return Err(Error::State(
            "make someone administrator by transfer, not by a role change".into(),
        ));
    }
    Ok(())
}

/// Removing a member: the admin cannot be removed (transfer first).
pub fn check_removal(role: OrgRole) -> Result<()> {
    if role == OrgRole::Admin {
        Err(Error::State(
            "transfer the administrator role before removing this member".into(),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(platform_admin: bool, memberships: &[(&str, OrgRole)]) -> Actor {
        Actor {
            user_id: "u".into(),
            platform_admin,
            identity_verified: true,
            memberships: memberships
                .iter()
                .map(|(id, role)| Membership {
                    org_id: (*id).into(),
                    role: *role,
                })
                .collect(),
        }
    }

    const EXT: OrgRef<'static> = OrgRef {
        id: "ext",
        kind: OrgKind::External,
    };
    const INT: OrgRef<'static> = OrgRef {
        id: "int",
        kind: OrgKind::Internal,
    };

    /// The whole table: (who, action, org) → allowed / forbidden / hidden.
    #[test]
    fn permission_table() {
        use OrgAction::*;
        let outsider = actor(false, &[("other", OrgRole::Admin)]);
        let member = actor(false, &[("ext", OrgRole::Member), ("int", OrgRole::Member)]);
        let operator = actor(false, &[("ext", OrgRole::SealOperator)]);
        let admin = actor(false, &[("ext", OrgRole::Admin), ("int", OrgRole::Admin)]);
        let platform = actor(true, &[]);
        for action in [View, ManageMembers, TransferAdmin, Edit, ActFor] {
            for org in [EXT, INT] {
                assert_eq!(outsider.may(action, org), Err(Error::Hidden), "{action:?}");
            }
        }
        for (who, action, org, ok) in [
            (&member, View, EXT, true),
            (&member, ActFor, EXT, true),
            (&member, ManageMembers, EXT, false),
            (&member, TransferAdmin, EXT, false),
            (&member, Edit, EXT, false),
            (&operator, View, EXT, true),
            (&operator, ManageMembers, EXT, false),
            (&admin, ManageMembers, EXT, true),
            (&admin, TransferAdmin, EXT, true),
            (&admin, Edit, EXT, true),
            (&admin, Edit, INT, false),
            (&admin, ManageMembers, INT, true),
            (&platform, View, EXT, true),
            (&platform, ManageMembers, EXT, true),
            (&platform, Edit, INT, true),
            (&platform, Edit, EXT, false),
            (&platform, ActFor, EXT, false),
        ] {
            assert_eq!(who.may(action, org).is_ok(), ok, "{action:?} {org:?}");
        }
        assert!(platform.may_administer().is_ok());
        assert!(admin.may_administer().is_err());
    }

    #[test]
    fn admin_role_moves_only_by_transfer() {
        assert!(check_role_change(OrgRole::Member, OrgRole::SealOperator).is_ok());
        assert!(check_role_change(OrgRole::SealOperator, OrgRole::Member).is_ok());
        assert!(check_role_change(OrgRole::Member, OrgRole::Admin).is_err());
        assert!(check_role_change(OrgRole::Admin, OrgRole::Member).is_err());
        assert!(check_removal(OrgRole::Admin).is_err());
        assert!(check_removal(OrgRole::Member).is_ok());
    }

    #[test]
    fn applying_needs_identity() {
        let mut a = actor(false, &[]);
        a.identity_verified = false;
        assert!(a.may_apply().is_err());
        a.identity_verified = true;
        assert!(a.may_apply().is_ok());
    }
}
