//! Administration: pages for admins (all users, apps and APIs; disable a
//! user, delete an app) and the same operations as a JSON API for access tokens
//! with the `admin` scope (docs/admin-api.yaml). The rules, and their audit
//! events, are `accounts::users::set_disabled` and `oauth::clients::delete`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::{Admin, Bearer, Form, PageParams};
use super::pages::{render, see_other};
use super::routes;
use crate::accounts::users::{self, Toggle};
use crate::app::AppState;
use crate::audit::{Actor, Origin, Via};
use crate::error::{ErrorCode, OAuthError, PageError};
use crate::oauth::{clients, scopes, tokens};
use crate::store::{ClientId, Role, User};
use crate::templates::{AdminApiLine, AdminClientLine, AdminPage, AdminUserLine, ConfirmPage};

fn page_actor(admin: &Admin) -> Actor<'_> {
    Actor { user_id: Some(&admin.0.user.id), origin: admin.0.browser.origin(), via: Via::AdminPage }
}

/// GET /admin
pub async fn page(
    State(state): State<AppState>, admin: Admin, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let me = &admin.0.user;
    let all_users = state.store.list_users().await?;
    let owners: std::collections::HashMap<&str, &User> = all_users.iter().map(|u| (u.id.as_str(), u)).collect();
    let clients = state
        .store
        .list_clients()
        .await?
        .into_iter()
        .map(|c| AdminClientLine {
            unverified: clients::unverified(&c, c.owner_id.as_deref().and_then(|id| owners.get(id).copied())),
            verified: c.verified,
            first_party: c.skip_consent,
            owned: c.owner_id.is_some(),
            id: c.id,
            name: c.name,
            public: c.public,
        })
        .collect();
    let users = all_users
        .into_iter()
        .map(|u| AdminUserLine {
            is_me: u.id == me.id,
            id: u.id,
            username: u.username,
            email: u.email,
            role: u.role.to_string(),
            disabled: u.disabled,
        })
        .collect();
    let apis = state
        .store
        .list_apis()
        .await?
        .iter()
        .map(|a| AdminApiLine {
            id: a.id.clone(),
            name: a.name.clone(),
            identifier: a.identifier.clone(),
            owned: a.owner_id.is_some(),
        })
        .collect();
    let notice = match params.get("done") {
        Some("disabled") => Some("The account is disabled; its sessions and tokens have ended."),
        Some("enabled") => Some("The account is enabled again."),
        Some("deleted") => Some("The app is deleted."),
        Some("app-trust") => Some("The app's trust setting is saved."),
        Some("api-deleted") => Some("The API is deleted."),
        _ => None,
    };
    let page = AdminPage {
        csrf: admin.0.browser.csrf.clone(),
        users,
        clients,
        apis,
        notice: notice.map(str::to_string),
        is_admin: true,
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// `disable` or `enable` as a flag.
fn disabling(action: &str) -> Option<bool> {
    match action {
        "disable" => Some(true),
        "enable" => Some(false),
        _ => None,
    }
}

/// POST /admin/users/{id}/disable
pub async fn disable_user(
    State(state): State<AppState>, admin: Admin, Path(id): Path<String>, Form(_): Form,
) -> Result<Response, PageError> {
    user_action(&state, &admin, &id, true).await
}

/// POST /admin/users/{id}/enable
pub async fn enable_user(
    State(state): State<AppState>, admin: Admin, Path(id): Path<String>, Form(_): Form,
) -> Result<Response, PageError> {
    user_action(&state, &admin, &id, false).await
}

async fn user_action(state: &AppState, admin: &Admin, id: &str, disabled: bool) -> Result<Response, PageError> {
    let action = if disabled { "disable" } else { "enable" };
    match users::set_disabled(&*state.store, id, disabled, page_actor(admin), state.now()).await? {
        Toggle::OwnAccount => {
            Err(PageError::bad_request("You cannot disable your own account.").with_back(routes::ADMIN))
        }
        Toggle::NoSuchUser => Err(PageError::bad_request("There is no such account.").with_back(routes::ADMIN)),
        Toggle::Done => Ok(see_other(&format!("{}?done={action}d", routes::ADMIN))),
    }
}

/// GET /admin/users/{id}/disable: what disabling does, to confirm.
pub async fn confirm_disable(
    State(state): State<AppState>, admin: Admin, Path(id): Path<String>,
) -> Result<Response, PageError> {
    let user = state.store.get_user(&id).await?.ok_or_else(|| {
        PageError::new(StatusCode::NOT_FOUND, "No such account", "It may have been removed.").with_back(routes::ADMIN)
    })?;
    let page = ConfirmPage {
        csrf: admin.0.browser.csrf.clone(),
        heading: format!("Disable @{}?", user.username),
        question: format!("@{} ({}) can no longer sign in.", user.username, user.email),
        consequence: "Every session of the account ends and every app it allowed is signed out at once. \
                      Enabling it again lets the person sign in; the apps must ask again."
            .into(),
        action: format!("/admin/users/{}/disable", user.id),
        confirm_label: "Disable account".into(),
        cancel_href: routes::ADMIN.into(),
        fields: Vec::new(),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// GET /admin/clients/{id}/delete: what deleting does, to confirm.
pub async fn confirm_client_delete(
    State(state): State<AppState>, admin: Admin, Path(id): Path<ClientId>,
) -> Result<Response, PageError> {
    let client = state.store.get_client(&id).await?.ok_or_else(|| {
        PageError::new(StatusCode::NOT_FOUND, "No such app", "It may have been deleted.").with_back(routes::ADMIN)
    })?;
    let page = ConfirmPage {
        csrf: admin.0.browser.csrf.clone(),
        heading: format!("Delete {}?", client.name),
        question: format!("Client ID {} stops working at once.", client.id.as_str()),
        consequence: "Everyone signed in to it is signed out (all its tokens end) and their consents are removed. \
                      This cannot be undone."
            .into(),
        action: format!("/admin/clients/{}/delete", client.id.as_str()),
        confirm_label: "Delete app".into(),
        cancel_href: routes::ADMIN.into(),
        fields: Vec::new(),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /admin/clients/{id}/trust: `set` is `verified` or `unverified`
/// (the consent page's notice), `first-party` or `third-party` (whether
/// people are asked to consent at all).
pub async fn client_trust(
    State(state): State<AppState>, admin: Admin, Path(id): Path<ClientId>, Form(params): Form,
) -> Result<Response, PageError> {
    let mut client = state.store.get_client(&id).await?.ok_or_else(|| {
        PageError::new(StatusCode::NOT_FOUND, "No such app", "It may have been deleted.").with_back(routes::ADMIN)
    })?;
    match params.get("set") {
        Some("verified") => client.verified = true,
        Some("unverified") => client.verified = false,
        Some("first-party") => client.skip_consent = true,
        Some("third-party") => client.skip_consent = false,
        _ => return Err(PageError::bad_request("Unknown setting.").with_back(routes::ADMIN)),
    }
    clients::save(&*state.store, &client, page_actor(&admin), state.now()).await?;
    Ok(see_other(&format!("{}?done=app-trust", routes::ADMIN)))
}

/// POST /admin/clients/{id}/delete
pub async fn client_delete(
    State(state): State<AppState>, admin: Admin, Path(id): Path<ClientId>, Form(_): Form,
) -> Result<Response, PageError> {
    clients::delete(&*state.store, &id, page_actor(&admin), state.now()).await?;
    Ok(see_other(&format!("{}?done=deleted", routes::ADMIN)))
}

/// The API's caller: a valid access token with the `admin` scope, issued to
/// a person who is (still) an admin.
async fn api_admin(state: &AppState, bearer: &Bearer) -> Result<User, OAuthError> {
    let claims = tokens::validate_presented(state.provider(), &bearer.presented(), state.now()).await?;
    if !claims.scopes().any(|s| s == scopes::ADMIN) {
        return Err(OAuthError::new(ErrorCode::InsufficientScope, "the access token lacks the admin scope"));
    }
    match state.store.get_user(&claims.sub).await? {
        Some(u) if u.role == Role::Admin && !u.disabled => Ok(u),
        _ => Err(OAuthError::new(ErrorCode::AccessDenied, "the token's subject is not an administrator")),
    }
}

fn api_actor(me: &User) -> Actor<'_> {
    Actor { user_id: Some(&me.id), origin: Origin::default(), via: Via::AdminApi }
}

/// GET /admin/api/users
pub async fn api_users(State(state): State<AppState>, bearer: Bearer) -> Result<impl IntoResponse, OAuthError> {
    api_admin(&state, &bearer).await?;
    let users: Vec<_> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| {
            json!({
                "id": u.id, "username": u.username, "email": u.email, "email_verified": u.email_verified,
                "role": u.role, "disabled": u.disabled, "created_at": u.created_at,
            })
        })
        .collect();
    Ok(Json(json!({ "users": users })))
}

/// POST /admin/api/users/{id}/disable and /enable
pub async fn api_user_action(
    State(state): State<AppState>, Path((id, action)): Path<(String, String)>, bearer: Bearer,
) -> Result<impl IntoResponse, OAuthError> {
    let me = api_admin(&state, &bearer).await?;
    let disabled = disabling(&action).ok_or_else(|| OAuthError::new(ErrorCode::NotFound, "no such action"))?;
    match users::set_disabled(&*state.store, &id, disabled, api_actor(&me), state.now()).await? {
        Toggle::OwnAccount => Err(OAuthError::invalid_request("an administrator cannot disable their own account")),
        Toggle::NoSuchUser => Err(OAuthError::new(ErrorCode::NotFound, "no such user")),
        Toggle::Done => Ok(Json(json!({ "id": id, "disabled": disabled }))),
    }
}

/// GET /admin/api/clients
pub async fn api_clients(State(state): State<AppState>, bearer: Bearer) -> Result<impl IntoResponse, OAuthError> {
    api_admin(&state, &bearer).await?;
    let clients = state.store.list_clients().await?;
    Ok(Json(json!({ "clients": clients })))
}

/// DELETE /admin/api/clients/{id}
pub async fn api_client_delete(
    State(state): State<AppState>, Path(id): Path<ClientId>, bearer: Bearer,
) -> Result<impl IntoResponse, OAuthError> {
    let me = api_admin(&state, &bearer).await?;
    match clients::delete(&*state.store, &id, api_actor(&me), state.now()).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(OAuthError::new(ErrorCode::NotFound, "no such client")),
    }
}
