//! People: accounts, passwords, browser sessions, and the flows that act on
//! them (signing in, two-step verification, account recovery). Each flow
//! returns an outcome; the HTTP layer only turns outcomes into pages.

pub mod email_links;
pub mod password;
pub mod profile;
pub mod recovery;
pub mod sessions;
pub mod sign_in;
pub mod throttle;
pub mod totp;
pub mod two_step;
pub mod users;

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::Secret;
use crate::email::Mailer;
use crate::ephemeral::Ephemeral;
use crate::store::Store;
use password::PasswordHasherPool;
use throttle::Throttle;

/// What the account rules need: configuration, durable and short-lived
/// state, password hashing, mail, and the key sealing TOTP secrets.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    pub config: &'a Config,
    pub store: &'a dyn Store,
    pub ephemeral: &'a dyn Ephemeral,
    pub hasher: &'a PasswordHasherPool,
    pub mailer: &'a Arc<Mailer>,
    pub totp_key: &'a Secret,
}

impl<'a> Accounts<'a> {
    pub fn throttle(&self) -> Throttle<'a> {
        Throttle { counts: self.ephemeral, locks: self.store, policy: &self.config.throttle }
    }
}
