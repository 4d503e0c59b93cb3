//! Clients that prove who they are with keys: private_key_jwt and
//! client_secret_jwt (RFC 7523), pushed authorization requests (RFC 9126),
//! signed request objects (RFC 9101), DPoP (RFC 9449) and the FAPI 2.0
//! profile, with the bad inputs each must refuse. Every test runs on both
//! backends; the client side signs with `jose_client`, not server code.

use latchkey::oauth::clients::ClientSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::jose_client::*;

const REDIRECT: &str = "https://app.example/callback";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A machine client that authenticates with `private_key_jwt` and `key`.
async fn key_client(server: &TestServer, key: &ClientKey, extra: impl FnOnce(&mut ClientSpec)) -> String {
    let mut spec = ClientSpec {
        name: "Keyed".into(),
        app_type: Some("machine".into()),
        scopes: vec!["orders:read".into()],
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(key.jwks().to_string()),
        ..Default::default()
    };
    extra(&mut spec);
    let (id, secret) = server.client(spec).await;
    assert!(secret.is_none(), "a key client has no secret");
    id
}

/// POST /token client_credentials with a client assertion.
async fn cc_with_assertion(server: &TestServer, assertion: &str) -> reqwest::Response {
    http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

/// POST `fields` to `path`, authenticated by an assertion addressed to it.
async fn signed_post(
    server: &TestServer, path: &str, key: &ClientKey, id: &str, fields: &[(&str, &str)], now: i64,
) -> reqwest::Response {
    let assertion = key.assertion(id, &server.url(path), now);
    let mut form = fields.to_vec();
    form.extend([("client_assertion_type", ASSERTION_TYPE), ("client_assertion", &assertion)]);
    http().post(server.url(path)).form(&form).send().await.unwrap()
}

async fn error_of(res: reqwest::Response) -> (StatusCode, String, String) {
    let status = res.status();
    let body = json(res).await;
    (status, body["error"].as_str().unwrap_or("").to_string(), body["error_description"].as_str().unwrap_or("").into())
}

#[tokio::test]
async fn private_key_jwt_authenticates_with_every_supported_key_type() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        for alg in ["ES256", "EdDSA", "PS256", "RS256"] {
            let key = ClientKey::generate(alg);
            let id = key_client(&server, &key, |_| {}).await;
            let now = server.state.now();
            // aud: the issuer, or the token endpoint's URL.
            for aud in [server.issuer.clone(), server.url("/token")] {
                let res = cc_with_assertion(&server, &key.assertion(&id, &aud, now)).await;
                assert_eq!(res.status(), 200, "{backend:?} {alg} aud {aud}");
                let body = json(res).await;
                assert_eq!(body["token_type"], "Bearer");
            }
            // The same at revocation and introspection, addressed to them.
            let token =
                json(cc_with_assertion(&server, &key.assertion(&id, &server.issuer, now)).await).await["access_token"]
                    .as_str()
                    .unwrap()
                    .to_string();
            let introspected = signed_post(&server, "/introspect", &key, &id, &[("token", &token)], now).await;
            assert_eq!(json(introspected).await["active"], true, "{backend:?} {alg}");
            let revoked = signed_post(&server, "/revoke", &key, &id, &[("token", &token)], now).await;
            assert_eq!(revoked.status(), 200);
        }
    }
}

