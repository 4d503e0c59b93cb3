//! The audit log: security-relevant events written to the `audit_events`
//! table and emitted as structured log lines (target `audit`). Writing an
//! event never fails the request that caused it; a failed write is logged.

use crate::app::AppState;
use crate::store::AuditEvent;

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

pub async fn record(state: &AppState, e: Event<'_>) {
    let row = AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        at: state.now(),
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
    if let Err(err) = state.store.record_audit(&row).await {
        tracing::error!(error = %err, event = %row.event, "writing an audit event failed");
    }
}
