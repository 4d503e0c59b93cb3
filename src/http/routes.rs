//! Paths, used by the router and by discovery alike.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const AS_METADATA: &str = "/.well-known/oauth-authorization-server";
pub const JWKS: &str = "/jwks.json";
pub const HEALTH: &str = "/healthz";
pub const AUTHORIZE: &str = "/authorize";
pub const AUTHORIZE_RESUME: &str = "/authorize/resume";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const REVOKE: &str = "/revoke";
pub const INTROSPECT: &str = "/introspect";
pub const END_SESSION: &str = "/logout";
pub const LOGIN: &str = "/login";
pub const SIGNUP: &str = "/signup";
pub const CONSENT: &str = "/consent";
pub const ACCOUNT: &str = "/account";
pub const CHANGE_PASSWORD: &str = "/account/password";
pub const SIGN_OUT_EVERYWHERE: &str = "/account/sign-out-everywhere";
pub const GITHUB_START: &str = "/federation/github/start";
pub const GITHUB_CALLBACK: &str = crate::federation::github::CALLBACK_PATH;
pub const GITHUB_CONFIRM: &str = "/federation/github/confirm";
pub const GITHUB_LINK: &str = "/account/github/link";
pub const GITHUB_UNLINK: &str = "/account/github/unlink";
pub const STYLESHEET: &str = "/static/latchkey.css";
pub const THEME: &str = "/static/theme.css";
