use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;

use crate::helpers::*;

#[tokio::test]
async fn openidconnect_discovers_and_reads_jwks() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http())
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: discovery failed: {e:?}"));
        assert_eq!(meta.issuer().as_str(), server.base);
        let keys = meta.jwks().keys();
        assert!(!keys.is_empty(), "JWKS is empty");
        let raw = json(http().get(server.url("/jwks.json")).send().await.unwrap()).await;
        for key in raw["keys"].as_array().unwrap() {
            for field in ["kid", "kty", "alg", "use", "n", "e"] {
                assert!(key.get(field).is_some(), "{field} missing from JWK");
            }
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "private member {private} published");
            }
            assert_eq!(key["alg"], "RS256");
        }
    }
}

#[tokio::test]
async fn both_metadata_documents_agree_and_allow_any_origin() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let a = http()
            .get(server.url("/.well-known/openid-configuration"))
            .header("origin", "https://anywhere.example")
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 200);
        assert_eq!(a.headers()["access-control-allow-origin"], "*");
        let a = json(a).await;
        let b = json(http().get(server.url("/.well-known/oauth-authorization-server")).send().await.unwrap()).await;
        assert_eq!(a, b);
        assert_eq!(a["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(a["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(a["authorization_response_iss_parameter_supported"], true);
    }
}

/// Every URL discovery advertises exists: no 404 for any of them.
#[tokio::test]
async fn every_advertised_url_answers() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let doc = json(http().get(server.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
        let mut checked = 0;
        for (name, value) in doc.as_object().unwrap() {
            let Some(url) = value.as_str().filter(|v| v.starts_with("http")) else {
                continue;
            };
            if name == "issuer" {
                continue;
            }
            assert!(url.starts_with(&server.base), "{name} points elsewhere: {url}");
            for method in [reqwest::Method::GET, reqwest::Method::POST] {
                let res = http().request(method.clone(), url).send().await.unwrap();
                assert_ne!(res.status(), 404, "{name} ({method} {url}) is 404");
                assert!(res.status().as_u16() < 500, "{name} ({method} {url}) failed with {}", res.status());
            }
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} endpoint URLs advertised");
    }
}

#[tokio::test]
async fn health_names_backends() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let res = http().get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body = json(res).await;
        assert_eq!(body["status"], "ok");
        let (db, state) = match backend {
            Backend::Embedded => ("sqlite", "memory"),
            Backend::Shared => ("postgres", "redis"),
        };
        assert_eq!(body["database"]["backend"], db);
        assert_eq!(body["state"]["backend"], state);
    }
}

#[tokio::test]
async fn redis_unreachable_at_start_is_an_error() {
    // The port of a listener closed at once: nothing answers there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let config = latchkey::Config::with(&[("REDIS_URL", url.as_str())]).unwrap();
    let clock: std::sync::Arc<dyn latchkey::clock::Clock> = std::sync::Arc::new(latchkey::clock::SystemClock);
    assert!(latchkey::app::open_ephemeral(&config, clock).await.is_err());
}

/// /healthz names the part that went away: 503 with "redis" or "database".
#[tokio::test]
async fn health_names_the_failing_part() {
    if !backends().contains(&Backend::Shared) {
        eprintln!("skipping: needs TEST_DATABASE_URL and TEST_REDIS_URL");
        return;
    }
    let pg_url = fresh_schema().await;
    let redis_url = std::env::var("TEST_REDIS_URL").unwrap();
    for part in ["redis", "database"] {
        let pg = Proxy::start(socket_of(&pg_url)).await;
        let redis = Proxy::start(socket_of(&redis_url)).await;
        let db = via_port(&pg_url, pg.port);
        let cache = via_port(&redis_url, redis.port);
        let server = TestServer::spawn_with(Backend::Embedded, &[("DATABASE_URL", &db), ("REDIS_URL", &cache)]).await;
        let ok = http().get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        if part == "redis" {
            redis.cut()
        } else {
            pg.cut()
        }
        let res = http().get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 503, "{part} down");
        let body = json(res).await;
        assert_eq!(body["failing"], serde_json::json!([part]), "{body}");
        // The rest keeps answering: discovery needs neither.
        assert_eq!(http().get(server.url("/jwks.json")).send().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_use_our_errors() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let res = http().get(server.url("/nope")).send().await.unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(json(res).await["error"], "not_found");
        let res = http().get(server.url("/nope")).header("accept", "text/html").send().await.unwrap();
        assert_eq!(res.status(), 404);
        assert!(res.text().await.unwrap().contains("Page not found"));
        let res = http().get(server.url("/token")).send().await.unwrap();
        assert_eq!(res.status(), 405);
        assert_eq!(json(res).await["error"], "method_not_allowed");
    }
}

