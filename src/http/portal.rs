//! The developer portal: people register and manage their own OAuth apps
//! (like GitHub's "OAuth Apps" settings). Admins may open anyone's. The
//! rules are `oauth::clients`'.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::browser::Browser;
use super::extract::{Form, PageParams, SignedIn};
use super::pages::{render, see_other};
use super::reveal::{self, Shown};
use super::routes;
use crate::app::AppState;
use crate::audit::{Actor, Via};
use crate::error::PageError;
use crate::oauth::apis;
use crate::oauth::clients::{self, APP_TYPES, ClientSpec};
use crate::oauth::params::Params;
use crate::store::{Client, ClientId, Role, User};
use crate::templates::{AppDetail, AppFormPage, AppFormValues, AppPage, AppSummary, AppsPage, ConfirmPage, TypeOption};

fn not_found() -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "No such app", "It does not exist, or it is not yours.")
        .with_back(routes::DEVELOPER_APPS)
}

/// The app `id`, if this person owns it or is an admin; otherwise "not
/// found", so ids of others' apps reveal nothing.
async fn owned(state: &AppState, user: &User, id: &ClientId) -> Result<Client, PageError> {
    let client = state.store.get_client(id).await?.ok_or_else(not_found)?;
    if clients::may_manage(&client, user) { Ok(client) } else { Err(not_found()) }
}

fn actor(me: &SignedIn) -> Actor<'_> {
    Actor { user_id: Some(&me.user.id), origin: me.browser.origin(), via: Via::Portal }
}

