//! HTTP: axum handlers, one file per endpoint group. Handlers extract input
//! (`extract`: the signed-in person, the checked form, the authenticated
//! client, the bearer token), call a rule in `oauth`, `accounts` or
//! `federation`, and turn the outcome into a response. No handler module
//! imports another; what they share is in `browser`, `extract`, `pages`,
//! `respond` and `routes`.

mod account;
mod admin;
mod api_portal;
mod authorize;
mod browser;
mod cors;
mod device;
mod discovery;
mod extract;
mod federation;
mod health;
mod login;
mod logout;
mod mfa;
mod pages;
mod par;
mod portal;
mod recovery;
mod registration;
mod respond;
mod reveal;
pub mod routes;
mod token;
mod userinfo;

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    let public_metadata = Router::new()
        .route(routes::DISCOVERY, get(discovery::openid_configuration))
        .route(routes::AS_METADATA, get(discovery::openid_configuration))
        .route(routes::JWKS, get(discovery::jwks))
        .layer(cors::open());

    let client_facing = Router::new()
        .route(routes::TOKEN, post(token::token).options(cors::preflight))
        .route(routes::PAR, post(par::push).options(cors::preflight))
        .route(routes::DEVICE_AUTHORIZATION, post(device::start).options(cors::preflight))
        .route(routes::USERINFO, get(userinfo::userinfo).post(userinfo::userinfo).options(cors::preflight))
        .route(routes::REVOKE, post(token::revoke).options(cors::preflight))
        .layer(middleware::from_fn_with_state(state.clone(), cors::registered_origins));

    let pages = Router::new()
        .route(routes::AUTHORIZE, get(authorize::authorize).post(authorize::authorize))
        .route(routes::AUTHORIZE_RESUME, get(authorize::resume))
        .route(routes::LOGIN, get(login::login_page).post(login::login_submit))
        .route(routes::SIGNUP, get(login::signup_page).post(login::signup_submit))
        .route(routes::CONSENT, get(authorize::consent_page).post(authorize::consent_submit))
        .route(routes::END_SESSION, get(logout::end_session_get).post(logout::end_session_post))
        .route(routes::ACCOUNT, get(account::account_page))
        .route(
            routes::SIGN_OUT_EVERYWHERE,
            get(account::confirm_sign_out_everywhere).post(account::sign_out_everywhere),
        )
        .route(routes::SIGNED_OUT, get(account::signed_out))
        .route(routes::CHANGE_PASSWORD, post(account::change_password))
        .route(routes::FORGOT_PASSWORD, get(recovery::forgot_page).post(recovery::forgot_submit))
        .route(routes::RESET_PASSWORD, get(recovery::reset_page).post(recovery::reset_submit))
        .route(routes::VERIFY_EMAIL, get(recovery::verify_email))
        .route(routes::LOGIN_MFA, post(mfa::step_submit))
        .route(routes::LOGIN_CONTINUE, post(login::continue_as))
        .route(routes::REVOKE_APP, get(account::confirm_revoke_app).post(account::revoke_app))
        .route(routes::PROFILE, post(account::update_profile))
        .route(routes::RESEND_VERIFICATION, post(account::resend_verification))
        .route(routes::DEVELOPER_APPS, get(portal::list).post(portal::create))
        .route("/developer/apps/new", get(portal::new_form))
        .route("/developer/apps/{id}", get(portal::show).post(portal::update))
        .route("/developer/apps/{id}/edit", get(portal::edit_form))
        .route("/developer/apps/{id}/rotate-secret", get(portal::confirm_rotate).post(portal::rotate))
        .route("/developer/apps/{id}/delete", get(portal::confirm_delete).post(portal::delete))
        .route(routes::DEVELOPER_APIS, get(api_portal::list).post(api_portal::create))
        .route("/developer/apis/new", get(api_portal::new_form))
        .route("/developer/apis/{id}", get(api_portal::show).post(api_portal::update))
        .route("/developer/apis/{id}/edit", get(api_portal::edit_form))
        .route("/developer/apis/{id}/delete", get(api_portal::confirm_delete).post(api_portal::delete))
        .route(routes::ADMIN, get(admin::page))
        .route("/admin/users/{id}/disable", get(admin::confirm_disable).post(admin::disable_user))
        .route("/admin/users/{id}/enable", post(admin::enable_user))
        .route("/admin/clients/{id}/delete", get(admin::confirm_client_delete).post(admin::client_delete))
        .route("/admin/clients/{id}/trust", post(admin::client_trust))
        .route(routes::END_SESSION_ONE, post(account::end_session))
        .route(routes::MFA_SETUP, get(mfa::setup_page).post(mfa::setup_submit))
        .route(routes::MFA_DISABLE, post(mfa::disable))
        .route(routes::BACKUP_CODES, get(mfa::backup_codes))
        .route(routes::DEVICE, get(device::page).post(device::enter))
        .route(routes::DEVICE_DECIDE, post(device::decide))
        .route(routes::DEVICE_DONE, get(device::done))
        .route(routes::GITHUB_START, get(federation::start_sign_in))
        .route(routes::GITHUB_CALLBACK, get(federation::callback))
        .route(routes::GITHUB_CONFIRM, post(federation::confirm))
        .route(routes::GITHUB_LINK, post(federation::start_link))
        .route(routes::GITHUB_UNLINK, post(federation::unlink))
        .route("/", get(account::home));

    Router::new()
        .merge(public_metadata)
        .merge(client_facing)
        .merge(pages)
        .route(routes::INTROSPECT, post(token::introspect))
        .route(routes::REGISTER, post(registration::register))
        .route("/register/{id}", get(registration::read).put(registration::update).delete(registration::delete))
        .route("/admin/api/users", get(admin::api_users))
        .route("/admin/api/users/{id}/{action}", post(admin::api_user_action))
        .route("/admin/api/clients", get(admin::api_clients))
        .route("/admin/api/clients/{id}", delete(admin::api_client_delete))
        .route(routes::HEALTH, get(health::healthz))
        .route(routes::STYLESHEET, get(pages::stylesheet))
        .route(routes::THEME, get(pages::theme))
        .route(routes::SCRIPT, get(pages::script))
        .fallback(pages::not_found)
        .method_not_allowed_fallback(pages::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), pages::render_page_errors))
        // Outside the error pages, so the cookies a request decided on go
        // with whatever page it ends on.
        .layer(middleware::from_fn(browser::cookies))
        .layer(middleware::from_fn(pages::security_headers))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}
