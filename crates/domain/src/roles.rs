//! Who may act on whose account: the one rule the admin pages, the API and the command line all
//! ask before they change a user.
//!
//! - The operator at the `issue-tracker` command holds the database, and so every right.
//! - A superuser may do anything to anyone, except deactivate their own account.
//! - Other staff may manage accounts that are neither staff nor superuser (set a password,
//!   activate, deactivate, revoke or issue tokens, change the email and its preferences) and their
//!   own, but may not touch another staff member's or a superuser's account, nor grant or take staff
//!   or superuser status, nor create a staff account.
//! - Everyone else may manage only their own account, and only through the self-service paths.

use thiserror::Error;

use crate::user::User;

/// Who is acting.
#[derive(Debug, Clone, Copy)]
pub enum Authority<'a> {
    /// The operator at the `issue-tracker` command.
    Operator,
    /// A signed-in user (from a session or a token).
    User(&'a User),
}

/// What is being done to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction {
    /// Set a new password (which ends the account's tokens and sessions).
    SetPassword,
    /// Let the account log in again.
    Activate,
    /// Stop the account from logging in (which ends its tokens and sessions).
    Deactivate,
    /// Revoke one or all of the account's tokens.
    RevokeTokens,
    /// Issue a token owned by the account.
    IssueToken,
    /// Change the email address or the email preferences.
    EditProfile,
    /// Set the staff and superuser flags to these values.
    SetPrivileges {
        /// The staff flag wanted.
        is_staff: bool,
        /// The superuser flag wanted.
        is_superuser: bool,
    },
}

/// Why an action on an account was refused; the message is the one to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{}", self.message())]
pub enum AccountRefusal {
    /// The actor is not active staff.
    NotStaff,
    /// The target is staff or a superuser, and the actor is not a superuser.
    ProtectedAccount,
    /// Granting or taking staff or superuser status needs a superuser.
    SuperusersOnly,
    /// Nobody deactivates their own account (they would lock themselves out).
    OwnAccount,
}

impl AccountRefusal {
    /// The message to show, as a static string.
    pub fn message(self) -> &'static str {
        match self {
            AccountRefusal::NotStaff => "You do not have permission to perform this action.",
            AccountRefusal::ProtectedAccount => {
                "Only superusers may change the account of a staff member or a superuser."
            }
            AccountRefusal::SuperusersOnly => {
                "Only superusers may grant or remove staff and superuser status."
            }
            AccountRefusal::OwnAccount => "You cannot deactivate your own account.",
        }
    }
}

impl Authority<'_> {
    fn is_superuser(&self) -> bool {
        match self {
            Authority::Operator => true,
            Authority::User(user) => user.is_active && user.is_superuser,
        }
    }

    fn is_staff(&self) -> bool {
        match self {
            Authority::Operator => true,
            Authority::User(user) => user.is_active && user.has_staff_rights(),
        }
    }
}

/// May `actor` do `action` to `target`'s account?
///
/// ```
/// use chrono::Utc;
/// use issue_tracker_domain::{may_act_on, AccountAction, AccountRefusal, Authority, User, UserId};
///
/// let user = |id, staff, superuser| User {
///     id: UserId::new(id),
///     username: format!("u{id}"),
///     email: String::new(),
///     is_active: true,
///     is_staff: staff,
///     is_superuser: superuser,
///     date_joined: Utc::now(),
/// };
/// let (root, boss, ann) = (user(1, true, true), user(2, true, false), user(3, false, false));
/// let set_password = AccountAction::SetPassword;
/// assert_eq!(may_act_on(Authority::User(&boss), &ann, set_password), Ok(()));
/// assert_eq!(
///     may_act_on(Authority::User(&boss), &root, set_password),
///     Err(AccountRefusal::ProtectedAccount)
/// );
/// assert_eq!(may_act_on(Authority::User(&root), &boss, set_password), Ok(()));
/// assert_eq!(may_act_on(Authority::Operator, &root, AccountAction::Deactivate), Ok(()));
/// ```
pub fn may_act_on(
    actor: Authority<'_>,
    target: &User,
    action: AccountAction,
) -> Result<(), AccountRefusal> {
    let own = matches!(actor, Authority::User(user) if user.id == target.id);
    if own && action == AccountAction::Deactivate {
        return Err(AccountRefusal::OwnAccount);
    }
    if let AccountAction::SetPrivileges {
        is_staff,
        is_superuser,
    } = action
    {
        let unchanged = is_staff == target.is_staff && is_superuser == target.is_superuser;
        if !unchanged && !actor.is_superuser() {
            return Err(if actor.is_staff() {
                AccountRefusal::SuperusersOnly
            } else {
                AccountRefusal::NotStaff
            });
        }
    }
    if actor.is_superuser() {
        return Ok(());
    }
    if !actor.is_staff() {
        return if own && action != AccountAction::Activate {
            Ok(())
        } else {
            Err(AccountRefusal::NotStaff)
        };
    }
    if own || !(target.is_staff || target.is_superuser) {
        Ok(())
    } else {
        Err(AccountRefusal::ProtectedAccount)
    }
}