fn type_label(kind: Option<&str>) -> String {
    APP_TYPES
        .iter()
        .find(|(k, _)| Some(*k) == kind)
        .map(|(_, label)| label.to_string())
        .unwrap_or_else(|| "Registered by an operator".into())
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn optional(params: &Params, name: &str) -> Option<String> {
    params.get(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

fn form_values(params: &Params) -> AppFormValues {
    AppFormValues {
        name: params.get("name").unwrap_or("").trim().to_string(),
        homepage: params.get("homepage").unwrap_or("").trim().to_string(),
        logo_url: params.get("logo_url").unwrap_or("").trim().to_string(),
        policy_uri: params.get("policy_uri").unwrap_or("").trim().to_string(),
        tos_uri: params.get("tos_uri").unwrap_or("").trim().to_string(),
        app_type: params.get("app_type").unwrap_or("web").to_string(),
        auth_method: params.get("auth_method").unwrap_or("client_secret_basic").to_string(),
        redirect_uris: params.get("redirect_uris").unwrap_or("").to_string(),
        post_logout_redirect_uris: params.get("post_logout_redirect_uris").unwrap_or("").to_string(),
        jwks: params.get("jwks").unwrap_or("").trim().to_string(),
        jwks_uri: params.get("jwks_uri").unwrap_or("").trim().to_string(),
        require_par: params.get("require_par") == Some("yes"),
        dpop: params.get("dpop") == Some("yes"),
        fapi2: params.get("fapi2") == Some("yes"),
        signed_requests: params.get("signed_requests") == Some("yes"),
        auth_signing_alg: params.get("auth_signing_alg").unwrap_or("").to_string(),
        request_object_signing_alg: params.get("request_object_signing_alg").unwrap_or("").to_string(),
        allowed_resources: params.get("allowed_resources").unwrap_or("").to_string(),
        exchange_targets: params.get("exchange_targets").unwrap_or("").to_string(),
        scopes: params.get("scopes").unwrap_or("").to_string(),
    }
}

/// The form's APIs onto a spec. What an app may exchange tokens for is an
/// admin's to grant (RFC 8693 §5); others keep what the app has (`kept`).
/// A machine app's scopes are checked against the APIs the person manages.
async fn apis_of(
    state: &AppState, me: &User, spec: ClientSpec, values: &AppFormValues, kept: &[String], kept_scopes: &[String],
) -> Result<Result<ClientSpec, String>, PageError> {
    let allowed_resources = match apis::parse_identifiers(&values.allowed_resources) {
        Ok(list) => list,
        Err(why) => return Ok(Err(format!("APIs it may ask for: {why}"))),
    };
    let token_exchange_targets = if me.role == Role::Admin {
        match apis::parse_identifiers(&values.exchange_targets) {
            Ok(list) => list,
            Err(why) => return Ok(Err(format!("APIs it may exchange for: {why}"))),
        }
    } else {
        kept.to_vec()
    };
    let named = [&allowed_resources[..], &token_exchange_targets[..]].concat();
    if let Some(why) = apis::unregistered(&*state.store, &named).await? {
        return Ok(Err(why));
    }
    // A machine app's scopes are API scopes; other apps keep theirs (the
    // person grants those at sign-in).
    let scopes = if values.app_type == "machine" {
        let requested: Vec<String> = values.scopes.split_whitespace().map(str::to_string).collect();
        if let Err(why) = apis::check_machine_scopes(&*state.store, me, &requested, kept_scopes).await? {
            return Ok(Err(why));
        }
        requested
    } else {
        spec.scopes.clone()
    };
    Ok(Ok(ClientSpec { allowed_resources, token_exchange_targets, scopes, ..spec }))
}

/// The form's key and security settings onto a client spec; keys and the
/// profile only for apps that authenticate.
fn security(spec: ClientSpec, values: &AppFormValues) -> ClientSpec {
    let keyed = !spec.public;
    let text = |v: &str| (keyed && !v.is_empty()).then(|| v.to_string());
    ClientSpec {
        jwks: text(&values.jwks),
        jwks_uri: text(&values.jwks_uri),
        require_pushed_authorization_requests: values.require_par,
        dpop_bound_access_tokens: values.dpop,
        security_profile: (keyed && values.fapi2).then(|| clients::FAPI2.to_string()),
        require_signed_request_object: keyed && values.signed_requests,
        token_endpoint_auth_signing_alg: text(&values.auth_signing_alg),
        request_object_signing_alg: text(&values.request_object_signing_alg),
        ..spec
    }
}

fn form_page(me: &SignedIn, app_id: Option<&str>, values: AppFormValues, error: Option<String>) -> AppFormPage {
    AppFormPage {
        csrf: me.browser.csrf.clone(),
        app_id: app_id.map(str::to_string),
        is_admin: me.user.role == Role::Admin,
        types: APP_TYPES
            .iter()
            .map(|(k, label)| TypeOption {
                value: k.to_string(),
                label: label.to_string(),
                checked: values.app_type == *k,
            })
            .collect(),
        values,
        error,
    }
}

fn detail(state: &AppState, client: &Client) -> AppDetail {
    let issuer = &state.config.issuer;
    let authorize_example = client.redirect_uris.first().map(|redirect| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid profile email")
            .append_pair("state", "STATE")
            .append_pair("code_challenge", "BASE64URL(SHA256(CODE_VERIFIER))")
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("{issuer}{}?{query}", routes::AUTHORIZE)
    });
    AppDetail {
        id: client.id.clone(),
        name: client.name.clone(),
        type_label: type_label(client.app_type.as_deref()),
        public: client.public,
        homepage: client.homepage.clone(),
        logo_url: client.logo_url.clone(),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        grant_types: client.grant_types.clone(),
        token_endpoint_auth_method: client.token_endpoint_auth_method.clone(),
        keys: match (&client.jwks, &client.jwks_uri) {
            (Some(jwks), _) => {
                let count = serde_json::from_str::<serde_json::Value>(jwks)
                    .ok()
                    .and_then(|v| v["keys"].as_array().map(Vec::len))
                    .unwrap_or(0);
                Some(format!("a registered JWK set ({count} key{})", if count == 1 { "" } else { "s" }))
            }
            (None, Some(uri)) => Some(format!("fetched from {uri}")),
            (None, None) => None,
        },
        requirements: [
            (client.security_profile.as_deref() == Some(clients::FAPI2), "the FAPI 2.0 profile".to_string()),
            (client.require_pushed_authorization_requests, "pushed authorization requests (PAR)".into()),
            (client.dpop_bound_access_tokens, "DPoP-bound tokens".into()),
            (client.require_signed_request_object, "signed request objects".into()),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, words)| words)
        .chain(client.token_endpoint_auth_signing_alg.as_ref().map(|a| format!("{a} client assertions")))
        .chain(client.request_object_signing_alg.as_ref().map(|a| format!("{a} request objects")))
        .collect(),
        created: crate::clock::utc_text(client.created_at),
        discovery_url: format!("{issuer}{}", routes::DISCOVERY),
        authorize_example,
        old_secret_until: client.old_secret_expires_at.filter(|t| *t > state.now()).map(crate::clock::utc_text),
        allowed_resources: client.allowed_resources.clone(),
        token_exchange_targets: client.token_exchange_targets.clone(),
        api_scopes: client.scopes.iter().filter(|s| !crate::oauth::scopes::is_user_scope(s)).cloned().collect(),
    }
}

fn app_page(
    state: &AppState, browser: &Browser, client: &Client, secret: Option<String>, notice: Option<&str>,
) -> Response {
    let page =
        AppPage { csrf: browser.csrf.clone(), app: detail(state, client), secret, notice: notice.map(str::to_string) };
    let mut res = render(state, StatusCode::OK, &page);
    // It may show a secret: never cache it.
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// GET /developer/apps
pub async fn list(
    State(state): State<AppState>, me: SignedIn, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let apps = state
        .store
        .list_clients_by_owner(&me.user.id)
        .await?
        .into_iter()
        .map(|c| AppSummary {
            type_label: type_label(c.app_type.as_deref()),
            created: crate::clock::utc_text(c.created_at),
            id: c.id,
            name: c.name,
        })
        .collect();
    let page = AppsPage {
        apps,
        is_admin: me.user.role == Role::Admin,
        notice: (params.get("done") == Some("deleted")).then(|| "The app is deleted.".to_string()),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// GET /developer/apps/new
pub async fn new_form(State(state): State<AppState>, me: SignedIn) -> Response {
    let values =
        AppFormValues { app_type: "web".into(), auth_method: "client_secret_basic".into(), ..Default::default() };
    render(&state, StatusCode::OK, &form_page(&me, None, values, None))
}

/// POST /developer/apps
pub async fn create(State(state): State<AppState>, me: SignedIn, Form(params): Form) -> Result<Response, PageError> {
    let values = form_values(&params);
    let spec = ClientSpec {
        name: values.name.clone(),
        redirect_uris: lines(&values.redirect_uris),
        post_logout_redirect_uris: lines(&values.post_logout_redirect_uris),
        app_type: Some(values.app_type.clone()),
        homepage: optional(&params, "homepage"),
        logo_url: optional(&params, "logo_url"),
        policy_uri: optional(&params, "policy_uri"),
        tos_uri: optional(&params, "tos_uri"),
        owner_id: Some(me.user.id.clone()),
        // Only apps that keep a secret choose how they present it.
        token_endpoint_auth_method: matches!(values.app_type.as_str(), "web" | "machine")
            .then(|| values.auth_method.clone()),
        public: !matches!(values.app_type.as_str(), "web" | "machine"),
        ..Default::default()
    };
    let spec = match apis_of(&state, &me.user, security(spec, &values), &values, &[], &[]).await? {
        Ok(s) => s,
        Err(message) => {
            let page = form_page(&me, None, values, Some(message));
            return Ok(render(&state, StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let new = match clients::build(spec, state.now()) {
        Ok(n) => n,
        Err(message) => {
            let page = form_page(&me, None, values, Some(message));
            return Ok(render(&state, StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let client = clients::create(&*state.store, &state.at_rest_key, &new, actor(&me), state.now()).await?;
    Ok(see_other(&after(&state, &me, &client, "created", new.secret).await?))
}

/// Where a form about `client` goes when done: its page saying what was
/// `done`, with a new secret held for that page alone to show once.
async fn after(
    state: &AppState, me: &SignedIn, client: &Client, done: &str, secret: Option<String>,
) -> Result<String, PageError> {
    let mut to = format!("{}?done={done}", app_href(&client.id));
    if let Some(secret) = secret {
        let id = reveal::hold(state, me, &secret_subject(&client.id), vec![secret]).await?;
        to.push_str(&format!("&reveal={id}"));
    }
    Ok(to)
}

fn app_href(id: &ClientId) -> String {
    format!("{}/{}", routes::DEVELOPER_APPS, id.as_str())
}

fn secret_subject(id: &ClientId) -> String {
    format!("client:{}", id.as_str())
}

/// GET /developer/apps/{id}[?done=…][&reveal=…]
pub async fn show(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<ClientId>, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let client = owned(&state, &me.user, &id).await?;
    let (secret, gone) = match reveal::take(&state, &me, params.get("reveal"), &secret_subject(&client.id)).await? {
        Shown::Secrets(mut s) => (s.pop(), false),
        Shown::Gone => (None, true),
        Shown::Nothing => (None, false),
    };
    let notice = match (params.get("done"), secret.is_some()) {
        _ if gone => Some("The secret was shown once and cannot be shown again. If it was not saved, rotate it."),
        (Some("created"), true) => Some("The app is registered. Copy the client secret now: it is shown only once."),
        (Some("created"), false) => Some("The app is registered."),
        (Some("rotated"), _) => Some(
            "New secret made. Copy it now: it is shown only once. The previous secret keeps working until the time below.",
        ),
        (Some("saved"), _) => Some("Saved."),
        _ => None,
    };
    Ok(app_page(&state, &me.browser, &client, secret, notice))
}

/// GET /developer/apps/{id}/edit
pub async fn edit_form(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<ClientId>,
) -> Result<Response, PageError> {
    let c = owned(&state, &me.user, &id).await?;
    let values = AppFormValues {
        name: c.name.clone(),
        homepage: c.homepage.clone().unwrap_or_default(),
        logo_url: c.logo_url.clone().unwrap_or_default(),
        policy_uri: c.policy_uri.clone().unwrap_or_default(),
        tos_uri: c.tos_uri.clone().unwrap_or_default(),
        app_type: c.app_type.clone().unwrap_or_else(|| "web".into()),
        auth_method: c.token_endpoint_auth_method.clone(),
        redirect_uris: c.redirect_uris.join("\n"),
        post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
        jwks: c.jwks.clone().unwrap_or_default(),
        jwks_uri: c.jwks_uri.clone().unwrap_or_default(),
        require_par: c.require_pushed_authorization_requests,
        dpop: c.dpop_bound_access_tokens,
        fapi2: c.security_profile.as_deref() == Some(clients::FAPI2),
        signed_requests: c.require_signed_request_object,
        auth_signing_alg: c.token_endpoint_auth_signing_alg.clone().unwrap_or_default(),
        request_object_signing_alg: c.request_object_signing_alg.clone().unwrap_or_default(),
        allowed_resources: c.allowed_resources.join("\n"),
        exchange_targets: c.token_exchange_targets.join("\n"),
        scopes: c.scopes.join(" "),
    };
    Ok(render(&state, StatusCode::OK, &form_page(&me, Some(&c.id), values, None)))
}

/// POST /developer/apps/{id}: name, homepage, logo, URIs and how it sends
/// its secret. The type stays (it decides whether the app holds a secret).
pub async fn update(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<ClientId>, Form(params): Form,
) -> Result<Response, PageError> {
    let client = owned(&state, &me.user, &id).await?;
    let mut values = form_values(&params);
    values.app_type = client.app_type.clone().unwrap_or_else(|| "web".into());
    let spec = ClientSpec {
        name: values.name.clone(),
        redirect_uris: lines(&values.redirect_uris),
        post_logout_redirect_uris: lines(&values.post_logout_redirect_uris),
        app_type: client.app_type.clone(),
        public: client.public,
        grant_types: client.grant_types.clone(),
        scopes: client.scopes.clone(),
        homepage: optional(&params, "homepage"),
        logo_url: optional(&params, "logo_url"),
        policy_uri: optional(&params, "policy_uri"),
        tos_uri: optional(&params, "tos_uri"),
        token_endpoint_auth_method: (!client.public).then(|| values.auth_method.clone()),
        ..Default::default()
    };
    let spec = match apis_of(
        &state,
        &me.user,
        security(spec, &values),
        &values,
        &client.token_exchange_targets,
        &client.scopes,
    )
    .await?
    {
        Ok(s) => s,
        Err(message) => {
            let page = form_page(&me, Some(&client.id), values, Some(message));
            return Ok(render(&state, StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let client = match clients::revise(&client, spec) {
        Ok(c) => c,
        Err(message) => {
            let page = form_page(&me, Some(&client.id), values, Some(message));
            return Ok(render(&state, StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    clients::save(&*state.store, &client, actor(&me), state.now()).await?;
    Ok(see_other(&after(&state, &me, &client, "saved", None).await?))
}

/// GET /developer/apps/{id}/rotate-secret: what rotating does, to confirm.
pub async fn confirm_rotate(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<ClientId>,
) -> Result<Response, PageError> {
    let client = owned(&state, &me.user, &id).await?;
    let overlap = match state.config.secret_rotation_overlap {
        s if s >= 3600 => format!("{} hours", s / 3600),
        s => format!("{} minutes", s / 60),
    };
    let page = ConfirmPage {
        csrf: me.browser.csrf.clone(),
        heading: format!("Rotate the secret of {}?", client.name),
        question: "A new secret is made and shown once.".into(),
        consequence: format!(
            "The current secret keeps working for {overlap}, time to deploy the new one; then only the new one works."
        ),
        action: format!("{}/rotate-secret", app_href(&client.id)),
        confirm_label: "Rotate secret".into(),
        cancel_href: app_href(&client.id),
        fields: Vec::new(),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /developer/apps/{id}/rotate-secret
pub async fn rotate(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<ClientId>, Form(_): Form,
) -> Result<Response, PageError> {
    let mut client = owned(&state, &me.user, &id).await?;
    let overlap = state.config.secret_rotation_overlap;
    let Some(secret) =
        clients::rotate(&*state.store, &state.at_rest_key, &mut client, overlap, actor(&me), state.now()).await?
    else {
        return Err(PageError::bad_request("This app has no secret to rotate.").with_back(routes::DEVELOPER_APPS));
    };
    Ok(see_other(&after(&state, &me, &client, "rotated", Some(secret)).await?))
}

/// GET /developer/apps/{id}/delete: what deleting does, to confirm.
pub async fn confirm_delete(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<ClientId>,
) -> Result<Response, PageError> {
    let client = owned(&state, &me.user, &id).await?;
    let page = ConfirmPage {
        csrf: me.browser.csrf.clone(),
        heading: format!("Delete {}?", client.name),
        question: format!("Client ID {} stops working at once.", client.id.as_str()),
        consequence: "Everyone signed in to it is signed out (all its tokens end) and their consents are removed. \
                      This cannot be undone."
            .into(),
        action: format!("{}/delete", app_href(&client.id)),
        confirm_label: "Delete app".into(),
        cancel_href: app_href(&client.id),
        fields: Vec::new(),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /developer/apps/{id}/delete
pub async fn delete(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<ClientId>, Form(_): Form,
) -> Result<Response, PageError> {
    let client = owned(&state, &me.user, &id).await?;
    clients::delete(&*state.store, &client.id, actor(&me), state.now()).await?;
    Ok(see_other(&format!("{}?done=deleted", routes::DEVELOPER_APPS)))
}