#[tokio::test]
async fn client_assertions_that_must_be_refused() {
    for backend in backends() {
        // Each refusal counts toward the client's lockout: raised here so
        // every case is answered on its own merits.
        let limits = [("LATCHKEY_LOCKOUT_THRESHOLD", "100"), ("LATCHKEY_THROTTLE_DELAY_MS", "0")];
        let server = TestServer::spawn_with(backend, &limits).await;
        let key = ClientKey::generate("ES256");
        let id = key_client(&server, &key, |_| {}).await;
        let other = ClientKey::generate("ES256");
        let now = server.state.now();
        let iss = server.issuer.clone();
        let claims = |f: &dyn Fn(&mut Value)| {
            let mut c = assertion_claims(&id, &iss, now);
            f(&mut c);
            c
        };
        let huge = "x".repeat(20_000);
        let cases: Vec<(&str, String)> = vec![
            ("signed by a key the client did not register", other.assertion(&id, &iss, now)),
            ("aud is another server", key.assertion(&id, "https://elsewhere.example", now)),
            ("expired", key.sign(None, &claims(&|c| c["exp"] = json!(now - 120)))),
            ("valid for too long", key.sign(None, &claims(&|c| c["exp"] = json!(now + 3600)))),
            ("no exp", key.sign(None, &claims(&|c| drop(c.as_object_mut().unwrap().remove("exp"))))),
            ("no jti", key.sign(None, &claims(&|c| drop(c.as_object_mut().unwrap().remove("jti"))))),
            ("iss is not sub", key.sign(None, &claims(&|c| c["iss"] = json!("someone-else")))),
            ("not yet valid", key.sign(None, &claims(&|c| c["nbf"] = json!(now + 300)))),
            ("alg none", unsigned(&claims(&|_| {}))),
            ("HMAC for a key client", hmac_assertion("guess", &claims(&|_| {}))),
            (
                "unknown critical header",
                key.sign_with_header(
                    &json!({"alg": "ES256", "kid": key.kid, "crit": ["x-ext"], "x-ext": 1}),
                    &claims(&|_| {}),
                ),
            ),
            ("too large", key.sign(None, &claims(&|c| c["pad"] = json!(huge)))),
            ("not a JWT", "eyJhbGciOiJFUzI1NiJ9.e30".to_string()),
        ];
        for (what, assertion) in cases {
            let res = http()
                .post(server.url("/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id.as_str()),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ])
                .send()
                .await
                .unwrap();
            let (status, error, _) = error_of(res).await;
            assert_eq!((status, error.as_str()), (StatusCode::UNAUTHORIZED, "invalid_client"), "{backend:?}: {what}");
        }
        // Used once: the same assertion twice is a replay.
        let once = key.assertion(&id, &iss, now);
        assert_eq!(cc_with_assertion(&server, &once).await.status(), 200);
        let (status, error, description) = error_of(cc_with_assertion(&server, &once).await).await;
        assert_eq!((status, error.as_str()), (StatusCode::UNAUTHORIZED, "invalid_client"), "{backend:?}");
        assert!(description.contains("used before"), "{description}");
        // The registered method only: a key client cannot send a secret,
        // and an assertion cannot come with Basic credentials too.
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some("anything"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some("anything"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &key.assertion(&id, &iss, now)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(res).await.1, "invalid_request", "two methods at once");
        let res = http()
            .post(server.url("/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:example:other"),
                ("client_assertion", &key.assertion(&id, &iss, now)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(res).await.1, "invalid_client", "unknown assertion type");
    }
}

#[tokio::test]
async fn a_registered_signing_algorithm_is_the_only_one() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let es = ClientKey::generate("ES256");
        let ed = ClientKey::generate("EdDSA");
        let mut keys = es.jwks();
        keys["keys"].as_array_mut().unwrap().push(ed.jwk());
        let (id, _) = server
            .client(ClientSpec {
                name: "Pinned".into(),
                app_type: Some("machine".into()),
                scopes: vec!["orders:read".into()],
                token_endpoint_auth_method: Some("private_key_jwt".into()),
                token_endpoint_auth_signing_alg: Some("EdDSA".into()),
                jwks: Some(keys.to_string()),
                ..Default::default()
            })
            .await;
        let now = server.state.now();
        assert_eq!(cc_with_assertion(&server, &ed.assertion(&id, &server.issuer, now)).await.status(), 200);
        let res = cc_with_assertion(&server, &es.assertion(&id, &server.issuer, now)).await;
        assert_eq!(res.status(), 401, "{backend:?}: a registered key, but not the registered algorithm");
    }
}

#[tokio::test]
async fn keys_are_fetched_from_jwks_uri() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let key = ClientKey::generate("ES256");
        let jwks = key.jwks().to_string();
        let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { jwks }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://127.0.0.1:{}/jwks", listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let id = key_client(&server, &key, |s| {
            s.jwks = None;
            s.jwks_uri = Some(uri.clone());
        })
        .await;
        let now = server.state.now();
        assert_eq!(cc_with_assertion(&server, &key.assertion(&id, &server.issuer, now)).await.status(), 200);
        // Fetched once, then cached.
        assert_eq!(cc_with_assertion(&server, &key.assertion(&id, &server.issuer, now)).await.status(), 200);

        // A jwks_uri that does not answer with keys: refused, quickly.
        let dead = key_client(&server, &key, |s| {
            s.jwks = None;
            s.jwks_uri = Some("http://127.0.0.1:9/jwks".into());
        })
        .await;
        let started = std::time::Instant::now();
        let res = cc_with_assertion(&server, &key.assertion(&dead, &server.issuer, now)).await;
        assert_eq!(res.status(), 401, "{backend:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[tokio::test]
async fn client_secret_jwt_signs_with_the_issued_secret() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = server
            .client(ClientSpec {
                name: "HMAC".into(),
                app_type: Some("machine".into()),
                scopes: vec!["orders:read".into()],
                token_endpoint_auth_method: Some("client_secret_jwt".into()),
                ..Default::default()
            })
            .await;
        let secret = secret.expect("a secret to sign with");
        let now = server.state.now();
        let claims = || assertion_claims(&id, &server.issuer, now);
        assert_eq!(cc_with_assertion(&server, &hmac_assertion(&secret, &claims())).await.status(), 200, "{backend:?}");
        assert_eq!(cc_with_assertion(&server, &hmac_assertion("wrong-secret", &claims())).await.status(), 401);
        // The secret itself is not accepted as client_secret_basic.
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        // After a rotation, the old secret signs until the overlap ends.
        let mut client = server.state.store.get_client(&id.as_str().into()).await.unwrap().unwrap();
        let key = &server.state.at_rest_key;
        let new = latchkey::oauth::clients::rotate_secret(&mut client, key, now, 60).unwrap();
        server.state.store.update_client(&client).await.unwrap();
        assert_eq!(cc_with_assertion(&server, &hmac_assertion(&new, &claims())).await.status(), 200);
        assert_eq!(cc_with_assertion(&server, &hmac_assertion(&secret, &claims())).await.status(), 200);
        server.clock.advance(61);
        let now = server.state.now();
        let later = assertion_claims(&id, &server.issuer, now);
        assert_eq!(cc_with_assertion(&server, &hmac_assertion(&secret, &later)).await.status(), 401, "overlap over");
        assert_eq!(cc_with_assertion(&server, &hmac_assertion(&new, &later)).await.status(), 200);
        // Stored sealed: the row does not hold the secret in clear.
        let stored = server.state.store.get_client(&id.as_str().into()).await.unwrap().unwrap();
        let sealed = stored.secret_sealed.expect("sealed");
        assert!(!sealed.windows(new.len()).any(|w| w == new.as_bytes()));
    }
}

