//! The developer portal's APIs (resource servers): people register the
//! APIs their apps call, with the scopes and token settings of each, and
//! manage them as they manage their apps. Admins may open anyone's. The
//! rules are `oauth::apis`'.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::browser::Browser;
use super::extract::{Form, PageParams, SignedIn};
use super::pages::{render, see_other};
use super::routes;
use crate::app::AppState;
use crate::audit::{Actor, Via};
use crate::error::PageError;
use crate::keys;
use crate::oauth::apis::{self, ApiSpec, StoreErrorOr};
use crate::oauth::clients;
use crate::oauth::params::Params;
use crate::store::{Api, ClientId, Role, StoreError, User};
use crate::templates::{ApiDetail, ApiFormPage, ApiFormValues, ApiPage, ApiSummary, ApisPage, Choice, ConfirmPage};

fn not_found() -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "No such API", "It does not exist, or it is not yours.")
        .with_back(routes::DEVELOPER_APIS)
}

/// The API `id`, if this person registered it or is an admin; otherwise
/// "not found", so ids of others' APIs reveal nothing.
async fn owned(state: &AppState, user: &User, id: &str) -> Result<Api, PageError> {
    let apis = state.store.list_apis().await?;
    let api = apis.iter().find(|a| a.id == id).ok_or_else(not_found)?;
    if apis::may_manage(api, user) { Ok(api.clone()) } else { Err(not_found()) }
}

fn actor(me: &SignedIn) -> Actor<'_> {
    Actor { user_id: Some(&me.user.id), origin: me.browser.origin(), via: Via::Portal }
}

fn href(api_id: &str) -> String {
    format!("{}/{api_id}", routes::DEVELOPER_APIS)
}

fn form_values(params: &Params) -> ApiFormValues {
    let text = |name: &str| params.get(name).unwrap_or("").trim().to_string();
    ApiFormValues {
        identifier: text("identifier"),
        name: text("name"),
        scopes: params.get("scopes").unwrap_or("").to_string(),
        token_ttl: text("token_ttl"),
        token_alg: text("token_alg"),
        client_id: text("client_id"),
    }
}

/// The form onto a spec; a lifetime that is not a number is the form's
/// error, in words.
fn spec_of(values: &ApiFormValues) -> Result<ApiSpec, String> {
    let access_token_ttl = match values.token_ttl.as_str() {
        "" => None,
        n => Some(n.parse::<i64>().map_err(|_| "token lifetime is a number of seconds".to_string())?),
    };
    Ok(ApiSpec {
        identifier: values.identifier.clone(),
        name: values.name.clone(),
        scopes: vec![values.scopes.clone()],
        access_token_ttl,
        access_token_alg: (!values.token_alg.is_empty()).then(|| values.token_alg.clone()),
        owner_id: None,
        client_id: (!values.client_id.is_empty()).then(|| ClientId::from(values.client_id.as_str())),
    })
}

/// The API's own client as chosen: one this person manages, that
/// authenticates.
async fn check_client(state: &AppState, me: &User, spec: &ApiSpec, before: Option<&Api>) -> Result<(), String> {
    let Some(id) = &spec.client_id else { return Ok(()) };
    // An admin's choice stays when someone else edits the API later.
    if before.is_some_and(|b| b.client_id.as_ref() == Some(id)) {
        return Ok(());
    }
    match state.store.get_client(id).await {
        Ok(Some(c)) if clients::may_manage(&c, me) => apis::check_own_client(&c),
        Ok(_) => Err("choose one of your apps as the API's own client".into()),
        Err(e) => Err(e.to_string()),
    }
}

