//! Administration: pages for admins (all users and apps; disable a user,
//! delete an app) and the same operations as a JSON API for access tokens
//! with the `admin` scope (docs/admin-api.yaml). Every action is audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::browser::Browser;
use super::extract::PageParams;
use super::pages::{render, see_other};
use super::routes;
use crate::app::AppState;
use crate::audit;
use crate::error::{ErrorCode, OAuthError, PageError};
use crate::oauth::{clients, tokens};
use crate::store::User;
use crate::templates::{AdminClientLine, AdminPage, AdminUserLine};

pub const ADMIN_SCOPE: &str = "admin";

/// Disables (or re-enables) an account (see `accounts::users::set_disabled`).
pub async fn set_disabled(state: &AppState, user_id: &str, disabled: bool) -> Result<bool, PageError> {
    Ok(crate::accounts::users::set_disabled(&*state.store, user_id, disabled, state.now()).await?)
}

async fn record(state: &AppState, admin: &User, ip: Option<&str>, event: &str, target: String) {
    audit::record(
        state,
        audit::Event {
            event,
            outcome: "success",
            user_id: Some(&admin.id),
            ip,
            detail: Some(target),
            ..Default::default()
        },
    )
    .await;
}

fn forbidden() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Administrators only",
        "This page is for administrators of this server.",
    )
    .with_back(routes::ACCOUNT)
}

/// The signed-in admin; Err(redirect or 403) otherwise.
async fn admin(state: &AppState, browser: &Browser) -> Result<Result<User, Response>, PageError> {
    let Some(session) = &browser.session else {
        return Ok(Err(see_other(routes::LOGIN)));
    };
    match state.store.get_user(&session.user_id).await? {
        Some(u) if u.role == "admin" && !u.disabled => Ok(Ok(u)),
        Some(_) => Err(forbidden()),
        None => Ok(Err(see_other(routes::LOGIN))),
    }
}

/// GET /admin
pub async fn page(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        let me = match admin(&state, &browser).await? {
            Ok(u) => u,
            Err(redirect) => return Ok(redirect),
        };
        let users = state
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| AdminUserLine {
                is_me: u.id == me.id,
                id: u.id,
                username: u.username,
                email: u.email,
                role: u.role,
                disabled: u.disabled,
            })
            .collect();
        let clients = state
            .store
            .list_clients()
            .await?
            .into_iter()
            .map(|c| AdminClientLine {
                id: c.id,
                name: c.name,
                public: c.public,
                owned: c.owner_id.is_some(),
            })
            .collect();
        let notice = match params.get("done") {
            Some("disabled") => Some("The account is disabled; its sessions and tokens have ended."),
            Some("enabled") => Some("The account is enabled again."),
            Some("deleted") => Some("The app is deleted."),
            _ => None,
        };
        let page = AdminPage {
            csrf: browser.csrf.clone(),
            users,
            clients,
            notice: notice.map(str::to_string),
            is_admin: true,
        };
        Ok::<_, PageError>(render(&state, StatusCode::OK, &page))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

fn form_expired() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your safety we did not submit it. Reload the page and try again.",
    )
}

/// POST /admin/users/{id}/disable and /enable
pub async fn user_action(
    State(state): State<AppState>,
    browser: Browser,
    Path((id, action)): Path<(String, String)>,
    PageParams(params): PageParams,
) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let me = match admin(&state, &browser).await? {
            Ok(u) => u,
            Err(redirect) => return Ok(redirect),
        };
        let disabled = match action.as_str() {
            "disable" => true,
            "enable" => false,
            _ => return Err(PageError::bad_request("Unknown action.")),
        };
        if disabled && id == me.id {
            return Err(PageError::bad_request("You cannot disable your own account.").with_back(routes::ADMIN));
        }
        if set_disabled(&state, &id, disabled).await? {
            let event = if disabled {
                "admin.user_disable"
            } else {
                "admin.user_enable"
            };
            record(&state, &me, browser.ip.as_deref(), event, format!("user {id}")).await;
        }
        Ok(see_other(&format!("{}?done={action}d", routes::ADMIN)))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// POST /admin/clients/{id}/delete
pub async fn client_delete(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
    PageParams(params): PageParams,
) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let me = match admin(&state, &browser).await? {
            Ok(u) => u,
            Err(redirect) => return Ok(redirect),
        };
        if state.store.get_client(&id).await?.is_some() {
            let grants = clients::delete(&*state.store, &id, state.now()).await?.unwrap_or(0);
            let detail = format!("client {id} ({grants} grants revoked)");
            record(&state, &me, browser.ip.as_deref(), "admin.client_delete", detail).await;
        }
        Ok(see_other(&format!("{}?done=deleted", routes::ADMIN)))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// The API's caller: a valid access token with the `admin` scope, issued to
/// a person who is (still) an admin.
async fn api_admin(state: &AppState, headers: &HeaderMap) -> Result<User, OAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| OAuthError::invalid_token("an access token is required (Authorization: Bearer)"))?;
    let claims = tokens::validate_access_token(state, token.trim(), state.now()).await?;
    if !claims.scopes().any(|s| s == ADMIN_SCOPE) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token lacks the admin scope",
        ));
    }
    match state.store.get_user(&claims.sub).await? {
        Some(u) if u.role == "admin" && !u.disabled => Ok(u),
        _ => Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the token's subject is not an administrator",
        )),
    }
}

fn api<T: IntoResponse>(result: Result<T, OAuthError>) -> Response {
    result
        .map(IntoResponse::into_response)
        .unwrap_or_else(IntoResponse::into_response)
}

/// GET /admin/api/users
pub async fn api_users(State(state): State<AppState>, headers: HeaderMap) -> Response {
    api(async {
        api_admin(&state, &headers).await?;
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
    .await)
}

/// POST /admin/api/users/{id}/disable and /enable
pub async fn api_user_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    api(async {
        let me = api_admin(&state, &headers).await?;
        let disabled = match action.as_str() {
            "disable" => true,
            "enable" => false,
            _ => return Err(OAuthError::new(ErrorCode::NotFound, "no such action")),
        };
        if disabled && id == me.id {
            return Err(OAuthError::invalid_request(
                "an administrator cannot disable their own account",
            ));
        }
        let found = set_disabled(&state, &id, disabled)
            .await
            .map_err(|e| OAuthError::server(e.message))?;
        if !found {
            return Err(OAuthError::new(ErrorCode::NotFound, "no such user"));
        }
        let event = if disabled {
            "admin.user_disable"
        } else {
            "admin.user_enable"
        };
        record(&state, &me, None, event, format!("user {id} (api)")).await;
        Ok(Json(json!({ "id": id, "disabled": disabled })))
    }
    .await)
}

/// GET /admin/api/clients
pub async fn api_clients(State(state): State<AppState>, headers: HeaderMap) -> Response {
    api(async {
        api_admin(&state, &headers).await?;
        let clients = state.store.list_clients().await?;
        Ok(Json(json!({ "clients": clients })))
    }
    .await)
}

/// DELETE /admin/api/clients/{id}
pub async fn api_client_delete(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    api(async {
        let me = api_admin(&state, &headers).await?;
        if state.store.get_client(&id).await?.is_none() {
            return Err(OAuthError::new(ErrorCode::NotFound, "no such client"));
        }
        let grants = clients::delete(&*state.store, &id, state.now()).await?.unwrap_or(0);
        record(
            &state,
            &me,
            None,
            "admin.client_delete",
            format!("client {id} ({grants} grants revoked, api)"),
        )
        .await;
        Ok(StatusCode::NO_CONTENT)
    }
    .await)
}