/// Follows an authorization URL through sign-in and consent to where the
/// browser is sent back.
async fn authorize_through(server: &TestServer, b: &reqwest::Client, url: &str, username: &str) -> Stop {
    let mut stop = follow(b, &server.base, url).await;
    for _ in 0..3 {
        stop = match stop {
            Stop::Page { ref url, ref body, .. } if url.contains("/login") => {
                sign_in(b, &server.base, body, username, PASSWORD).await
            }
            Stop::Page { ref url, ref body, .. } if url.contains("/consent") => {
                consent(b, &server.base, body, "allow").await
            }
            other => return other,
        };
    }
    stop
}

fn authorize_url(server: &TestServer, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

/// POST /par with client_secret_basic.
async fn push(server: &TestServer, id: &str, secret: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http().post(server.url("/par")).basic_auth(id, Some(secret)).form(form).send().await.unwrap()
}

#[tokio::test]
async fn pushed_requests_are_used_once_and_only_by_their_client() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = server.confidential(REDIRECT).await;
        let (other, other_secret) = server.confidential(REDIRECT).await;
        let name = unique("par");
        server.user(&name, PASSWORD).await;
        let (verifier, challenge) = pkce();
        let form = [
            ("response_type", "code"),
            ("client_id", id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email"),
            ("state", "pushed-state"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let res = push(&server, &id, &secret, &form).await;
        assert_eq!(res.status(), 201, "{backend:?}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body = json(res).await;
        assert_eq!(body["expires_in"], 60);
        let request_uri = body["request_uri"].as_str().unwrap().to_string();
        assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{request_uri}");

        // Another client cannot use it: a request URI is taken once, by
        // whoever presents it first, and refused to all but its client.
        let stolen = authorize_url(&server, &[("client_id", &other), ("request_uri", &request_uri)]);
        let (_, page) = follow(&browser(), &server.base, &stolen).await.page();
        assert!(page.contains("invalid_request_uri"), "{backend:?}: {page}");
        let res = push(&server, &other, &other_secret, &form).await;
        assert_eq!(error_of(res).await.1, "invalid_request", "client_id is not the authenticated client");

        // A fresh push, carried by the browser: only client_id and the URI.
        let body = json(push(&server, &id, &secret, &form).await).await;
        let request_uri = body["request_uri"].as_str().unwrap().to_string();
        let start = authorize_url(&server, &[("client_id", &id), ("request_uri", &request_uri)]);
        let b = browser();
        let back = authorize_through(&server, &b, &start, &name).await.left();
        assert_eq!(query_param(&back, "state").as_deref(), Some("pushed-state"), "{back}");
        let code = query_param(&back, "code").expect("a code");
        let res = redeem(&server, &id, Some(&secret), &code, REDIRECT, Some(&verifier)).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        // Spent.
        let (_, page) = follow(&b, &server.base, &start).await.page();
        assert!(page.contains("invalid_request_uri"), "used once");

        // Expired after 60 seconds.
        let body = json(push(&server, &id, &secret, &form).await).await;
        let late = body["request_uri"].as_str().unwrap().to_string();
        server.clock.advance(61);
        let (_, page) =
            follow(&b, &server.base, &authorize_url(&server, &[("client_id", &id), ("request_uri", &late)]))
                .await
                .page();
        assert!(page.contains("invalid_request_uri"), "expired");
    }
}

#[tokio::test]
async fn pushed_requests_are_checked_when_pushed() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = server.confidential(REDIRECT).await;
        let base = [("response_type", "code"), ("client_id", id.as_str()), ("scope", "openid")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v: Vec<(&str, &str)> = base.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (with(&[("redirect_uri", "https://evil.example/cb")]), "invalid_request"),
            (
                with(&[("redirect_uri", REDIRECT), ("request_uri", "urn:ietf:params:oauth:request_uri:x")]),
                "invalid_request",
            ),
            (with(&[("redirect_uri", REDIRECT), ("response_type", "token")]), "invalid_request"),
            (with(&[("redirect_uri", REDIRECT), ("prompt", "none login")]), "invalid_request"),
            (with(&[("redirect_uri", REDIRECT), ("request", "not.a.jwt")]), "invalid_request_object"),
            (
                with(&[("redirect_uri", REDIRECT), ("code_challenge", "x"), ("code_challenge_method", "plain")]),
                "invalid_request",
            ),
        ];
        for (form, error) in cases {
            let res = push(&server, &id, &secret, &form).await;
            let (status, got, _) = error_of(res).await;
            assert_eq!((status.as_u16(), got.as_str()), (400, error), "{backend:?}: {form:?}");
        }
        // Unauthenticated: no push.
        let res = http().post(server.url("/par")).form(&with(&[("redirect_uri", REDIRECT)])).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
}

#[tokio::test]
async fn clients_and_servers_can_require_pushed_requests() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = server
            .client(ClientSpec {
                name: "Pushes".into(),
                redirect_uris: vec![REDIRECT.into()],
                require_pushed_authorization_requests: true,
                ..Default::default()
            })
            .await;
        let secret = secret.unwrap();
        let (_, challenge) = pkce();
        let plain = authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", REDIRECT),
                ("scope", "openid"),
                ("state", "s"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let back = follow(&browser(), &server.base, &plain).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"), "{backend:?}: {back}");
        assert!(query_param(&back, "error_description").unwrap().contains("push"));
        let form = [
            ("response_type", "code"),
            ("client_id", id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        assert_eq!(push(&server, &id, &secret, &form).await.status(), 201);

        // Server-wide: every client, and discovery says so.
        let strict = TestServer::spawn_with(backend, &[("LATCHKEY_REQUIRE_PAR", "true")]).await;
        let meta = json(http().get(strict.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
        assert_eq!(meta["require_pushed_authorization_requests"], true);
        assert_eq!(meta["pushed_authorization_request_endpoint"], strict.url("/par"));
        let (any, _) = strict.confidential(REDIRECT).await;
        let plain =
            authorize_url(&strict, &[("response_type", "code"), ("client_id", &any), ("redirect_uri", REDIRECT)]);
        let back = follow(&browser(), &strict.base, &plain).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"), "{backend:?}");
    }
}

/// A client with `key` registered, for request objects.
async fn signing_client(server: &TestServer, key: &ClientKey, extra: impl FnOnce(&mut ClientSpec)) -> (String, String) {
    let mut spec = ClientSpec {
        name: "Signs requests".into(),
        redirect_uris: vec![REDIRECT.into()],
        jwks: Some(key.jwks().to_string()),
        ..Default::default()
    };
    extra(&mut spec);
    let (id, secret) = server.client(spec).await;
    (id, secret.unwrap())
}

fn request_claims(server: &TestServer, id: &str, challenge: &str, now: i64) -> Value {
    json!({
        "iss": id, "aud": server.issuer, "exp": now + 300, "nbf": now, "iat": now,
        "client_id": id, "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid email",
        "state": "signed-state", "nonce": "n-signed", "max_age": 3600,
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
}

#[tokio::test]
async fn signed_request_objects_carry_the_request() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let key = ClientKey::generate("PS256");
        let (id, secret) = signing_client(&server, &key, |_| {}).await;
        let name = unique("jar");
        server.user(&name, PASSWORD).await;
        let (verifier, challenge) = pkce();
        let now = server.state.now();
        let object = key.sign(Some("oauth-authz-req+jwt"), &request_claims(&server, &id, &challenge, now));
        // Outside parameters are not used: the object's state comes back.
        let start = authorize_url(
            &server,
            &[("client_id", &id), ("request", &object), ("state", "outside"), ("scope", "openid profile")],
        );
        let b = browser();
        let back = authorize_through(&server, &b, &start, &name).await.left();
        assert_eq!(query_param(&back, "state").as_deref(), Some("signed-state"), "{backend:?}: {back}");
        let code = query_param(&back, "code").unwrap();
        let tokens = json(redeem(&server, &id, Some(&secret), &code, REDIRECT, Some(&verifier)).await).await;
        assert_eq!(tokens["scope"], "openid email", "the object's scope, not the outer one");

        // By value at PAR too.
        let object = key.sign(Some("oauth-authz-req+jwt"), &request_claims(&server, &id, &challenge, now));
        let res = push(&server, &id, &secret, &[("client_id", &id), ("request", &object)]).await;
        assert_eq!(res.status(), 201, "{backend:?}");
    }
}

#[tokio::test]
async fn request_objects_that_must_be_refused() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let key = ClientKey::generate("ES256");
        let (id, secret) = signing_client(&server, &key, |s| s.request_object_signing_alg = Some("ES256".into())).await;
        let other = ClientKey::generate("ES256");
        let ed = ClientKey::generate("EdDSA");
        let (_, challenge) = pkce();
        let now = server.state.now();
        let claims = |f: &dyn Fn(&mut Value)| {
            let mut c = request_claims(&server, &id, &challenge, now);
            f(&mut c);
            c
        };
        let cases: Vec<(&str, String)> = vec![
            ("unsigned", unsigned(&claims(&|_| {}))),
            ("another key", other.sign(None, &claims(&|_| {}))),
            ("another algorithm than registered", ed.sign(None, &claims(&|_| {}))),
            ("aud is not the issuer", key.sign(None, &claims(&|c| c["aud"] = json!("https://other.example")))),
            ("iss is not the client", key.sign(None, &claims(&|c| c["iss"] = json!("x")))),
            ("expired", key.sign(None, &claims(&|c| c["exp"] = json!(now - 100)))),
            ("no exp", key.sign(None, &claims(&|c| drop(c.as_object_mut().unwrap().remove("exp"))))),
            ("valid for a day", key.sign(None, &claims(&|c| c["exp"] = json!(now + 86_400)))),
            ("another client's id", key.sign(None, &claims(&|c| c["client_id"] = json!("someone")))),
            ("a request in a request", key.sign(None, &claims(&|c| c["request_uri"] = json!("https://x.example/r")))),
            ("wrong typ", key.sign(Some("at+jwt"), &claims(&|_| {}))),
        ];
        for (what, object) in cases {
            // Sent back to the registered redirect URI with the outer state.
            let start = authorize_url(
                &server,
                &[("client_id", &id), ("request", &object), ("redirect_uri", REDIRECT), ("state", "outer")],
            );
            let back = follow(&browser(), &server.base, &start).await.left();
            assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request_object"), "{backend:?}: {what}");
            assert_eq!(query_param(&back, "state").as_deref(), Some("outer"));
            // And refused at PAR.
            let res = push(&server, &id, &secret, &[("client_id", &id), ("request", &object)]).await;
            assert_eq!(error_of(res).await.1, "invalid_request_object", "{backend:?} at PAR: {what}");
        }
        // Without a registered redirect URI outside, a page, never a redirect.
        let start = authorize_url(&server, &[("client_id", &id), ("request", &unsigned(&claims(&|_| {})))]);
        let (_, page) = follow(&browser(), &server.base, &start).await.page();
        assert!(page.contains("invalid_request_object"));

        // require_signed_request_object: plain requests are refused.
        let (strict, _) = signing_client(&server, &key, |s| s.require_signed_request_object = true).await;
        let start = authorize_url(
            &server,
            &[
                ("client_id", &strict),
                ("response_type", "code"),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let back = follow(&browser(), &server.base, &start).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"), "{backend:?}");
    }
}

/// A machine client with a secret (client_credentials, `orders:read`).
async fn machine(server: &TestServer, extra: impl FnOnce(&mut ClientSpec)) -> (String, String) {
    let mut spec = ClientSpec {
        name: "M2M".into(),
        app_type: Some("machine".into()),
        scopes: vec!["orders:read".into()],
        ..Default::default()
    };
    extra(&mut spec);
    let (id, secret) = server.client(spec).await;
    (id, secret.expect("a secret"))
}

/// POST /token with a DPoP proof (and client_secret_basic).
async fn token_with_proof(
    server: &TestServer, id: &str, secret: Option<&str>, form: &[(&str, &str)], proof: Option<&str>,
) -> reqwest::Response {
    let mut req = http().post(server.url("/token")).form(form);
    req = match secret {
        Some(s) => req.basic_auth(id, Some(s)),
        None => req,
    };
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    req.send().await.unwrap()
}

async fn userinfo_dpop(server: &TestServer, token: &str, proof: Option<&str>) -> reqwest::Response {
    let mut req = http().get(server.url("/userinfo")).header("Authorization", format!("DPoP {token}"));
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    req.send().await.unwrap()
}

/// The access token's claims, read without checking (the server checks).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&latchkey::crypto::b64url_decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn dpop_binds_tokens_to_the_clients_key() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let spa = server.public(REDIRECT).await;
        let name = unique("dpop");
        server.user(&name, PASSWORD).await;
        let key = ClientKey::generate("ES256");
        let token_url = server.url("/token");
        let now = server.state.now();
        let (verifier, challenge) = pkce();
        let b = browser();
        let start = authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", &spa),
                ("redirect_uri", REDIRECT),
                ("scope", "openid offline_access"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let code = query_param(&authorize_through(&server, &b, &start, &name).await.left(), "code").unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", spa.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let proof = key.proof("POST", &token_url, None, None, now);
        let res = token_with_proof(&server, &spa, None, &form, Some(&proof)).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let tokens = json(res).await;
        assert_eq!(tokens["token_type"], "DPoP");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(claims_of(&access)["cnf"]["jkt"], key.thumbprint().as_str());

        // At UserInfo: the DPoP scheme with a proof of the key, for this
        // request and this token.
        let userinfo = server.url("/userinfo");
        let proof = key.proof("GET", &userinfo, Some(&access), None, now);
        assert_eq!(userinfo_dpop(&server, &access, Some(&proof)).await.status(), 200, "{backend:?}");
        let res = userinfo_dpop(&server, &access, Some(&proof)).await;
        assert_eq!(res.status(), 401, "a proof is used once");
        let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert!(challenge.starts_with("DPoP ") && challenge.contains("invalid_dpop_proof"), "{challenge}");
        // As Bearer it is refused: it is bound.
        let res = http().get(&userinfo).bearer_auth(&access).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP "));
        let other = ClientKey::generate("ES256");
        let cases = [
            ("another key", other.proof("GET", &userinfo, Some(&access), None, now)),
            ("no ath", key.proof("GET", &userinfo, None, None, now)),
            ("another token's ath", key.proof("GET", &userinfo, Some("other-token"), None, now)),
            ("another method", key.proof("POST", &userinfo, Some(&access), None, now)),
            ("another URL", key.proof("GET", &token_url, Some(&access), None, now)),
            ("too old", key.proof("GET", &userinfo, Some(&access), None, now - 300)),
            ("from the future", key.proof("GET", &userinfo, Some(&access), None, now + 300)),
        ];
        for (what, proof) in cases {
            let res = userinfo_dpop(&server, &access, Some(&proof)).await;
            assert_eq!(res.status(), 401, "{backend:?}: {what}");
        }
        assert_eq!(userinfo_dpop(&server, &access, None).await.status(), 401, "no proof");
        let p1 = key.proof("GET", &userinfo, Some(&access), None, now);
        let p2 = key.proof("GET", &userinfo, Some(&access), None, now);
        let res = http()
            .get(&userinfo)
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", &p1)
            .header("DPoP", &p2)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "two proofs");

        // Introspection says how it is bound.
        let (rs, rs_secret) = server.confidential(REDIRECT).await;
        let res = http()
            .post(server.url("/introspect"))
            .basic_auth(&rs, Some(&rs_secret))
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap();
        let info = json(res).await;
        assert_eq!(
            (info["token_type"].as_str(), info["cnf"]["jkt"].as_str()),
            (Some("DPoP"), Some(key.thumbprint().as_str()))
        );

        // A public client's refresh token is bound to the key too.
        let refresh_form =
            [("grant_type", "refresh_token"), ("client_id", spa.as_str()), ("refresh_token", refresh.as_str())];
        let res = token_with_proof(&server, &spa, None, &refresh_form, None).await;
        assert_eq!(error_of(res).await.1, "invalid_dpop_proof", "{backend:?}: no proof");
        let res = token_with_proof(
            &server,
            &spa,
            None,
            &refresh_form,
            Some(&other.proof("POST", &token_url, None, None, now)),
        )
        .await;
        assert_eq!(error_of(res).await.1, "invalid_dpop_proof", "another key");
        let res =
            token_with_proof(&server, &spa, None, &refresh_form, Some(&key.proof("POST", &token_url, None, None, now)))
                .await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let rotated = json(res).await;
        assert_eq!(rotated["token_type"], "DPoP");
        let next = rotated["refresh_token"].as_str().unwrap();
        let next_form = [("grant_type", "refresh_token"), ("client_id", spa.as_str()), ("refresh_token", next)];
        let res =
            token_with_proof(&server, &spa, None, &next_form, Some(&other.proof("POST", &token_url, None, None, now)))
                .await;
        assert_eq!(error_of(res).await.1, "invalid_dpop_proof", "the rotation keeps the binding");
    }
}

#[tokio::test]
async fn dpop_proofs_that_must_be_refused_at_the_token_endpoint() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = machine(&server, |_| {}).await;
        let key = ClientKey::generate("EdDSA");
        let token_url = server.url("/token");
        let now = server.state.now();
        let form = [("grant_type", "client_credentials")];
        // A confidential client's client_credentials token, bound.
        let res =
            token_with_proof(&server, &id, Some(&secret), &form, Some(&key.proof("POST", &token_url, None, None, now)))
                .await;
        assert_eq!(json(res).await["token_type"], "DPoP", "{backend:?}");
        let proof_claims = |f: &dyn Fn(&mut Value)| {
            let mut c = json!({"jti": latchkey::crypto::random_token(8), "htm": "POST", "htu": token_url, "iat": now});
            f(&mut c);
            c
        };
        let private_header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": with_private_member(&ClientKey::generate("ES256").public)});
        let es = ClientKey::generate("ES256");
        let cases: Vec<(&str, String)> = vec![
            (
                "wrong typ",
                key.sign_with_header(&json!({"typ": "JWT", "alg": "EdDSA", "jwk": key.public}), &proof_claims(&|_| {})),
            ),
            ("no jwk", key.sign_with_header(&json!({"typ": "dpop+jwt", "alg": "EdDSA"}), &proof_claims(&|_| {}))),
            ("a private key in the header", es.sign_with_header(&private_header, &proof_claims(&|_| {}))),
            (
                "a small RSA key",
                key.sign_with_header(
                    &json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": small_rsa_jwk()}),
                    &proof_claims(&|_| {}),
                ),
            ),
            ("unsigned", unsigned(&proof_claims(&|_| {}))),
            (
                "the jwk did not sign it",
                key.sign_with_header(
                    &json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": ClientKey::generate("EdDSA").public}),
                    &proof_claims(&|_| {}),
                ),
            ),
            ("htm GET", key.proof_with(&proof_claims(&|c| c["htm"] = json!("GET")))),
            ("htu elsewhere", key.proof_with(&proof_claims(&|c| c["htu"] = json!("https://other.example/token")))),
            ("no jti", key.proof_with(&proof_claims(&|c| drop(c.as_object_mut().unwrap().remove("jti"))))),
            ("no iat", key.proof_with(&proof_claims(&|c| drop(c.as_object_mut().unwrap().remove("iat"))))),
            ("old", key.proof_with(&proof_claims(&|c| c["iat"] = json!(now - 600)))),
            (
                "unknown critical header",
                key.sign_with_header(
                    &json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.public, "crit": ["x"], "x": 1}),
                    &proof_claims(&|_| {}),
                ),
            ),
            (
                "nested deeply",
                key.sign_raw(
                    &json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.public}).to_string(),
                    &format!(
                        r#"{{"jti":"deep-1","htm":"POST","htu":"{token_url}","iat":{now},"deep":{}1{}}}"#,
                        "[".repeat(200),
                        "]".repeat(200)
                    ),
                ),
            ),
        ];
        for (what, proof) in cases {
            let res = token_with_proof(&server, &id, Some(&secret), &form, Some(&proof)).await;
            let (status, error, _) = error_of(res).await;
            assert_eq!((status.as_u16(), error.as_str()), (400, "invalid_dpop_proof"), "{backend:?}: {what}");
        }
        let once = key.proof("POST", &token_url, None, None, now);
        assert_eq!(token_with_proof(&server, &id, Some(&secret), &form, Some(&once)).await.status(), 200);
        let res = token_with_proof(&server, &id, Some(&secret), &form, Some(&once)).await;
        assert_eq!(error_of(res).await.1, "invalid_dpop_proof", "{backend:?}: replayed");

        // A client registered for DPoP must send a proof.
        let (bound, bound_secret) = machine(&server, |s| s.dpop_bound_access_tokens = true).await;
        let res = token_with_proof(&server, &bound, Some(&bound_secret), &form, None).await;
        assert_eq!(error_of(res).await.1, "invalid_dpop_proof", "{backend:?}");
    }
}

