//! Protocol rules. Nothing here sees axum: handlers pass in parsed input, the
//! state they need and the current time, and map the outcome to a response.

pub mod authorize;
pub mod client_auth;
pub mod clients;
pub mod grants;
pub mod introspection;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod refresh;
pub mod registration;
pub mod revocation;
pub mod scopes;
pub mod tokens;
