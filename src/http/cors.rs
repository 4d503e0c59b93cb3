//! CORS. Discovery and JWKS are public documents: any origin may read them.
//! /token, /par and /userinfo answer browsers only from the origins of registered
//! redirect URIs, so single-page apps work and nobody else's pages can call.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{Any, CorsLayer};

use crate::app::AppState;

pub fn open() -> CorsLayer {
    CorsLayer::new().allow_origin(Any).allow_methods([Method::GET, Method::HEAD])
}

pub async fn registered_origins(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let allowed = match origin.to_str() {
        Ok(o) => state.store.origin_allowed(o).await.unwrap_or(false),
        Err(_) => false,
    };
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight {
        let mut res = StatusCode::NO_CONTENT.into_response();
        if allowed {
            let h = res.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, dpop"),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        res
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("www-authenticate, dpop-nonce"));
    }
    res
}

/// OPTIONS on /token and /userinfo. A CORS preflight is answered by
/// [`registered_origins`] before it reaches here; anything else gets an
/// empty 204 that grants nothing.
pub async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}