#[tokio::test]
async fn dpop_nonces_when_the_server_asks_for_them() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_DPOP_NONCE", "true")]).await;
        let (id, secret) = machine(&server, |_| {}).await;
        let key = ClientKey::generate("ES256");
        let token_url = server.url("/token");
        let now = server.state.now();
        let form = [("grant_type", "client_credentials")];
        let res =
            token_with_proof(&server, &id, Some(&secret), &form, Some(&key.proof("POST", &token_url, None, None, now)))
                .await;
        assert_eq!(res.status(), 400, "{backend:?}");
        let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_string();
        assert_eq!(json(res).await["error"], "use_dpop_nonce");
        let proof = key.proof("POST", &token_url, None, Some(&nonce), now);
        let res = token_with_proof(&server, &id, Some(&secret), &form, Some(&proof)).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        assert!(res.headers().contains_key("dpop-nonce"), "the next nonce comes with the answer");
        let wrong = key.proof("POST", &token_url, None, Some("made-up"), now);
        let res = token_with_proof(&server, &id, Some(&secret), &form, Some(&wrong)).await;
        assert_eq!(json(res).await["error"], "use_dpop_nonce");
        // A nonce lives one to two minutes.
        server.clock.advance(150);
        let now = server.state.now();
        let stale = key.proof("POST", &token_url, None, Some(&nonce), now);
        let res = token_with_proof(&server, &id, Some(&secret), &form, Some(&stale)).await;
        assert_eq!(json(res).await["error"], "use_dpop_nonce", "{backend:?}: stale nonce");
    }
}

