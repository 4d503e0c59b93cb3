//! The audit log: security-relevant events written to the `audit_events`
//! table and emitted as structured log lines (target `audit`). Writing an
//! event never fails the request that caused it; a failed write is logged.

use crate::store::{AuditEvent, ClientId, Store};

/// What happened, to whom, through which client, from where.
#[derive(Debug, Default)]
pub struct Event<'a> {
    pub event: &'a str,
    pub outcome: &'a str,
    pub user_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub detail: Option<String>,
}

/// Where a request came from: the IP and user agent an event is recorded
/// with. Empty for the CLI and for protocol calls that say nothing of a
/// browser.
#[derive(Debug, Default, Clone, Copy)]
pub struct Origin<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl<'a> Origin<'a> {
    /// An event about `user_id` from this origin.
    pub fn event(self, event: &'a str, outcome: &'a str, user_id: Option<&'a str>) -> Event<'a> {
        Event { event, outcome, user_id, ip: self.ip, user_agent: self.user_agent, ..Default::default() }
    }
}

/// How a change to clients or accounts was made, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The developer portal (the app's owner, or an admin).
    Portal,
    /// The administration pages.
    AdminPage,
    /// The JSON admin API.
    AdminApi,
    /// Dynamic registration (RFC 7591 / 7592).
    Registration,
    /// The command line.
    Cli,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Portal => "portal",
            Via::AdminPage => "admin page",
            Via::AdminApi => "admin api",
            Via::Registration => "dynamic registration",
            Via::Cli => "cli",
        }
    }

    /// Whether an administrator acted as such (the event is named `admin.*`).
    pub fn is_admin(self) -> bool {
        matches!(self, Via::AdminPage | Via::AdminApi)
    }
}

/// Who made a change, from where, and how.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: Option<&'a str>,
    pub origin: Origin<'a>,
    pub via: Via,
}

impl<'a> Actor<'a> {
    pub fn cli() -> Self {
        Actor { user_id: None, origin: Origin::default(), via: Via::Cli }
    }

    /// An event by this actor; the detail says how it was made.
    pub fn event(self, event: &'a str, detail: impl std::fmt::Display) -> Event<'a> {
        self.origin.event(event, "success", self.user_id).detail(format!("{detail} ({})", self.via.as_str()))
    }
}

impl<'a> Event<'a> {
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn client(mut self, client_id: &'a ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }
}

/// Writes the event (and logs it); a failed write is logged, never returned.
pub async fn record(store: &dyn Store, now: crate::clock::Timestamp, e: Event<'_>) {
    let row = AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        at: now,
        event: e.event.to_string(),
        outcome: e.outcome.to_string(),
        user_id: e.user_id.map(str::to_string),
        client_id: e.client_id.map(str::to_string),
        ip: e.ip.map(str::to_string),
        user_agent: e.user_agent.map(|ua| ua.chars().take(256).collect()),
        detail: e.detail,
    };
    tracing::info!(
        target: "audit",
        event = %row.event,
        outcome = %row.outcome,
        user_id = row.user_id.as_deref(),
        client_id = row.client_id.as_deref(),
        ip = row.ip.as_deref(),
        detail = row.detail.as_deref(),
        "audit"
    );
    if let Err(err) = store.record_audit(&row).await {
        tracing::error!(error = %err, event = %row.event, "writing an audit event failed");
    }
}

/// An event in words for the person's account page.
/// Whether an event deserves the person's attention (shown as an alert):
/// something failed or was refused, or a defence fired. The person's own
/// choices (declining an app, unlinking) are not alarming.
pub fn alarming(event: &str, outcome: &str) -> bool {
    match outcome {
        "success" | "denied" => false,
        "refused" => event != "federation.unlink",
        _ => true,
    }
}

pub fn describe(event: &str, outcome: &str) -> String {
    let text = match (event, outcome) {
        ("sign_in", "success") => "Signed in",
        ("sign_in", _) => "Failed sign-in attempt",
        ("sign_in.lockout", _) => "Sign-in locked after repeated failures",
        ("session.sign_out_everywhere", _) => "Signed out everywhere",
        ("refresh_token.reuse_detected", _) => "An app's access was revoked: a used refresh token came back",
        ("federation.account_created", _) => "Account created with GitHub",
        ("federation.link", "success") => "GitHub linked",
        ("federation.link", _) => "GitHub link refused",
        ("federation.link_proof", _) => "Wrong password while linking GitHub",
        ("federation.unlink", "success") => "GitHub unlinked",
        ("federation.unlink", _) => "GitHub unlink refused (last way to sign in)",
        ("consent.grant", "success") => "Allowed an app to use your account",
        ("consent.grant", _) => "Declined an app's request",
        ("device.approve", _) => "Signed in a device",
        ("device.deny", _) => "Declined a device's request",
        ("authorization_code.replay", _) => "An app's access was revoked: a sign-in code was used twice",
        ("profile.update", _) => "Profile updated",
        ("client.create", _) => "Registered an app",
        ("client.update", _) => "Edited an app",
        ("client.rotate_secret", _) => "Rotated an app's secret",
        ("client.delete", _) => "Deleted an app",
        ("admin.user_disable", _) => "Disabled an account (admin)",
        ("admin.user_enable", _) => "Enabled an account (admin)",
        ("admin.client_delete", _) => "Deleted an app (admin)",
        ("consent.revoke", _) => "Revoked an app's access",
        ("session.end", _) => "Ended a session on another device",
        ("password.change", "success") => "Password changed",
        ("password.change", _) => "Password change failed",
        ("password.reset", "success") => "Password reset",
        ("password.reset_requested", _) => "Password reset requested",
        ("email.verified", _) => "Email verified",
        ("mfa.enrol", _) => "Two-step verification turned on",
        ("mfa.disable", "success") => "Two-step verification turned off",
        ("mfa.disable", _) => "Failed attempt to turn off two-step verification",
        ("mfa.use", "success") => "Two-step verification code used",
        ("mfa.use", _) => "Wrong two-step verification code",
        ("mfa.backup_code", _) => "Backup code used",
        _ => return format!("{event} ({outcome})"),
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_says_what_happened() {
        assert_eq!(describe("mfa.disable", "success"), "Two-step verification turned off");
        assert_eq!(describe("mfa.disable", "failure"), "Failed attempt to turn off two-step verification");
        assert!(alarming("mfa.disable", "failure") && !alarming("mfa.disable", "success"));
        // The person's own choices are no alarm; failures and defences are.
        assert!(!alarming("consent.grant", "denied"));
        assert!(!alarming("federation.unlink", "refused"));
        assert!(alarming("sign_in", "failure") && alarming("sign_in.lockout", "locked"));
        assert!(alarming("refresh_token.reuse_detected", "family_revoked"));
    }
}
