//! Latchkey as a client: "Sign in with GitHub", federated into local
//! accounts. `github` talks to GitHub; `linking` decides which local account
//! a person becomes; the state of a round trip lives here.

pub mod flow;
pub mod github;
pub mod linking;

use serde::{Deserialize, Serialize};

use github::GithubProfile;
use linking::Purpose;

/// Wrong passwords allowed on one proof-of-ownership form before it is void.
pub const PROOF_ATTEMPTS: u32 = 5;

/// One round trip to GitHub, kept under its `state` (see
/// `ephemeral::kinds::GITHUB_ROUND_TRIP`) and taken, single use, when GitHub
/// sends the browser back.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoundTrip {
    /// Hash of the browser's CSRF cookie: the callback must come from the
    /// browser that started, or a stranger's code could sign it in.
    pub binding: String,
    pub verifier: String,
    /// The pending /authorize request to resume afterwards.
    pub request_id: Option<String>,
    pub purpose: Purpose,
}

/// A GitHub identity waiting for its owner to prove, with the password, that
/// the local account using the same email is theirs.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingProof {
    pub binding: String,
    pub user_id: String,
    pub profile: GithubProfile,
    pub request_id: Option<String>,
    pub attempts: u32,
}