#[tokio::test]
async fn dpop_jkt_binds_the_code_to_a_key() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = server.confidential(REDIRECT).await;
        let name = unique("jkt");
        server.user(&name, PASSWORD).await;
        let key = ClientKey::generate("ES256");
        let other = ClientKey::generate("ES256");
        let token_url = server.url("/token");
        let (verifier, challenge) = pkce();
        let jkt = key.thumbprint();
        let start = authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", REDIRECT),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("dpop_jkt", &jkt),
            ],
        );
        let b = browser();
        let code = query_param(&authorize_through(&server, &b, &start, &name).await.left(), "code").unwrap();
        let now = server.state.now();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let res = token_with_proof(
            &server,
            &id,
            Some(&secret),
            &form,
            Some(&other.proof("POST", &token_url, None, None, now)),
        )
        .await;
        assert_eq!(error_of(res).await.1, "invalid_grant", "{backend:?}: another key");

        // Bound at PAR by the proof sent with the push.
        let (verifier, challenge) = pkce();
        let par_url = server.url("/par");
        let res = http()
            .post(&par_url)
            .basic_auth(&id, Some(&secret))
            .header("DPoP", key.proof("POST", &par_url, None, None, now))
            .form(&[
                ("response_type", "code"),
                ("client_id", id.as_str()),
                ("redirect_uri", REDIRECT),
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{backend:?}");
        let request_uri = json(res).await["request_uri"].as_str().unwrap().to_string();
        let start = authorize_url(&server, &[("client_id", &id), ("request_uri", &request_uri)]);
        let code = query_param(&authorize_through(&server, &b, &start, &name).await.left(), "code").unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let res = token_with_proof(&server, &id, Some(&secret), &form, None).await;
        assert_eq!(error_of(res).await.1, "invalid_grant", "{backend:?}: no proof for a bound code");
    }
}