async fn form_page(
    state: &AppState, browser: &Browser, me: &User, api_id: Option<&str>, values: ApiFormValues, error: Option<String>,
) -> Result<ApiFormPage, PageError> {
    // The apps that could be this API's own client: those that
    // authenticate, and the current one however it came to be linked.
    let mut clients: Vec<Choice> = state
        .store
        .list_clients_by_owner(&me.id)
        .await?
        .into_iter()
        .filter(|c| !c.public)
        .map(|c| Choice {
            selected: c.id.as_str() == values.client_id,
            label: format!("{} ({})", c.name, c.id),
            value: c.id.into_string(),
        })
        .collect();
    if !values.client_id.is_empty() && !clients.iter().any(|c| c.value == values.client_id) {
        let label = match state.store.get_client(&ClientId::from(values.client_id.as_str())).await? {
            Some(c) => format!("{} ({})", c.name, c.id),
            None => values.client_id.clone(),
        };
        clients.push(Choice { value: values.client_id.clone(), label, selected: true });
    }
    let config = &state.config;
    let algs = std::iter::once(Choice {
        value: String::new(),
        label: format!("The server's ({})", config.access_token_alg),
        selected: values.token_alg.is_empty(),
    })
    .chain(keys::ALGORITHMS.iter().map(|a| Choice {
        value: a.to_string(),
        label: a.to_string(),
        selected: values.token_alg == *a,
    }))
    .collect();
    Ok(ApiFormPage {
        csrf: browser.csrf.clone(),
        api_id: api_id.map(str::to_string),
        values,
        clients,
        algs,
        max_ttl: config.access_token_ttl,
        error,
    })
}

async fn form_again(
    state: &AppState, me: &SignedIn, api_id: Option<&str>, values: ApiFormValues, error: String,
) -> Result<Response, PageError> {
    let page = form_page(state, &me.browser, &me.user, api_id, values, Some(error)).await?;
    Ok(render(state, StatusCode::UNPROCESSABLE_ENTITY, &page))
}

fn detail(state: &AppState, api: &Api, client_name: Option<String>) -> ApiDetail {
    let issuer = &state.config.issuer;
    let scopes = api.scopes.join(" ");
    let token_example = format!(
        "POST {issuer}{token}\n  grant_type=client_credentials\n  resource={id}\n  scope={scopes}\n\n\
         or at {issuer}{authorize}: resource={id}&scope=openid {scopes}",
        token = routes::TOKEN,
        authorize = routes::AUTHORIZE,
        id = api.identifier,
    );
    let check_example = format!(
        "Verify the signature with the keys at {issuer}{jwks}, then:\n  iss == {issuer}\n  aud == {id}\n  exp in the future\n  scope holds what the call needs",
        jwks = routes::JWKS,
        id = api.identifier,
    );
    ApiDetail {
        id: api.id.clone(),
        identifier: api.identifier.clone(),
        name: api.name.clone(),
        scopes: api.scopes.clone(),
        token_ttl: match api.access_token_ttl {
            Some(t) => format!("{t} seconds"),
            None => format!("the server's ({} seconds)", state.config.access_token_ttl),
        },
        token_alg: api
            .access_token_alg
            .clone()
            .unwrap_or_else(|| format!("the server's ({})", state.config.access_token_alg)),
        client_id: api.client_id.clone(),
        client_name,
        created: crate::clock::utc_text(api.created_at),
        token_example,
        check_example,
        introspection_url: format!("{issuer}{}", routes::INTROSPECT),
    }
}

