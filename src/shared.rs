//! What every rule may use: the configuration and the durable and
//! short-lived state. The protocol rules ([`crate::oauth::Provider`]) and
//! the account rules ([`crate::accounts::Accounts`]) each add what only they
//! need, and read these fields through `Deref`.

use crate::accounts::throttle::Throttle;
use crate::config::Config;
use crate::crypto::Secret;
use crate::ephemeral::Ephemeral;
use crate::store::Store;

#[derive(Clone, Copy)]
pub struct Shared<'a> {
    pub config: &'a Config,
    pub store: &'a dyn Store,
    pub ephemeral: &'a dyn Ephemeral,
    /// Key material sealing secrets at rest (TOTP keys, the secrets of
    /// `client_secret_jwt` clients); shared by every instance.
    pub at_rest_key: &'a Secret,
}

impl<'a> Shared<'a> {
    /// Brute-force limits: counts in the short-lived state, locks in the
    /// database.
    pub fn throttle(&self) -> Throttle<'a> {
        Throttle { counts: self.ephemeral, locks: self.store, policy: &self.config.throttle }
    }
}
