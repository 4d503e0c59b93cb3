//! `/healthz`: 200 when the database (and Redis, when configured) answer;
//! 503 naming the failing part otherwise.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;

pub async fn healthz(State(state): State<AppState>) -> Response {
    let (db, eph) = tokio::join!(
        tokio::time::timeout(std::time::Duration::from_millis(900), state.store.ping()),
        tokio::time::timeout(std::time::Duration::from_millis(900), state.ephemeral.ping()),
    );
    let db_ok = matches!(db, Ok(Ok(())));
    let eph_ok = matches!(eph, Ok(Ok(())));
    let mut failing = Vec::new();
    if !db_ok {
        failing.push("database");
    }
    if !eph_ok {
        failing.push(if state.ephemeral.backend() == "redis" { "redis" } else { "state" });
    }
    let body = json!({
        "status": if failing.is_empty() { "ok" } else { "unavailable" },
        "database": { "backend": state.store.backend(), "ok": db_ok },
        "state": { "backend": state.ephemeral.backend(), "ok": eph_ok },
        "failing": failing,
    });
    let status = if failing.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