/// GET /developer/apis
pub async fn list(
    State(state): State<AppState>, me: SignedIn, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let apis = state
        .store
        .list_apis()
        .await?
        .iter()
        .filter(|a| a.owner_id.as_deref() == Some(me.user.id.as_str()))
        .map(|a| ApiSummary {
            id: a.id.clone(),
            name: a.name.clone(),
            identifier: a.identifier.clone(),
            created: crate::clock::utc_text(a.created_at),
        })
        .collect();
    let page = ApisPage {
        apis,
        is_admin: me.user.role == Role::Admin,
        notice: (params.get("done") == Some("deleted")).then(|| "The API is deleted.".to_string()),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// GET /developer/apis/new
pub async fn new_form(State(state): State<AppState>, me: SignedIn) -> Result<Response, PageError> {
    let page = form_page(&state, &me.browser, &me.user, None, ApiFormValues::default(), None).await?;
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /developer/apis
pub async fn create(State(state): State<AppState>, me: SignedIn, Form(params): Form) -> Result<Response, PageError> {
    let values = form_values(&params);
    let spec = match spec_of(&values) {
        Ok(s) => ApiSpec { owner_id: Some(me.user.id.clone()), ..s },
        Err(why) => return form_again(&state, &me, None, values, why).await,
    };
    if let Err(why) = check_client(&state, &me.user, &spec, None).await {
        return form_again(&state, &me, None, values, why).await;
    }
    let api = match apis::build(spec, &state.config, state.now()) {
        Ok(a) => a,
        Err(why) => return form_again(&state, &me, None, values, why).await,
    };
    match apis::create(&*state.store, &api, actor(&me), state.now()).await {
        Ok(()) => Ok(see_other(&format!("{}?done=created", href(&api.id)))),
        Err(StoreErrorOr::Store(StoreError::Conflict(_))) => {
            let why = format!("an API with the identifier {} is registered already", api.identifier);
            form_again(&state, &me, None, values, why).await
        }
        Err(e) => Err(e.into()),
    }
}

/// GET /developer/apis/{id}
pub async fn show(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<String>, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let api = owned(&state, &me.user, &id).await?;
    let client_name = match &api.client_id {
        Some(c) => state.store.get_client(c).await?.map(|c| c.name),
        None => None,
    };
    let notice = match params.get("done") {
        Some("created") => Some("The API is registered."),
        Some("saved") => Some("Saved."),
        _ => None,
    };
    let page = ApiPage {
        csrf: me.browser.csrf.clone(),
        api: detail(&state, &api, client_name),
        notice: notice.map(str::to_string),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// GET /developer/apis/{id}/edit
pub async fn edit_form(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<String>,
) -> Result<Response, PageError> {
    let api = owned(&state, &me.user, &id).await?;
    let values = ApiFormValues {
        identifier: api.identifier.clone(),
        name: api.name.clone(),
        scopes: api.scopes.join("\n"),
        token_ttl: api.access_token_ttl.map(|t| t.to_string()).unwrap_or_default(),
        token_alg: api.access_token_alg.clone().unwrap_or_default(),
        client_id: api.client_id.clone().map(ClientId::into_string).unwrap_or_default(),
    };
    let page = form_page(&state, &me.browser, &me.user, Some(&api.id), values, None).await?;
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /developer/apis/{id}: name, scopes and token settings; the
/// identifier stays (tokens and clients name the API by it).
pub async fn update(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<String>, Form(params): Form,
) -> Result<Response, PageError> {
    let before = owned(&state, &me.user, &id).await?;
    let mut values = form_values(&params);
    values.identifier = before.identifier.clone();
    let spec = match spec_of(&values) {
        Ok(s) => s,
        Err(why) => return form_again(&state, &me, Some(&id), values, why).await,
    };
    if let Err(why) = check_client(&state, &me.user, &spec, Some(&before)).await {
        return form_again(&state, &me, Some(&id), values, why).await;
    }
    let api = match apis::build(spec, &state.config, before.created_at) {
        Ok(a) => Api { id: before.id.clone(), owner_id: before.owner_id.clone(), ..a },
        Err(why) => return form_again(&state, &me, Some(&id), values, why).await,
    };
    apis::save(&*state.store, &api, actor(&me), state.now()).await?;
    Ok(see_other(&format!("{}?done=saved", href(&api.id))))
}

/// GET /developer/apis/{id}/delete: what deleting it does, to confirm.
pub async fn confirm_delete(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<String>,
) -> Result<Response, PageError> {
    let api = owned(&state, &me.user, &id).await?;
    let page = ConfirmPage {
        csrf: me.browser.csrf.clone(),
        heading: format!("Delete {}?", api.name),
        question: format!("Apps will no longer get tokens for {}.", api.identifier),
        consequence: "Tokens already issued for it keep working until they expire; refreshing them fails. \
                      Apps limited to it, or allowed to exchange tokens for it, keep the setting and are refused."
            .into(),
        action: format!("{}/delete", href(&api.id)),
        confirm_label: "Delete API".into(),
        cancel_href: href(&api.id),
        fields: Vec::new(),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /developer/apis/{id}/delete
pub async fn delete(
    State(state): State<AppState>, me: SignedIn, Path(id): Path<String>, Form(_): Form,
) -> Result<Response, PageError> {
    let api = owned(&state, &me.user, &id).await?;
    apis::delete(&*state.store, &api, actor(&me), state.now()).await?;
    if api.owner_id.as_deref() == Some(me.user.id.as_str()) {
        Ok(see_other(&format!("{}?done=deleted", routes::DEVELOPER_APIS)))
    } else {
        Ok(see_other(&format!("{}?done=api-deleted", routes::ADMIN)))
    }
}
