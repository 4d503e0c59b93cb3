//! Registered APIs with audience-bound tokens (RFC 8707) and token
//! exchange between them (RFC 8693), end to end on both backends. The APIs
//! here are small servers of the test's own that check tokens as a real API
//! would: the signature against the published JWKS, then `aud`.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use latchkey::oauth::apis::{self, ApiSpec};
use latchkey::oauth::clients::ClientSpec;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const REDIRECT: &str = "https://app.example/callback";
const PHOTOS: &str = "https://api.example/photos";
const PAYMENTS: &str = "https://api.example/payments";
const LEDGER: &str = "urn:example:ledger";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

async fn register_api(server: &TestServer, identifier: &str, scopes: &[&str], extra: impl FnOnce(&mut ApiSpec)) {
    let mut spec = ApiSpec {
        identifier: identifier.into(),
        name: format!("API {identifier}"),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    extra(&mut spec);
    let api = apis::build(spec, &server.state.config, server.state.now()).expect("api spec");
    apis::create(&*server.state.store, &api, latchkey::audit::Actor::cli(), server.state.now()).await.expect("api");
}

/// An API's own confidential client, allowed to exchange for `targets`.
async fn api_client(server: &TestServer, scopes: &[&str], targets: &[&str]) -> (String, String) {
    let (id, secret) = server
        .client(ClientSpec {
            name: "An API".into(),
            app_type: Some("machine".into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            token_exchange_targets: targets.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .await;
    (id, secret.unwrap())
}

/// What an API does with a bearer token: verify it against the JWKS and
/// require its own identifier as the audience.
async fn api_accepts(server: &TestServer, identifier: &str, token: &str) -> bool {
    let jwks: JwkSet = http().get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("published key");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[identifier]);
    validation.set_issuer(&[server.issuer.as_str()]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_ok()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&latchkey::crypto::b64url_decode(payload).unwrap()).unwrap()
}

fn authorize_url(server: &TestServer, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

/// A person's code for the app, for `resources` and `scope`.
async fn person_code(
    server: &TestServer, app: &str, username: &str, resources: &[&str], scope: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", app),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend(resources.iter().map(|r| ("resource", *r)));
    let b = browser();
    let mut stop = follow(&b, &server.base, &authorize_url(server, &pairs)).await;
    for _ in 0..3 {
        stop = match stop {
            Stop::Page { ref url, ref body, .. } if url.contains("/login") => {
                sign_in(&b, &server.base, body, username, PASSWORD).await
            }
            Stop::Page { ref url, ref body, .. } if url.contains("/consent") => {
                assert!(
                    body.contains("Use API https:&#x2f;&#x2f;api.example&#x2f;photos on your behalf"),
                    "the consent page names the API: {body}"
                );
                consent(&b, &server.base, body, "allow").await
            }
            other => other,
        };
    }
    let back = stop.left();
    (query_param(&back, "code").unwrap_or_else(|| panic!("no code: {back}")), verifier)
}

async fn token(server: &TestServer, id: &str, secret: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let res = http().post(server.url("/token")).basic_auth(id, Some(secret)).form(form).send().await.unwrap();
    (res.status(), json(res).await)
}

#[tokio::test]
async fn tokens_meant_for_one_api_are_refused_by_another() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        register_api(&server, PHOTOS, &["photos:read", "photos:write"], |_| {}).await;
        register_api(&server, PAYMENTS, &["payments:pay"], |s| {
            s.access_token_ttl = Some(120);
            s.access_token_alg = Some("ES256".into());
        })
        .await;
        let (app, secret) = server.confidential(REDIRECT).await;
        let name = unique("photographer");
        server.user(&name, PASSWORD).await;
        let (code, verifier) =
            person_code(&server, &app, &name, &[PHOTOS], "openid offline_access photos:read payments:pay").await;
        let (status, tokens) = token(
            &server,
            &app,
            &secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {tokens}");
        // The only API granted: the token is its, with its scopes only.
        assert_eq!(tokens["scope"], "photos:read", "{backend:?}: another API's scope was not granted");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        assert_eq!(claims_of(&access)["aud"], PHOTOS);
        assert!(api_accepts(&server, PHOTOS, &access).await, "the photos API takes it");
        assert!(!api_accepts(&server, PAYMENTS, &access).await, "{backend:?}: the payments API refuses it");
        let res = http().get(server.url("/userinfo")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(res.status(), 401, "UserInfo takes only tokens for the issuer");
        // The refresh token reaches only what was granted.
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        let (_, body) = token(
            &server,
            &app,
            &secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh), ("resource", PAYMENTS)],
        )
        .await;
        assert_eq!(body["error"], "invalid_target", "{backend:?}");

        // client_credentials for an API: its audience, lifetime and algorithm.
        let (m2m, m2m_secret) = server
            .client(ClientSpec {
                name: "Billing".into(),
                app_type: Some("machine".into()),
                scopes: vec!["payments:pay".into(), "orders:read".into()],
                ..Default::default()
            })
            .await;
        let (status, body) = token(
            &server,
            &m2m,
            m2m_secret.as_deref().unwrap(),
            &[("grant_type", "client_credentials"), ("resource", PAYMENTS)],
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!((body["scope"].as_str(), body["expires_in"].as_i64()), (Some("payments:pay"), Some(120)));
        let m2m_token = body["access_token"].as_str().unwrap();
        assert_eq!(jsonwebtoken::decode_header(m2m_token).unwrap().alg, jsonwebtoken::Algorithm::ES256);
        assert!(api_accepts(&server, PAYMENTS, m2m_token).await, "{backend:?}: signed by a published ES256 key");

        // An API's own client learns only of tokens meant for it.
        let (photos_client, photos_secret) = api_client(&server, &[], &[]).await;
        let mut api = apis::find(&*server.state.store, PHOTOS).await.unwrap().unwrap();
        api.client_id = Some(photos_client.as_str().into());
        server.state.store.update_api(&api).await.unwrap();
        let introspect = |token: String| {
            let (url, id, secret) = (server.url("/introspect"), photos_client.clone(), photos_secret.clone());
            async move {
                let res = http().post(url).basic_auth(id, Some(secret)).form(&[("token", token)]).send().await.unwrap();
                json(res).await["active"].as_bool().unwrap()
            }
        };
        assert!(introspect(access.clone()).await, "{backend:?}: its own token");
        assert!(!introspect(m2m_token.to_string()).await, "{backend:?}: the payments API's token");
    }
}

#[tokio::test]
async fn resources_that_must_be_refused() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        register_api(&server, PHOTOS, &["photos:read"], |_| {}).await;
        register_api(&server, PAYMENTS, &["payments:pay"], |_| {}).await;
        let (app, secret) = server
            .client(ClientSpec {
                name: "Limited".into(),
                redirect_uris: vec![REDIRECT.into()],
                allowed_resources: vec![PHOTOS.into()],
                ..Default::default()
            })
            .await;
        let secret = secret.unwrap();
        let (_, challenge) = pkce();
        for (resource, why) in [
            ("https://api.example/unknown", "not registered"),
            ("/photos", "not absolute"),
            ("https://api.example/photos#v1", "a fragment"),
            (PAYMENTS, "not allowed for this client"),
        ] {
            let url = authorize_url(
                &server,
                &[
                    ("response_type", "code"),
                    ("client_id", &app),
                    ("redirect_uri", REDIRECT),
                    ("scope", "openid"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                    ("resource", resource),
                ],
            );
            let back = follow(&browser(), &server.base, &url).await.left();
            assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_target"), "{backend:?}: {why}");
        }
        // Several resources at the token endpoint would add up their
        // scopes: one per token.
        let name = unique("limited");
        server.user(&name, PASSWORD).await;
        let (code, verifier) = person_code(&server, &app, &name, &[PHOTOS], "openid photos:read").await;
        let (_, body) = token(
            &server,
            &app,
            &secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
                ("resource", PHOTOS),
                ("resource", PAYMENTS),
            ],
        )
        .await;
        assert_eq!(body["error"], "invalid_target", "{backend:?}");
        // At PAR too.
        let res = http()
            .post(server.url("/par"))
            .basic_auth(&app, Some(&secret))
            .form(&[
                ("response_type", "code"),
                ("redirect_uri", REDIRECT),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("resource", "https://api.example/unknown"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(json(res).await["error"], "invalid_target", "{backend:?}: PAR");
    }
}

/// A person's photos token, from the app: access, ID and refresh tokens.
async fn photos_token(server: &TestServer, app: (&str, &str), username: &str) -> (String, String, String) {
    let (code, verifier) = person_code(server, app.0, username, &[PHOTOS], "openid photos:read photos:write").await;
    let (_, tokens) = token(
        server,
        app.0,
        app.1,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let text = |name: &str| tokens[name].as_str().unwrap_or_else(|| panic!("no {name}: {tokens}")).to_string();
    (text("access_token"), text("id_token"), text("refresh_token"))
}

#[tokio::test]
async fn apis_exchange_a_persons_token_along_a_chain() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        register_api(&server, PHOTOS, &["photos:read", "photos:write"], |_| {}).await;
        register_api(&server, PAYMENTS, &["photos:read", "payments:pay"], |_| {}).await;
        register_api(&server, LEDGER, &["photos:read"], |_| {}).await;
        let (photos_api, photos_secret) = api_client(&server, &[], &[PAYMENTS]).await;
        let (payments_api, payments_secret) = api_client(&server, &[], &[LEDGER]).await;
        for (identifier, client) in [(PHOTOS, &photos_api), (PAYMENTS, &payments_api)] {
            let mut api = apis::find(&*server.state.store, identifier).await.unwrap().unwrap();
            api.client_id = Some(client.as_str().into());
            server.state.store.update_api(&api).await.unwrap();
        }
        let (app, app_secret) = server.confidential(REDIRECT).await;
        let name = unique("chain");
        let sub = server.user(&name, PASSWORD).await;
        let (person_token, id_token, person_refresh) = photos_token(&server, (&app, &app_secret), &name).await;

        // The photos API, acting on the person's behalf, calls payments.
        let actor = |id: String, secret: String| {
            let server_url = server.url("/token");
            async move {
                let res = http()
                    .post(server_url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                json(res).await["access_token"].as_str().unwrap().to_string()
            }
        };
        let photos_actor = actor(photos_api.clone(), photos_secret.clone()).await;
        let (status, exchanged) = token(
            &server,
            &photos_api,
            &photos_secret,
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &person_token),
                ("subject_token_type", ACCESS),
                ("actor_token", &photos_actor),
                ("actor_token_type", ACCESS),
                ("resource", PAYMENTS),
            ],
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {exchanged}");
        assert_eq!(exchanged["issued_token_type"], ACCESS);
        assert_eq!(exchanged["scope"], "photos:read", "{backend:?}: no wider than the person's token and the target's");
        let for_payments = exchanged["access_token"].as_str().unwrap().to_string();
        let claims = claims_of(&for_payments);
        assert_eq!((claims["aud"].as_str(), claims["sub"].as_str()), (Some(PAYMENTS), Some(sub.as_str())));
        assert_eq!(claims["act"]["sub"], photos_api.as_str());
        assert!(claims["exp"].as_i64() <= claims_of(&person_token)["exp"].as_i64(), "never longer");
        assert!(api_accepts(&server, PAYMENTS, &for_payments).await);

        // Payments goes on to the ledger: the chain is nested.
        let payments_actor = actor(payments_api.clone(), payments_secret.clone()).await;
        let (status, exchanged) = token(
            &server,
            &payments_api,
            &payments_secret,
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &for_payments),
                ("subject_token_type", ACCESS),
                ("actor_token", &payments_actor),
                ("actor_token_type", ACCESS),
                ("audience", LEDGER),
            ],
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {exchanged}");
        let for_ledger = exchanged["access_token"].as_str().unwrap().to_string();
        let act = &claims_of(&for_ledger)["act"];
        assert_eq!(
            (act["sub"].as_str(), act["act"]["sub"].as_str()),
            (Some(payments_api.as_str()), Some(photos_api.as_str()))
        );

        // Refusals, each with its error and nothing issued.
        let exchange_as = |who: (&str, &str), extra: Vec<(&'static str, String)>| {
            let (url, id, secret) = (server.url("/token"), who.0.to_string(), who.1.to_string());
            async move {
                let mut form: Vec<(&str, String)> =
                    vec![("grant_type", EXCHANGE.into()), ("subject_token_type", ACCESS.into())];
                form.extend(extra);
                let res = http().post(url).basic_auth(id, Some(secret)).form(&form).send().await.unwrap();
                let body = json(res).await;
                assert!(body.get("access_token").is_none(), "nothing issued: {body}");
                body["error"].as_str().unwrap_or("").to_string()
            }
        };
        let photos = (photos_api.as_str(), photos_secret.as_str());
        let person = || ("subject_token", person_token.clone());
        assert_eq!(
            exchange_as((&app, &app_secret), vec![person(), ("resource", PAYMENTS.into())]).await,
            "unauthorized_client",
            "{backend:?}: a client not allowed to exchange"
        );
        assert_eq!(
            exchange_as(photos, vec![person(), ("resource", LEDGER.into())]).await,
            "invalid_target",
            "not on its list"
        );
        assert_eq!(exchange_as(photos, vec![person()]).await, "invalid_target", "no target");
        assert_eq!(
            exchange_as(photos, vec![person(), ("resource", PAYMENTS.into()), ("scope", "payments:pay".into())]).await,
            "invalid_scope",
            "wider than the person's token"
        );
        assert_eq!(
            exchange_as(photos, vec![("subject_token", for_payments.clone()), ("resource", PAYMENTS.into())]).await,
            "invalid_grant",
            "a token meant for another API"
        );
        assert_eq!(
            exchange_as(photos, vec![("subject_token", id_token.clone()), ("resource", PAYMENTS.into())]).await,
            "invalid_grant",
            "an ID token passed off as an access token"
        );
        assert_eq!(
            exchange_as(photos, vec![("subject_token", photos_actor.clone()), ("resource", PAYMENTS.into())]).await,
            "invalid_grant",
            "a client's own token has no person"
        );
        let mut refresh_typed = vec![person(), ("resource", PAYMENTS.into())];
        refresh_typed.push(("subject_token_type", "urn:ietf:params:oauth:token-type:refresh_token".into()));
        let body_error = {
            let res = http()
                .post(server.url("/token"))
                .basic_auth(&photos_api, Some(&photos_secret))
                .form(&[
                    ("grant_type", EXCHANGE),
                    ("subject_token", person_token.as_str()),
                    ("subject_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
                    ("resource", PAYMENTS),
                ])
                .send()
                .await
                .unwrap();
            json(res).await["error"].as_str().unwrap().to_string()
        };
        assert_eq!(body_error, "invalid_request", "{backend:?}: refresh tokens are not exchanged");
        let other_person_app_token = {
            let other = unique("other");
            server.user(&other, PASSWORD).await;
            photos_token(&server, (&app, &app_secret), &other).await.0
        };
        assert_eq!(
            exchange_as(
                photos,
                vec![
                    person(),
                    ("resource", PAYMENTS.into()),
                    ("actor_token", other_person_app_token),
                    ("actor_token_type", ACCESS.into())
                ]
            )
            .await,
            "invalid_grant",
            "{backend:?}: one person's token as another's actor"
        );
        let foreign = {
            let other_issuer = TestServer::spawn(backend).await;
            register_api(&other_issuer, PHOTOS, &["photos:read"], |_| {}).await;
            let (app2, secret2) = other_issuer.confidential(REDIRECT).await;
            let n = unique("elsewhere");
            other_issuer.user(&n, PASSWORD).await;
            photos_token(&other_issuer, (&app2, &secret2), &n).await.0
        };
        assert_eq!(
            exchange_as(photos, vec![("subject_token", foreign), ("resource", PAYMENTS.into())]).await,
            "invalid_grant",
            "another issuer's"
        );

        // A DPoP-bound token is usable only with a proof of its key, which
        // the photos API does not hold.
        let key = crate::jose_client::ClientKey::generate("ES256");
        let (code, verifier) = person_code(&server, &app, &name, &[PHOTOS], "openid photos:read").await;
        let token_url = server.url("/token");
        let res = http()
            .post(&token_url)
            .basic_auth(&app, Some(&app_secret))
            .header("DPoP", key.proof("POST", &token_url, None, None, server.state.now()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap();
        let bound = json(res).await["access_token"].as_str().unwrap().to_string();
        assert!(claims_of(&bound)["cnf"]["jkt"].is_string());
        assert_eq!(
            exchange_as(photos, vec![("subject_token", bound), ("resource", PAYMENTS.into())]).await,
            "invalid_grant",
            "{backend:?}: DPoP-bound, no proof"
        );

        // Ending the person's authorization (their app's refresh token is
        // revoked) ends every token exchanged from it, down the chain.
        let res = http()
            .post(server.url("/revoke"))
            .basic_auth(&app, Some(&app_secret))
            .form(&[("token", person_refresh.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            exchange_as(photos, vec![person(), ("resource", PAYMENTS.into())]).await,
            "invalid_grant",
            "revoked"
        );
        let res = http()
            .post(server.url("/introspect"))
            .basic_auth(&payments_api, Some(&payments_secret))
            .form(&[("token", for_payments.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(json(res).await["active"], false, "{backend:?}: the exchanged token ended with the grant");
        let events: Vec<String> =
            server.state.store.list_audit(Some(&sub), 50).await.unwrap().into_iter().map(|e| e.event).collect();
        assert_eq!(events.iter().filter(|e| *e == "token.exchange").count(), 2, "{backend:?}: {events:?}");
        // An expired subject token.
        let (fresh, _, _) = photos_token(&server, (&app, &app_secret), &name).await;
        server.clock.advance(server.state.config.access_token_ttl + 1);
        assert_eq!(
            exchange_as(photos, vec![("subject_token", fresh), ("resource", PAYMENTS.into())]).await,
            "invalid_grant",
            "expired"
        );
        // Refusals are audited too, with the calling API's client and address.
        let refused: Vec<_> = server
            .state
            .store
            .list_audit(None, 200)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event == "token.exchange" && e.outcome == "failure")
            .collect();
        assert!(refused.len() >= 5, "{backend:?}: {refused:?}");
        assert!(refused.iter().all(|e| e.ip.is_some() && e.client_id.is_some()), "{refused:?}");
        assert!(refused.iter().any(|e| e.detail.as_deref().is_some_and(|d| d.starts_with("invalid_target:"))));
    }
}
