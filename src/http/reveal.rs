//! One-time secrets across a redirect: a form that makes a secret (a client
//! secret, backup codes) stores it for a few minutes and redirects to a page
//! whose URL names it; that page takes it, once. A reload, the back button
//! or a copied URL shows nothing and changes nothing (post/redirect/get).

use super::extract::SignedIn;
use crate::app::AppState;
use crate::crypto::random_token;
use crate::ephemeral::kinds::{self, REVEAL, Reveal};
use crate::error::PageError;

/// Holds `secrets` about `subject` for the signed-in person's browser; the
/// id for the `reveal` parameter of the page redirected to.
pub async fn hold(state: &AppState, me: &SignedIn, subject: &str, secrets: Vec<String>) -> Result<String, PageError> {
    let id = random_token(18);
    let held = Reveal { binding: me.browser.binding(), user_id: me.user.id.clone(), subject: subject.into(), secrets };
    REVEAL.put(&*state.ephemeral, &id, &held).await?;
    Ok(id)
}

/// What a page shows from `reveal=id`.
pub enum Shown {
    /// The page was not asked to show anything.
    Nothing,
    Secrets(Vec<String>),
    /// Shown already (or expired, or not this browser's): say so.
    Gone,
}

/// Takes the secrets held under `id` for `subject`, if they are this
/// person's in this browser.
pub async fn take(state: &AppState, me: &SignedIn, id: Option<&str>, subject: &str) -> Result<Shown, PageError> {
    let Some(id) = id else { return Ok(Shown::Nothing) };
    let held = REVEAL.take(&*state.ephemeral, id).await?;
    let binding = me.browser.known_binding();
    Ok(match held {
        Some(h) if kinds::same_browser(&h, binding.as_deref()) && h.user_id == me.user.id && h.subject == subject => {
            Shown::Secrets(h.secrets)
        }
        _ => Shown::Gone,
    })
}