/// The kid in a JWT's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(&latchkey::crypto::b64url_decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

async fn published_kids(server: &TestServer) -> Vec<String> {
    let jwks = json(http().get(server.url("/jwks.json")).send().await.unwrap()).await;
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

/// Two instances, the second started after a rotation was scheduled: at
/// every moment, every token either one signs is listed by both JWKS, and
/// both switch to the new key only after it has been published for the
/// activation delay.
#[tokio::test]
async fn key_rotation_leaves_no_gap_between_instances() {
    for backend in backends() {
        let a = TestServer::spawn(backend).await;
        let before = a.state.keys.active_kid();
        let rotated =
            latchkey::keys::rotate(&*a.state.store, a.state.now(), latchkey::keys::ACTIVATION_DELAY).await.unwrap();
        let new = rotated.into_iter().find(|k| k.alg == "RS256").unwrap();
        let b = a.sibling().await;
        let sign =
            |s: &TestServer| s.state.keys.sign("JWT", &serde_json::json!({"iss": s.issuer, "sub": "x"})).unwrap();
        let mut seen = Vec::new();
        for step in 0..8 {
            let tokens = [sign(&a), sign(&b)];
            let (ka, kb) = (published_kids(&a).await, published_kids(&b).await);
            for t in &tokens {
                let kid = kid_of(t);
                assert!(
                    ka.contains(&kid) && kb.contains(&kid),
                    "{backend:?} step {step}: {kid} not in both JWKS ({ka:?} / {kb:?})"
                );
                // And the signature checks out against what is published.
                let claims: serde_json::Value = b.state.keys.verify(t, Some("JWT"), &a.issuer).await.unwrap();
                assert_eq!(claims["sub"], "x");
            }
            assert!(ka.contains(&new.kid) && kb.contains(&new.kid), "published from the start");
            seen.push((kid_of(&tokens[0]), kid_of(&tokens[1])));
            a.clock.advance(60);
            b.clock.advance(60);
        }
        // Before the delay the old key signs; after it, the new one.
        assert_eq!(seen[0], (before.clone(), before.clone()), "{backend:?}");
        assert_eq!(seen[7], (new.kid.clone(), new.kid.clone()), "{backend:?}");
        let switched = seen.iter().position(|(x, _)| *x == new.kid).unwrap();
        assert!(switched as i64 * 60 >= latchkey::keys::ACTIVATION_DELAY, "{seen:?}");
        // The old key stays published while tokens it signed may live.
        assert!(published_kids(&a).await.contains(&before));
    }
}

/// `keys rotate --now` (after a compromise) switches at once, and a running
/// instance hears of it within a second through the change feed.
#[tokio::test]
async fn an_immediate_rotation_reaches_a_running_instance_within_a_second() {
    for backend in backends() {
        let a = TestServer::spawn(backend).await;
        let b = a.sibling().await;
        let before = b.state.keys.active_kid();
        let new = latchkey::keys::rotate(&*a.state.store, a.state.now(), 0)
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.alg == "RS256")
            .unwrap();
        let started = std::time::Instant::now();
        while a.state.keys.active_kid() != new.kid || b.state.keys.active_kid() != new.kid {
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "{backend:?}: b still signs with {before}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let kids = published_kids(&b).await;
        assert!(kids.contains(&new.kid) && kids.contains(&before), "{kids:?}");
    }
}