async fn register(server: &TestServer, body: Value) -> reqwest::Response {
    http().post(server.url("/register")).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn registration_takes_keys_and_sender_constraints_by_their_standard_names() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_REGISTRATION_OPEN", "true")]).await;
        let key = ClientKey::generate("ES256");
        let metadata = json!({
            "client_name": "Keyed app",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": key.jwks(),
            "request_object_signing_alg": "ES256",
            "require_signed_request_object": true,
            "require_pushed_authorization_requests": true,
            "dpop_bound_access_tokens": true,
        });
        let res = register(&server, metadata.clone()).await;
        assert_eq!(res.status(), 201, "{backend:?}");
        let doc = json(res).await;
        for field in [
            "token_endpoint_auth_method",
            "token_endpoint_auth_signing_alg",
            "request_object_signing_alg",
            "require_signed_request_object",
            "require_pushed_authorization_requests",
            "dpop_bound_access_tokens",
        ] {
            assert_eq!(doc[field], metadata[field], "{backend:?}: {field}");
        }
        assert_eq!(doc["jwks"]["keys"][0]["x"], key.public["x"]);
        assert!(doc.get("client_secret").is_none(), "a key client gets no secret");
        // Read back (RFC 7592) the same.
        let read = http()
            .get(doc["registration_client_uri"].as_str().unwrap())
            .bearer_auth(doc["registration_access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let read = json(read).await;
        assert_eq!(read["dpop_bound_access_tokens"], true);
        assert_eq!(read["jwks"], doc["jwks"]);

        let bad = |f: &dyn Fn(&mut Value)| {
            let mut m = metadata.clone();
            f(&mut m);
            m
        };
        let cases: Vec<(&str, Value)> = vec![
            ("a private key", bad(&|m| m["jwks"] = json!({"keys": [with_private_member(&key.public)]}))),
            ("a small RSA key", bad(&|m| m["jwks"] = json!({"keys": [small_rsa_jwk()]}))),
            ("jwks and jwks_uri", bad(&|m| m["jwks_uri"] = json!("https://app.example/jwks"))),
            ("no keys", bad(&|m| drop(m.as_object_mut().unwrap().remove("jwks")))),
            ("an HMAC algorithm for keys", bad(&|m| m["token_endpoint_auth_signing_alg"] = json!("HS256"))),
            ("request objects unsigned", bad(&|m| m["request_object_signing_alg"] = json!("none"))),
            ("an unknown profile", bad(&|m| m["security_profile"] = json!("fapi9"))),
            ("jwks not a set", bad(&|m| m["jwks"] = json!([1, 2]))),
        ];
        for (what, body) in cases {
            let res = register(&server, body).await;
            assert_eq!(res.status(), 400, "{backend:?}: {what}");
            assert_eq!(json(res).await["error"], "invalid_client_metadata", "{backend:?}: {what}");
        }
        let res = register(&server, json!({"redirect_uris": [REDIRECT], "jwks_uri": "http://app.example/jwks", "token_endpoint_auth_method": "private_key_jwt"})).await;
        assert_eq!(json(res).await["error"], "invalid_client_metadata", "jwks_uri over plain http");
    }
}

/// A FAPI 2.0 client: private_key_jwt with `key`, registered dynamically.
async fn fapi_client(server: &TestServer, key: &ClientKey) -> String {
    let res = register(
        server,
        json!({
            "client_name": "Bank app",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(),
            "grant_types": ["authorization_code", "refresh_token"],
            "security_profile": "fapi2",
        }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let doc = json(res).await;
    assert_eq!(doc["security_profile"], "fapi2");
    // The profile turns on what it demands.
    assert_eq!(doc["require_pushed_authorization_requests"], true);
    assert_eq!(doc["dpop_bound_access_tokens"], true);
    doc["client_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_fapi_2_profile_end_to_end_and_its_refusals() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_REGISTRATION_OPEN", "true")]).await;
        let key = ClientKey::generate("PS256");
        let dpop_key = ClientKey::generate("ES256");
        let id = fapi_client(&server, &key).await;
        let name = unique("fapi");
        server.user(&name, PASSWORD).await;
        let (par_url, token_url) = (server.url("/par"), server.url("/token"));
        let now = server.state.now();
        let (verifier, challenge) = pkce();
        let auth = |aud: &str| {
            vec![
                ("client_assertion_type".to_string(), ASSERTION_TYPE.to_string()),
                ("client_assertion".to_string(), key.assertion(&id, aud, now)),
            ]
        };
        let mut form: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), id.clone()),
            ("redirect_uri".into(), REDIRECT.into()),
            ("scope".into(), "openid offline_access".into()),
            ("state".into(), "fapi-state".into()),
            ("code_challenge".into(), challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
        ];
        form.extend(auth(&server.issuer));
        let res = http()
            .post(&par_url)
            .header("DPoP", dpop_key.proof("POST", &par_url, None, None, now))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{backend:?}");
        let request_uri = json(res).await["request_uri"].as_str().unwrap().to_string();
        let b = browser();
        let start = authorize_url(&server, &[("client_id", &id), ("request_uri", &request_uri)]);
        let back = authorize_through(&server, &b, &start, &name).await.left();
        assert_eq!(query_param(&back, "iss").as_deref(), Some(server.issuer.as_str()), "RFC 9207 iss");
        let code = query_param(&back, "code").unwrap();
        let mut token_form: Vec<(String, String)> = vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code),
            ("redirect_uri".into(), REDIRECT.into()),
            ("code_verifier".into(), verifier),
        ];
        token_form.extend(auth(&server.issuer));
        let without_proof = http().post(&token_url).form(&token_form).send().await.unwrap();
        assert_eq!(error_of(without_proof).await.1, "invalid_dpop_proof", "{backend:?}: DPoP is required");
        token_form.truncate(4);
        token_form.extend(auth(&server.issuer));
        let res = http()
            .post(&token_url)
            .header("DPoP", dpop_key.proof("POST", &token_url, None, None, now))
            .form(&token_form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{backend:?}");
        let tokens = json(res).await;
        assert_eq!(tokens["token_type"], "DPoP");
        let access = tokens["access_token"].as_str().unwrap();
        let proof = dpop_key.proof("GET", &server.url("/userinfo"), Some(access), None, now);
        assert_eq!(userinfo_dpop(&server, access, Some(&proof)).await.status(), 200);

        // Refusals: no PAR; PAR without PKCE; an algorithm FAPI does not allow.
        let plain = authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let back = follow(&browser(), &server.base, &plain).await.left();
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"), "{backend:?}: PAR required");
        let mut no_pkce: Vec<(String, String)> = form
            .iter()
            .filter(|(k, _)| !k.starts_with("code_challenge") && !k.starts_with("client_assertion"))
            .cloned()
            .collect();
        no_pkce.extend(auth(&server.issuer));
        let res = http().post(&par_url).form(&no_pkce).send().await.unwrap();
        assert_eq!(error_of(res).await.1, "invalid_request", "{backend:?}: PKCE required");
        let rs256 =
            key.sign_with_header(&json!({"alg": "RS256", "kid": key.kid}), &assertion_claims(&id, &server.issuer, now));
        let _ = rs256; // PKCS#1 v1.5 over a PSS key id: refused before any signature check.
        let rsa = ClientKey::generate("RS256");
        let rsa_id = {
            let res = register(
                &server,
                json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt", "jwks": rsa.jwks(), "security_profile": "fapi2"}),
            )
            .await;
            json(res).await["client_id"].as_str().unwrap().to_string()
        };
        let mut form_rs: Vec<(String, String)> =
            form.iter().filter(|(k, _)| !k.starts_with("client_assertion")).cloned().collect();
        form_rs.retain(|(k, _)| k != "client_id");
        form_rs.push(("client_id".into(), rsa_id.clone()));
        form_rs.push(("client_assertion_type".into(), ASSERTION_TYPE.into()));
        form_rs.push(("client_assertion".into(), rsa.assertion(&rsa_id, &server.issuer, now)));
        let res = http().post(&par_url).form(&form_rs).send().await.unwrap();
        assert_eq!(error_of(res).await.1, "invalid_client", "{backend:?}: RS256 is not a FAPI algorithm");
        // A shared secret is not FAPI.
        let res = register(
            &server,
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic", "security_profile": "fapi2"}),
        )
        .await;
        assert_eq!(json(res).await["error"], "invalid_client_metadata");
    }
}

#[tokio::test]
async fn the_fapi_2_profile_server_wide() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_FAPI2", "true")]).await;
        let meta = json(http().get(server.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
        assert_eq!(meta["token_endpoint_auth_methods_supported"], json!(["private_key_jwt"]), "{backend:?}");
        assert_eq!(meta["require_pushed_authorization_requests"], true);
        assert_eq!(meta["dpop_signing_alg_values_supported"], json!(["PS256", "ES256", "EdDSA"]));
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        // A client registered with a secret cannot get tokens here.
        let (id, secret) = machine(&server, |_| {}).await;
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(error_of(res).await.1, "invalid_client", "{backend:?}");
        // A key client with DPoP can.
        let key = ClientKey::generate("EdDSA");
        let keyed = key_client(&server, &key, |_| {}).await;
        let now = server.state.now();
        let token_url = server.url("/token");
        let res = http()
            .post(&token_url)
            .header("DPoP", key.proof("POST", &token_url, None, None, now))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &key.assertion(&keyed, &server.issuer, now)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{backend:?}");
        assert_eq!(json(res).await["token_type"], "DPoP");
    }
}
