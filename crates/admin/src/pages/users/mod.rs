//! `/admin/users/`: list (search, filters), add, change (email, active, staff, superuser: only
//! superusers grant or take staff and superuser), set a password, revoke tokens.

use actix_web::{web, HttpResponse};
use issue_tracker_domain::{
    may_act_on, AccountAction, AccountRefusal, Authority, Email, NotificationPreferences, User,
    UserId,
};
use issue_tracker_persistence::{
    Database, EventFilter, PreferenceChanges, UserChanges, UserFilter, UserOrder,
};

use super::account::{password_fields, PasswordForm};
use super::{path_id, Post, View};
use crate::error::AdminError;
use crate::session::{see_other, Staff};
use crate::views::{
    back_or, column, invalid, notice, ok, paged, plain_column, ticked, with_notice, Cell, Chrome,
    EventView, Field, Filter, FormData, FormPage, Link, ListPage, Row,
};

mod add;
pub use add::{add, add_form};

const LIST: &str = "/admin/users/";
/// A refusal of the account rule, as the page's 403.
fn refused(refusal: AccountRefusal) -> issue_tracker_web::ApiError {
    issue_tracker_web::ApiError::ForbiddenBecause(refusal.message().to_owned())
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

fn flag(query: &FormData, name: &str) -> Option<bool> {
    match query.get(name) {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    }
}

/// `GET /admin/users/`.
pub async fn list(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let filter = UserFilter {
        search: query
            .get("q")
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| q.chars().take(200).collect()),
        is_active: flag(&query, "active"),
        is_staff: flag(&query, "staff"),
        order: match query.get("order") {
            Some("username") => UserOrder::Username,
            Some("-date_joined") => UserOrder::DateJoinedDescending,
            _ => UserOrder::Id,
        },
    };
    let asked = query.clone();
    let (users, pager) = state
        .run(move |db| {
            paged(
                LIST,
                &asked,
                || Ok(db.list_users_page(&filter, 0, 0)?.1),
                |offset, limit| Ok(db.list_users_page(&filter, offset, limit)?.0),
            )
        })
        .await?;
    let back = format!("{LIST}?{}", query.query_without(&["notice"]));
    let rows = users
        .iter()
        .map(|user| {
            let href = format!(
                "/admin/users/{}/?back={}",
                user.id.get(),
                crate::views::encode(&back)
            );
            Row {
                id: user.id.get().to_string(),
                cells: vec![
                    Cell::link(user.username.clone(), href),
                    Cell::text(user.email.clone()),
                    Cell::text(yes_no(user.is_active)),
                    Cell::text(yes_no(user.is_staff)),
                    Cell::text(yes_no(user.is_superuser)),
                    Cell::text(user.date_joined.format("%Y-%m-%d").to_string()),
                ],
            }
        })
        .collect();
    let yes_no_filter: &[(&str, &str)] = &[("", "All"), ("yes", "yes"), ("no", "no")];
    Ok(ok(&ListPage {
        chrome: Chrome::new(&staff, "users"),
        title: "Users".into(),
        path: LIST.into(),
        search_label: "Search usernames and emails",
        search: query.text("q"),
        filters: vec![
            Filter::select("active", "Active", yes_no_filter, &query),
            Filter::select("staff", "Staff", yes_no_filter, &query),
        ],
        order: query.text("order"),
        columns: vec![
            column("Username", "username", LIST, &query),
            plain_column("Email"),
            plain_column("Active"),
            plain_column("Staff"),
            plain_column("Superuser"),
            column("Joined", "-date_joined", LIST, &query),
        ],
        rows,
        pager,
        bulk_actions: Vec::new(),
        actions: Vec::new(),
        add_href: format!("/admin/users/add/?back={}", crate::views::encode(&back)),
        notice: notice(&query),
        back,
    }))
}

fn load(db: &Database, id: i64) -> Result<User, AdminError> {
    db.find_user_by_id(UserId::new(id))?
        .ok_or(AdminError::NotFound)
}

