//! Protocol rules. Nothing here sees axum: handlers pass in parsed input, a
//! [`Provider`] (the narrow view of the server the rules need) and the
//! current time, and map the outcome to a response.

pub mod authorize;
pub mod client_auth;
pub mod clients;
pub mod consent;
pub mod grants;
pub mod introspection;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod refresh;
pub mod registration;
pub mod revocation;
pub mod scopes;
pub mod tokens;

use crate::accounts::throttle::Throttle;
use crate::config::Config;
use crate::ephemeral::Ephemeral;
use crate::keys::KeyRing;
use crate::store::Store;

/// What the protocol rules need, and no more: the configuration, durable
/// and short-lived state, and the signing keys. Cheap to copy; the HTTP
/// handlers and the CLI build it alike.
#[derive(Clone, Copy)]
pub struct Provider<'a> {
    pub config: &'a Config,
    pub store: &'a dyn Store,
    pub ephemeral: &'a dyn Ephemeral,
    pub keys: &'a KeyRing,
}

impl<'a> Provider<'a> {
    /// Brute-force limits: counts in the short-lived state, locks in the
    /// database.
    pub fn throttle(&self) -> Throttle<'a> {
        Throttle { counts: self.ephemeral, locks: self.store, policy: &self.config.throttle }
    }
}
