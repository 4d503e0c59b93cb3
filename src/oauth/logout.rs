//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): which app
//! asked, where the person may be sent afterwards, and whether to ask them
//! first.

use serde_json::Value;

use super::Provider;
use super::params::Params;
use crate::store::{Client, ClientId, StoreError};

/// A checked logout request.
#[derive(Debug, Default)]
pub struct LogoutRequest {
    /// The app that asked: named by `client_id`, or by the hint's audience.
    pub client: Option<Client>,
    /// Where to send the browser afterwards: a registered
    /// `post_logout_redirect_uri`, with `state` added.
    pub target: Option<String>,
    /// The subject of `id_token_hint`: the person the app believes is
    /// signed in.
    pub hint_sub: Option<String>,
}

/// Why a logout request is refused: in words for the person (the error
/// page cannot send them back to an app it could not verify).
#[derive(Debug)]
pub enum Refusal {
    Invalid(&'static str),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

/// Checks the request (§2): an `id_token_hint` must be one of ours (an
/// expired one still counts), a `client_id` must agree with it, and a
/// `post_logout_redirect_uri` must be registered exactly for that client.
pub async fn validate(p: Provider<'_>, params: &Params) -> Result<LogoutRequest, Refusal> {
    if params.check_unique().is_err() {
        return Err(Refusal::Invalid("A parameter appears more than once in the request."));
    }
    let hint: Option<Value> = match params.get("id_token_hint") {
        Some(token) => Some(
            p.keys
                .verify(token, None, &p.config.issuer)
                .await
                .map_err(|_| Refusal::Invalid("The app sent an ID token that this server did not issue."))?,
        ),
        None => None,
    };
    let hint_aud = hint.as_ref().and_then(|h| match h.get("aud") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str),
        _ => None,
    });
    let client_id = match (params.get("client_id"), hint_aud) {
        (Some(a), Some(b)) if a != b => {
            return Err(Refusal::Invalid("The app's client_id does not match its ID token."));
        }
        (Some(id), _) | (None, Some(id)) => Some(ClientId::from(id)),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => Some(
            p.store.get_client(id).await?.ok_or(Refusal::Invalid("The app that sent you here is not registered."))?,
        ),
        None => None,
    };
    let target = match params.get("post_logout_redirect_uri") {
        Some(uri) => {
            let client = client
                .as_ref()
                .ok_or(Refusal::Invalid("The app did not say who it is, so we cannot send you back to it."))?;
            // Exact match against the registered list (§3).
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(Refusal::Invalid(
                    "The address to return to after signing out is not registered for this app.",
                ));
            }
            let mut url = url::Url::parse(uri).map_err(|_| Refusal::Invalid("The return address is not valid."))?;
            if let Some(s) = params.get("state") {
                url.query_pairs_mut().append_pair("state", s);
            }
            Some(url.to_string())
        }
        None => None,
    };
    let hint_sub = hint.as_ref().and_then(|h| h.get("sub")).and_then(Value::as_str).map(str::to_string);
    Ok(LogoutRequest { client, target, hint_sub })
}

/// What the person answered on the confirmation form, if they did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// No answer: the app's request itself.
    None,
    /// "Sign out", from this browser's own form (CSRF checked).
    Yes,
    /// "Stay signed in".
    No,
}

/// What to do with a browser that is signed in.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    SignOut,
    /// Ask first: without proof that the person's own app asked, a link
    /// anyone can send must not sign them out (§2: the OP SHOULD ask).
    Ask,
    /// They chose to stay signed in.
    Stay,
}

pub fn decide(request: &LogoutRequest, signed_in_user: &str, answer: Answer) -> Decision {
    match answer {
        Answer::No => Decision::Stay,
        Answer::Yes => Decision::SignOut,
        Answer::None if request.hint_sub.as_deref() == Some(signed_in_user) => Decision::SignOut,
        Answer::None => Decision::Ask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_proof_or_consent_signs_out() {
        let hinted = LogoutRequest { hint_sub: Some("u1".into()), ..Default::default() };
        assert_eq!(decide(&hinted, "u1", Answer::None), Decision::SignOut, "the person's own app asked");
        assert_eq!(decide(&hinted, "u2", Answer::None), Decision::Ask, "a hint for someone else proves nothing");
        let bare = LogoutRequest::default();
        assert_eq!(decide(&bare, "u1", Answer::None), Decision::Ask);
        assert_eq!(decide(&bare, "u1", Answer::Yes), Decision::SignOut);
        assert_eq!(decide(&hinted, "u1", Answer::No), Decision::Stay);
    }
}
