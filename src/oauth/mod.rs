//! Protocol rules. Nothing here sees axum: handlers pass in parsed input, a
//! [`Provider`] (the narrow view of the server the rules need) and the
//! current time, and map the outcome to a response.

pub mod apis;
pub mod authorize;
pub mod client_auth;
pub mod client_keys;
pub mod clients;
pub mod consent;
pub mod device;
pub mod dpop;
pub mod exchange;
pub mod grants;
pub mod introspection;
pub mod jose;
pub mod logout;
pub mod par;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod refresh;
pub mod registration;
pub mod request_object;
pub mod revocation;
pub mod scopes;
pub mod tokens;

use std::ops::Deref;

use crate::keys::KeyRing;
use crate::shared::Shared;
use client_keys::ClientKeys;

/// What the protocol rules need, and no more: the shared configuration and
/// state, and the signing keys. Cheap to copy; the HTTP handlers and the
/// CLI build it alike.
#[derive(Clone, Copy)]
pub struct Provider<'a> {
    pub shared: Shared<'a>,
    pub keys: &'a KeyRing,
    /// The clients' own public keys (registered or fetched).
    pub client_keys: &'a ClientKeys,
}

impl<'a> Deref for Provider<'a> {
    type Target = Shared<'a>;
    fn deref(&self) -> &Shared<'a> {
        &self.shared
    }
}