fn change_page(
    staff: &Staff,
    user: &User,
    values: &UserForm,
    errors: &[(String, String)],
    back: String,
    notice: String,
    extras: Extras,
) -> FormPage {
    let fields = vec![
        Field::text("email", "Email address", values.email.clone()).optional(),
        Field::checkbox(
            "is_active",
            "Active (may log in and use tokens)",
            values.is_active,
        ),
        Field::checkbox("is_staff", "Staff (may use this admin)", values.is_staff),
        Field::checkbox(
            "is_superuser",
            "Superuser (may grant staff and superuser)",
            values.is_superuser,
        ),
        Field::checkbox(
            "notify_assignment",
            "Email when an issue is assigned to them",
            values.notify_assignment,
        ),
        Field::checkbox(
            "notify_report",
            "The consolidated report of their assigned issues",
            values.notify_report,
        ),
        Field::checkbox(
            "notify_activity",
            "Emails about the issues they watch",
            values.notify_activity,
        ),
    ];
    let id = user.id.get();
    FormPage {
        links: vec![Link {
            label: "Set a new password".into(),
            href: format!(
                "/admin/users/{id}/password/?back={}",
                crate::views::encode(&back)
            ),
        }],
        actions: std::iter::once((
            "Revoke all API tokens".to_owned(),
            format!("/admin/users/{id}/revoke-tokens/"),
        ))
        .chain(extras.tokens.iter().map(|token| {
            let used = token.last_used_at.map_or("never used".to_owned(), |at| {
                format!("last used {}", day(&at))
            });
            (
                format!(
                    "Revoke token {}…{} (issued {}, {used}, expires {})",
                    token.prefix,
                    if token.scopes.is_restricted() {
                        format!(" [{}]", token.scopes.names().join(", "))
                    } else {
                        String::new()
                    },
                    day(&token.created_at),
                    day(&token.expires_at)
                ),
                format!("/admin/users/{id}/tokens/{}/revoke/", token.id),
            )
        }))
        .collect(),
        notice,
        history: Some(extras.events),
        ..FormPage::new(
            staff,
            "users",
            format!("Change user {}", user.username),
            format!("/admin/users/{id}/"),
            fields,
            errors,
            back,
        )
    }
}

/// A user's form as submitted (or as shown): the address as typed, each box ticked or not.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
struct UserForm {
    email: String,
    #[serde(deserialize_with = "ticked")]
    is_active: bool,
    #[serde(deserialize_with = "ticked")]
    is_staff: bool,
    #[serde(deserialize_with = "ticked")]
    is_superuser: bool,
    #[serde(deserialize_with = "ticked")]
    notify_assignment: bool,
    #[serde(deserialize_with = "ticked")]
    notify_report: bool,
    #[serde(deserialize_with = "ticked")]
    notify_activity: bool,
}

impl UserForm {
    /// The form showing a user as they are.
    fn of(user: &User, preferences: NotificationPreferences) -> UserForm {
        UserForm {
            email: user.email.clone(),
            is_active: user.is_active,
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            notify_assignment: preferences.assignment,
            notify_report: preferences.report,
            notify_activity: preferences.activity,
        }
    }
}

/// What a user's page shows besides the form: the events about them (newest first) and their
/// tokens that still work.
struct Extras {
    events: Vec<EventView>,
    tokens: Vec<issue_tracker_persistence::TokenInfo>,
}

fn extras(db: &Database, user: &User) -> Result<Extras, AdminError> {
    let filter = EventFilter {
        user: Some(user.id.get()),
        ..EventFilter::default()
    };
    let (events, _) = db.list_events(&filter, 0, 100)?;
    let now = chrono::Utc::now();
    let tokens = db
        .list_tokens(user.id)?
        .into_iter()
        .filter(|token| token.expires_at > now)
        .collect();
    Ok(Extras {
        events: events.iter().map(EventView::from).collect(),
        tokens,
    })
}

fn day(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// `GET /admin/users/<id>/`.
pub async fn change_form(id: web::Path<String>, view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let id = path_id(&id)?;
    let (user, preferences, extras) = state
        .run(move |db| {
            let user = load(db, id)?;
            let preferences = db
                .notification_preferences(user.id)?
                .ok_or(AdminError::NotFound)?;
            let extras = extras(db, &user)?;
            Ok((user, preferences, extras))
        })
        .await?;
    Ok(ok(&change_page(
        &staff,
        &user,
        &UserForm::of(&user, preferences),
        &[],
        back_or(query.get("back"), LIST),
        notice(&query),
        extras,
    )))
}

/// `POST /admin/users/<id>/`.
pub async fn change(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = path_id(&id)?;
    let (staff, form, back, state, origin) = post.parts();
    let caller = staff.user.clone();
    let form: UserForm = form.to()?;
    let submitted = form.clone();
    let outcome = state
        .run(move |db| {
            let user = load(db, id)?;
            let mut errors: Vec<(String, String)> = Vec::new();
            let email = Email::parse(&submitted.email)
                .map_err(|e| errors.push(("email".into(), e)))
                .ok();
            let changes = UserChanges {
                email: email.map(|e| e.as_str().to_owned()),
                is_active: Some(submitted.is_active),
                is_staff: Some(submitted.is_staff),
                is_superuser: Some(submitted.is_superuser),
            };
            let actor = Authority::User(&caller);
            may_act_on(actor, &user, AccountAction::EditProfile).map_err(refused)?;
            let privileges = AccountAction::SetPrivileges {
                is_staff: submitted.is_staff,
                is_superuser: submitted.is_superuser,
            };
            if let Err(refusal) = may_act_on(actor, &user, privileges) {
                errors.push(("is_staff".into(), refusal.to_string()));
            }
            let activity = match submitted.is_active {
                true => AccountAction::Activate,
                false => AccountAction::Deactivate,
            };
            if changes.is_active != Some(user.is_active) {
                if let Err(refusal) = may_act_on(actor, &user, activity) {
                    errors.push(("is_active".into(), refusal.to_string()));
                }
            }
            if !errors.is_empty() {
                let extras = extras(db, &user)?;
                return Ok(Err((user, errors, extras)));
            }
            db.update_user(user.id, &changes, &origin)?;
            let preferences = PreferenceChanges {
                assignment: Some(submitted.notify_assignment),
                report: Some(submitted.notify_report),
                activity: Some(submitted.notify_activity),
                ..PreferenceChanges::default()
            };
            db.set_notification_preferences(user.id, preferences, &origin)?;
            Ok(Ok(()))
        })
        .await?;
    match outcome {
        Ok(()) => Ok(see_other(&with_notice(&back, "saved"))),
        Err((user, errors, extras)) => Ok(invalid(&change_page(
            &staff,
            &user,
            &form,
            &errors,
            back,
            String::new(),
            extras,
        ))),
    }
}

fn password_page(
    staff: &Staff,
    user: &User,
    errors: &[(String, String)],
    back: String,
) -> FormPage {
    FormPage {
        submit: "Set password",
        notice: "Their API tokens and admin sessions end when the password changes.".into(),
        ..FormPage::new(
            staff,
            "users",
            format!("Set a password for {}", user.username),
            format!("/admin/users/{}/password/", user.id.get()),
            password_fields(false),
            errors,
            back,
        )
    }
}

/// `GET /admin/users/<id>/password/`.
pub async fn password_form(id: web::Path<String>, view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, state) = view.parts();
    let id = path_id(&id)?;
    let user = state
        .run(move |db| load(db, id).map_err(Into::into))
        .await?;
    Ok(ok(&password_page(
        &staff,
        &user,
        &[],
        back_or(query.get("back"), LIST),
    )))
}