/// May `actor` create an account with these flags?
///
/// ```
/// use chrono::Utc;
/// use issue_tracker_domain::{may_create_account, AccountRefusal, Authority, User, UserId};
///
/// let boss = User {
///     id: UserId::new(2),
///     username: "boss".into(),
///     email: String::new(),
///     is_active: true,
///     is_staff: true,
///     is_superuser: false,
///     date_joined: Utc::now(),
/// };
/// assert_eq!(may_create_account(Authority::User(&boss), false, false), Ok(()));
/// assert_eq!(
///     may_create_account(Authority::User(&boss), true, false),
///     Err(AccountRefusal::SuperusersOnly)
/// );
/// assert_eq!(may_create_account(Authority::Operator, true, true), Ok(()));
/// ```
pub fn may_create_account(
    actor: Authority<'_>,
    is_staff: bool,
    is_superuser: bool,
) -> Result<(), AccountRefusal> {
    if !actor.is_staff() {
        Err(AccountRefusal::NotStaff)
    } else if (is_staff || is_superuser) && !actor.is_superuser() {
        Err(AccountRefusal::SuperusersOnly)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;

    fn user(id: i64, active: bool, staff: bool, superuser: bool) -> User {
        User {
            id: UserId::new(id),
            username: format!("u{id}"),
            email: String::new(),
            is_active: active,
            is_staff: staff,
            is_superuser: superuser,
            date_joined: chrono::Utc::now(),
        }
    }

    const ACTIONS: [AccountAction; 6] = [
        AccountAction::SetPassword,
        AccountAction::Activate,
        AccountAction::Deactivate,
        AccountAction::RevokeTokens,
        AccountAction::IssueToken,
        AccountAction::EditProfile,
    ];

    #[test]
    fn staff_manage_plain_accounts_and_nobody_elses() {
        let boss = user(2, true, true, false);
        let other_staff = user(4, true, true, false);
        let root = user(1, true, true, true);
        let ann = user(3, true, false, false);
        for action in ACTIONS {
            assert_eq!(may_act_on(Authority::User(&boss), &ann, action), Ok(()));
            for protected in [&root, &other_staff] {
                assert_eq!(
                    may_act_on(Authority::User(&boss), protected, action),
                    Err(AccountRefusal::ProtectedAccount),
                    "{action:?} on {}",
                    protected.username
                );
                assert_eq!(may_act_on(Authority::Operator, protected, action), Ok(()));
            }
            assert_eq!(
                may_act_on(Authority::User(&root), &other_staff, action),
                Ok(())
            );
        }
    }

    #[test]
    fn only_superusers_change_privileges() {
        let boss = user(2, true, true, false);
        let root = user(1, true, true, true);
        let ann = user(3, true, false, false);
        let grant = AccountAction::SetPrivileges {
            is_staff: true,
            is_superuser: false,
        };
        let keep = AccountAction::SetPrivileges {
            is_staff: false,
            is_superuser: false,
        };
        assert_eq!(
            may_act_on(Authority::User(&boss), &ann, grant),
            Err(AccountRefusal::SuperusersOnly)
        );
        assert_eq!(may_act_on(Authority::User(&boss), &ann, keep), Ok(()));
        assert_eq!(
            may_act_on(
                Authority::User(&boss),
                &boss,
                AccountAction::SetPrivileges {
                    is_staff: true,
                    is_superuser: true,
                }
            ),
            Err(AccountRefusal::SuperusersOnly)
        );
        assert_eq!(may_act_on(Authority::User(&root), &ann, grant), Ok(()));
        assert_eq!(
            may_create_account(Authority::User(&boss), true, false),
            Err(AccountRefusal::SuperusersOnly)
        );
        assert_eq!(
            may_create_account(Authority::User(&ann), false, false),
            Err(AccountRefusal::NotStaff)
        );
    }

    #[test]
    fn inactive_superusers_and_self_deactivation_get_nothing() {
        let fallen = user(1, false, true, true);
        let ann = user(3, true, false, false);
        assert_eq!(
            may_act_on(Authority::User(&fallen), &ann, AccountAction::SetPassword),
            Err(AccountRefusal::NotStaff)
        );
        let root = user(5, true, true, true);
        assert_eq!(
            may_act_on(Authority::User(&root), &root, AccountAction::Deactivate),
            Err(AccountRefusal::OwnAccount)
        );
        // Everyone manages their own password and tokens.
        assert_eq!(
            may_act_on(Authority::User(&ann), &ann, AccountAction::RevokeTokens),
            Ok(())
        );
        assert_eq!(
            may_act_on(
                Authority::User(&ann),
                &user(6, true, false, false),
                AccountAction::RevokeTokens
            ),
            Err(AccountRefusal::NotStaff)
        );
    }
}
