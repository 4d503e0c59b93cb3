//! People: accounts, passwords, browser sessions, and the flows that act on
//! them (signing in, two-step verification, account recovery). Each flow
//! returns an outcome; the HTTP layer only turns outcomes into pages.

pub mod alerts;
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

use std::ops::Deref;
use std::sync::Arc;

use crate::email::Mailer;
use crate::shared::Shared;
use password::PasswordHasherPool;

/// What the account rules need: the shared configuration and state,
/// password hashing, and mail.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    pub shared: Shared<'a>,
    pub hasher: &'a PasswordHasherPool,
    pub mailer: &'a Arc<Mailer>,
}

impl<'a> Deref for Accounts<'a> {
    type Target = Shared<'a>;
    fn deref(&self) -> &Shared<'a> {
        &self.shared
    }
}