/// `POST /admin/users/<id>/password/`.
pub async fn set_password(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = path_id(&id)?;
    let (staff, form, back, state, origin) = post.parts();
    let caller = staff.user.clone();
    let user = state
        .run(move |db| {
            let user = load(db, id)?;
            may_act_on(Authority::User(&caller), &user, AccountAction::SetPassword)
                .map_err(refused)?;
            Ok(user)
        })
        .await?;
    let typed: PasswordForm = form.to()?;
    let password = match typed.password() {
        Ok(password) => password,
        Err(errors) => return Ok(invalid(&password_page(&staff, &user, &errors, back))),
    };
    let cost = state.settings.accounts.bcrypt_cost;
    let caller = staff.user.clone();
    state
        .run(move |db| {
            let hash = bcrypt::hash(password.expose(), cost)
                .map_err(|e| issue_tracker_web::ApiError::Internal(e.to_string()))?;
            // Checked again with the account as it is now: it may have been promoted meanwhile.
            let user = load(db, id)?;
            may_act_on(Authority::User(&caller), &user, AccountAction::SetPassword)
                .map_err(refused)?;
            db.set_password_hash(&user.username, &hash, &origin)?;
            Ok(())
        })
        .await?;
    Ok(see_other(&with_notice(
        &format!("/admin/users/{id}/?back={}", crate::views::encode(&back)),
        "password",
    )))
}

/// `POST /admin/users/<id>/revoke-tokens/`.
pub async fn revoke_tokens(id: web::Path<String>, post: Post) -> Result<HttpResponse, AdminError> {
    let id = path_id(&id)?;
    let Post {
        staff,
        form: _,
        back,
        state,
        origin,
    } = post;
    state
        .run(move |db| {
            let user = load(db, id)?;
            may_act_on(
                Authority::User(&staff.user),
                &user,
                AccountAction::RevokeTokens,
            )
            .map_err(refused)?;
            db.revoke_all_tokens(&user, &origin)?;
            Ok(())
        })
        .await?;
    Ok(see_other(&with_notice(
        &format!("/admin/users/{id}/?back={}", crate::views::encode(&back)),
        "revoked",
    )))
}

/// `POST /admin/users/<id>/tokens/<token>/revoke/`: revokes one token.
pub async fn revoke_token(
    path: web::Path<(String, String)>,
    post: Post,
) -> Result<HttpResponse, AdminError> {
    let (id, token) = path.into_inner();
    let id = path_id(&id)?;
    let token = issue_tracker_domain::TokenId::parse(&token).ok_or(AdminError::NotFound)?;
    let (staff, _, back, state, origin) = post.parts();
    state
        .run(move |db| {
            let user = load(db, id)?;
            may_act_on(
                Authority::User(&staff.user),
                &user,
                AccountAction::RevokeTokens,
            )
            .map_err(refused)?;
            if !db.revoke_token(&user, token, &origin)? {
                return Err(AdminError::NotFound.into());
            }
            Ok(())
        })
        .await?;
    Ok(see_other(&with_notice(
        &format!("/admin/users/{id}/?back={}", crate::views::encode(&back)),
        "revoked",
    )))
}
