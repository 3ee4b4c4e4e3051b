//! `/admin/users/add/`: a new account, with the domain's rules for its username, address,
//! password and privileges (only a superuser grants staff or superuser).

use actix_web::HttpResponse;
use issue_tracker_domain::{may_create_account, Authority, Email, Username};
use issue_tracker_persistence::{NewUser, StoreError};

use super::super::account::{checked_new_password, password_fields};
use super::super::{Post, View};
use super::LIST;
use crate::error::AdminError;
use crate::session::{see_other, Staff};
use crate::views::{back_or, invalid, ok, ticked, with_notice, Field, FormPage};

/// The new-user form as submitted (or as shown).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
struct NewUserForm {
    username: String,
    email: String,
    new_password1: String,
    new_password2: String,
    #[serde(deserialize_with = "ticked")]
    is_staff: bool,
    #[serde(deserialize_with = "ticked")]
    is_superuser: bool,
    /// Where the page goes back to.
    back: String,
}

fn add_fields(form: &NewUserForm) -> Vec<Field> {
    let mut fields = vec![
        Field::text("username", "Username", form.username.clone())
            .help("Letters, digits and @ . + - _ only; at most 150 characters."),
        Field::text("email", "Email address", form.email.clone()).optional(),
    ];
    fields.extend(password_fields(false));
    fields.push(Field::checkbox(
        "is_staff",
        "Staff (may use this admin)",
        form.is_staff,
    ));
    fields.push(Field::checkbox(
        "is_superuser",
        "Superuser (may grant staff and superuser)",
        form.is_superuser,
    ));
    fields
}

fn add_page(staff: &Staff, form: &NewUserForm, errors: &[(String, String)]) -> FormPage {
    FormPage::new(
        staff,
        "users",
        "Add user".into(),
        "/admin/users/add/".into(),
        add_fields(form),
        errors,
        back_or(
            Some(&form.back)
                .filter(|b| !b.is_empty())
                .map(String::as_str),
            LIST,
        ),
    )
}

/// `GET /admin/users/add/`.
pub async fn add_form(view: View) -> Result<HttpResponse, AdminError> {
    let (staff, query, _) = view.parts();
    Ok(ok(&add_page(&staff, &query.to()?, &[])))
}

/// `POST /admin/users/add/`.
pub async fn add(post: Post) -> Result<HttpResponse, AdminError> {
    let Post {
        staff,
        form,
        back: _,
        state,
        origin: _,
    } = post;
    let form: NewUserForm = form.to()?;
    let mut errors: Vec<(String, String)> = Vec::new();
    let username = Username::parse(&form.username)
        .map_err(|e| errors.push(("username".into(), e.to_string())))
        .ok();
    let email = Email::parse(&form.email)
        .map_err(|e| errors.push(("email".into(), e)))
        .ok();
    let password = checked_new_password(&form.new_password1, &form.new_password2)
        .map_err(|mut e| errors.append(&mut e))
        .ok();
    let (is_staff, is_superuser) = (form.is_staff, form.is_superuser);
    if let Err(refusal) = may_create_account(Authority::User(&staff.user), is_staff, is_superuser) {
        errors.push(("is_staff".into(), refusal.to_string()));
    }
    let (Some(username), Some(email), Some(password), true) =
        (username, email, password, errors.is_empty())
    else {
        return Ok(invalid(&add_page(&staff, &form, &errors)));
    };
    let cost = state.settings.accounts.bcrypt_cost;
    let origin = staff.origin();
    let created = state
        .run(move |db| {
            let password_hash = bcrypt::hash(password.expose(), cost)
                .map_err(|e| issue_tracker_web::ApiError::Internal(e.to_string()))?;
            let new = NewUser {
                username: username.as_str().to_owned(),
                email: email.as_str().to_owned(),
                password_hash,
                is_staff,
                is_superuser,
            };
            match db.create_user(&new, &origin) {
                Ok(user) => Ok(Some(user)),
                Err(StoreError::Conflict) => Ok(None),
                Err(other) => Err(other.into()),
            }
        })
        .await?;
    match created {
        Some(user) => Ok(see_other(&with_notice(
            &format!(
                "/admin/users/{}/?back={}",
                user.id.get(),
                crate::views::encode(&back_or(
                    Some(&form.back)
                        .filter(|b| !b.is_empty())
                        .map(String::as_str),
                    LIST
                ))
            ),
            "added",
        ))),
        None => Ok(invalid(&add_page(
            &staff,
            &form,
            &[(
                "username".into(),
                "A user with that username already exists.".into(),
            )],
        ))),
    }
}
