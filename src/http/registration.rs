//! /register: dynamic client registration (RFC 7591) and, under
//! /register/{client_id}, its management with the registration access
//! token (RFC 7592). The metadata rules are `oauth::registration`'s.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::extract::{BearerHeader, NoStore};
use super::routes;
use crate::app::AppState;
use crate::audit::{Actor, Via};
use crate::crypto::{constant_time_eq, random_token, token_hash};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::clients::{self, ClientSpec};
use crate::oauth::registration::{self, MetadataError, StoreOr};
use crate::store::{Client, ClientId};

fn metadata_error(e: MetadataError) -> OAuthError {
    let code = match e {
        MetadataError::RedirectUri(_) => ErrorCode::InvalidRedirectUri,
        MetadataError::Metadata(_) => ErrorCode::InvalidClientMetadata,
    };
    OAuthError::new(code, e.description().to_string())
}

async fn checked_apis(state: &AppState, spec: &ClientSpec, existing: Option<&Client>) -> Result<(), OAuthError> {
    match registration::check_apis(&*state.store, spec, existing).await {
        Ok(()) => Ok(()),
        Err(StoreOr::Rule(e)) => Err(metadata_error(e)),
        Err(StoreOr::Store(e)) => Err(e.into()),
    }
}

fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<registration::Metadata, OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(OAuthError::new(ErrorCode::InvalidClientMetadata, "send the metadata as application/json"));
    }
    registration::parse(body).map_err(metadata_error)
}

fn client_uri(state: &AppState, id: &str) -> String {
    format!("{}{}/{id}", state.config.issuer, routes::REGISTER)
}

const ACTOR: Actor<'static> =
    Actor { user_id: None, origin: crate::audit::Origin { ip: None, user_agent: None }, via: Via::Registration };

/// POST /register
pub async fn register(
    State(state): State<AppState>, BearerHeader(token): BearerHeader, headers: HeaderMap, body: Bytes,
) -> Result<impl IntoResponse, OAuthError> {
    let now = state.now();
    // Closed registration needs an initial access token (RFC 7591 §3),
    // minted by `latchkey clients initial-token`; each works once.
    if !state.config.registration_open {
        let token = token.ok_or_else(|| OAuthError::invalid_token("registration needs an initial access token"))?;
        if !state.store.use_initial_access_token(&token_hash(&token), now).await? {
            return Err(OAuthError::invalid_token("the initial access token is not valid"));
        }
    }
    let metadata = json_body(&headers, &body)?;
    let spec = registration::to_spec(&metadata, &state.config.registration_scopes).map_err(metadata_error)?;
    checked_apis(&state, &spec, None).await?;
    let mut new = registration::build(spec, now).map_err(metadata_error)?;
    let registration_token = random_token(32);
    new.client.registration_token_hash = Some(token_hash(&registration_token));
    clients::create(&*state.store, &state.at_rest_key, &new, ACTOR, now).await?;
    let mut doc = registration::document(&new.client, &client_uri(&state, &new.client.id));
    doc["registration_access_token"] = json!(registration_token);
    if let Some(secret) = new.secret {
        doc["client_secret"] = json!(secret);
    }
    Ok((StatusCode::CREATED, NoStore(doc)))
}

/// The client named in the path, if the registration access token is its
/// own. Anything else is `invalid_token` (RFC 7592 §2: no hint whether the
/// client exists).
async fn managed(state: &AppState, token: Option<String>, id: &ClientId) -> Result<Client, OAuthError> {
    let invalid = || OAuthError::invalid_token("the registration access token is not valid for this client");
    let token = token.ok_or_else(invalid)?;
    let client = state.store.get_client(id).await?.ok_or_else(invalid)?;
    let stored = client.registration_token_hash.as_deref().ok_or_else(invalid)?;
    if !constant_time_eq(token_hash(&token).as_bytes(), stored.as_bytes()) {
        return Err(invalid());
    }
    Ok(client)
}

/// GET /register/{client_id}
pub async fn read(
    State(state): State<AppState>, BearerHeader(token): BearerHeader, Path(id): Path<ClientId>,
) -> Result<impl IntoResponse, OAuthError> {
    let client = managed(&state, token, &id).await?;
    Ok(NoStore(registration::document(&client, &client_uri(&state, &id))))
}

/// PUT /register/{client_id}: replaces the metadata (RFC 7592 §2.2). The
/// client stays public or confidential; its id and secret stay.
pub async fn update(
    State(state): State<AppState>, BearerHeader(token): BearerHeader, headers: HeaderMap, Path(id): Path<ClientId>,
    body: Bytes,
) -> Result<impl IntoResponse, OAuthError> {
    let client = managed(&state, token, &id).await?;
    let metadata = json_body(&headers, &body)?;
    if metadata.client_id.as_deref() != Some(id.as_str()) {
        return Err(OAuthError::invalid_request("client_id in the body must be this client's id"));
    }
    let mut spec = registration::to_spec(&metadata, &state.config.registration_scopes).map_err(metadata_error)?;
    registration::keep_operator_settings(&metadata, &mut spec, &client);
    if spec.public != client.public {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "token_endpoint_auth_method cannot switch between none and a secret; register a new client",
        ));
    }
    checked_apis(&state, &spec, Some(&client)).await?;
    let client = registration::revise(&client, spec).map_err(metadata_error)?;
    clients::save(&*state.store, &client, ACTOR, state.now()).await?;
    Ok(NoStore(registration::document(&client, &client_uri(&state, &id))))
}

/// DELETE /register/{client_id}: the client, its tokens and consents go.
pub async fn delete(
    State(state): State<AppState>, BearerHeader(token): BearerHeader, Path(id): Path<ClientId>,
) -> Result<impl IntoResponse, OAuthError> {
    let client = managed(&state, token, &id).await?;
    clients::delete(&*state.store, &client.id, ACTOR, state.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
