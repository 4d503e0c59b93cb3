//! Refresh rotation and reuse detection, client credentials, revocation,
//! introspection, sign-out everywhere, and type confusion.

use latchkey::oauth::clients::ClientSpec;
use latchkey::oauth::tokens::AccessClaims;
use serde_json::Value;

use crate::helpers::*;

const REDIRECT: &str = "https://app.example/callback";

struct Grant {
    access: String,
    refresh: String,
    id_token: String,
}

async fn setup(extra: &[(&str, &str)], backend: Backend) -> (TestServer, String, String, String) {
    let server = TestServer::spawn_with(backend, extra).await;
    let (id, secret) = server.confidential(REDIRECT).await;
    let username = unique("r");
    server.user(&username, PASSWORD).await;
    (server, id, secret, username)
}

async fn grant(server: &TestServer, id: &str, secret: &str, username: &str) -> Grant {
    let code = get_code(server, &browser(), id, REDIRECT, None, username).await;
    let res = redeem(server, id, Some(secret), &code, REDIRECT, None).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    Grant {
        access: body["access_token"].as_str().unwrap().into(),
        refresh: body["refresh_token"].as_str().expect("refresh_token issued").into(),
        id_token: body["id_token"].as_str().unwrap().into(),
    }
}

async fn use_refresh(
    server: &TestServer, id: &str, secret: &str, token: &str, scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    http().post(server.url("/token")).basic_auth(id, Some(secret)).form(&form).send().await.unwrap()
}

async fn userinfo_status(server: &TestServer, token: &str) -> u16 {
    http().get(server.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn introspect(server: &TestServer, id: &str, secret: &str, token: &str) -> Value {
    let res = http()
        .post(server.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    json(res).await
}

async fn revoke(server: &TestServer, id: &str, secret: &str, token: &str) -> reqwest::Response {
    http().post(server.url("/revoke")).basic_auth(id, Some(secret)).form(&[("token", token)]).send().await.unwrap()
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let g = grant(&server, &id, &secret, &username).await;
        let res = use_refresh(&server, &id, &secret, &g.refresh, None).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body = json(res).await;
        let second = body["refresh_token"].as_str().unwrap().to_string();
        let second_access = body["access_token"].as_str().unwrap().to_string();
        assert_ne!(second, g.refresh, "rotated");
        assert!(body["id_token"].is_string());
        assert_eq!(userinfo_status(&server, &second_access).await, 200);

        // After the grace window, the old token comes back: theft.
        server.clock.advance(11);
        let res = use_refresh(&server, &id, &secret, &g.refresh, None).await;
        assert_eq!(res.status(), 400);
        assert_eq!(json(res).await["error"], "invalid_grant");
        // The whole family is gone: the successor and every access token.
        let res = use_refresh(&server, &id, &secret, &second, None).await;
        assert_eq!(json(res).await["error"], "invalid_grant", "{backend:?}");
        assert_eq!(userinfo_status(&server, &second_access).await, 401);
        assert_eq!(userinfo_status(&server, &g.access).await, 401);
        let events = server.state.store.list_audit(None, 50).await.unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.event == "refresh_token.reuse_detected" && e.client_id.as_deref() == Some(id.as_str())),
            "audit event written"
        );
    }
}

#[tokio::test]
async fn a_retry_within_the_grace_window_gets_the_same_successor() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let g = grant(&server, &id, &secret, &username).await;
        let first = json(use_refresh(&server, &id, &secret, &g.refresh, None).await).await;
        // The response was lost; the app retries with the old token.
        let retry = json(use_refresh(&server, &id, &secret, &g.refresh, None).await).await;
        assert_eq!(retry["refresh_token"], first["refresh_token"]);
        assert_ne!(retry["access_token"], first["access_token"]);
        let next = use_refresh(&server, &id, &secret, first["refresh_token"].as_str().unwrap(), None).await;
        assert_eq!(next.status(), 200, "the family is intact");
    }
}

#[tokio::test]
async fn with_grace_off_any_reuse_revokes() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[("LATCHKEY_REFRESH_TOKEN_GRACE", "0")], backend).await;
        let g = grant(&server, &id, &secret, &username).await;
        let first = json(use_refresh(&server, &id, &secret, &g.refresh, None).await).await;
        let retry = use_refresh(&server, &id, &secret, &g.refresh, None).await;
        assert_eq!(json(retry).await["error"], "invalid_grant");
        let next = use_refresh(&server, &id, &secret, first["refresh_token"].as_str().unwrap(), None).await;
        assert_eq!(json(next).await["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn refresh_scope_narrows_never_widens_and_tokens_expire() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[("LATCHKEY_REFRESH_TOKEN_IDLE_TTL", "100")], backend).await;
        let g = grant(&server, &id, &secret, &username).await;
        let res = use_refresh(&server, &id, &secret, &g.refresh, Some("openid profile email offline_access")).await;
        assert_eq!(json(res).await["error"], "invalid_scope", "offline_access was never granted to this request");
        let body = json(use_refresh(&server, &id, &secret, &g.refresh, Some("openid")).await).await;
        assert_eq!(body["scope"], "openid");
        let info = json(
            http()
                .get(server.url("/userinfo"))
                .bearer_auth(body["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(info.get("email").is_none(), "narrowed token releases less");
        // The refresh token itself keeps the original grant.
        let next = body["refresh_token"].as_str().unwrap().to_string();
        server.clock.advance(101);
        let res = use_refresh(&server, &id, &secret, &next, None).await;
        assert_eq!(json(res).await["error"], "invalid_grant", "idle expiry");
    }
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let (other, other_secret) = server.confidential(REDIRECT).await;
        let g = grant(&server, &id, &secret, &username).await;
        let res = use_refresh(&server, &other, &other_secret, &g.refresh, None).await;
        assert_eq!(json(res).await["error"], "invalid_grant");
        assert_eq!(use_refresh(&server, &id, &secret, &g.refresh, None).await.status(), 200, "the owner still can");
    }
}

#[tokio::test]
async fn public_clients_get_refresh_tokens_only_with_offline_access() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let client = server.public(REDIRECT).await;
        let username = unique("p");
        server.user(&username, PASSWORD).await;
        let b = browser();
        let (verifier, challenge) = pkce();
        let code = get_code(&server, &b, &client, REDIRECT, Some(&challenge), &username).await;
        let body = json(redeem(&server, &client, None, &code, REDIRECT, Some(&verifier)).await).await;
        assert!(body.get("refresh_token").is_none(), "{body}");

        let (verifier, challenge) = pkce();
        let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", client.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        let (consent_url, page) = follow(&b, &server.base, url.as_str()).await.page();
        assert!(consent_url.contains("/consent"), "offline_access is a new scope: ask again");
        assert!(page.contains("Stay signed in"));
        let code = query_param(&consent(&b, &server.base, &page, "allow").await.left(), "code").unwrap();
        let body = json(redeem(&server, &client, None, &code, REDIRECT, Some(&verifier)).await).await;
        let refresh = body["refresh_token"].as_str().expect("refresh token with offline_access");
        let res = http()
            .post(server.url("/token"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

async fn machine(server: &TestServer) -> (String, String) {
    let (id, secret) = server
        .client(ClientSpec {
            name: "Billing worker".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["orders:read".into(), "orders:write".into()],
            ..Default::default()
        })
        .await;
    (id, secret.unwrap())
}

#[tokio::test]
async fn client_credentials_for_machines() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = machine(&server).await;
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body = json(res).await;
        assert_eq!(body["scope"], "orders:read orders:write");
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
        let access = body["access_token"].as_str().unwrap();
        let info = introspect(&server, &id, &secret, access).await;
        assert_eq!(info["active"], true);
        assert_eq!(info["sub"], id.as_str());
        assert_eq!(info["client_id"], id.as_str());
        assert!(info.get("username").is_none());
        // Narrowed; and a scope it does not have is refused.
        let body = json(
            http()
                .post(server.url("/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("scope", "orders:read")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(body["scope"], "orders:read");
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "orders:read admin")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(json(res).await["error"], "invalid_scope");
        // A machine token is no user's token.
        assert_eq!(userinfo_status(&server, access).await, 403);
    }
}

#[tokio::test]
async fn grant_types_are_per_client() {
    for backend in backends() {
        let (server, id, secret, _) = setup(&[], backend).await;
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(json(res).await["error"], "unauthorized_client");
    }
}

#[tokio::test]
async fn revocation() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let (other, other_secret) = server.confidential(REDIRECT).await;
        let g = grant(&server, &id, &secret, &username).await;
        // Unknown tokens: 200, as RFC 7009 §2.2 says.
        assert_eq!(revoke(&server, &id, &secret, "no-such-token").await.status(), 200);
        // Someone else's token: refused.
        let res = revoke(&server, &other, &other_secret, &g.access).await;
        assert_eq!(res.status(), 400);
        assert_eq!(json(res).await["error"], "unauthorized_client");
        // Without client authentication: 401.
        let res = http().post(server.url("/revoke")).form(&[("token", g.access.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 401);
        // The access token: refused by userinfo and introspection before it expires.
        assert_eq!(userinfo_status(&server, &g.access).await, 200);
        assert_eq!(revoke(&server, &id, &secret, &g.access).await.status(), 200);
        assert_eq!(userinfo_status(&server, &g.access).await, 401);
        assert_eq!(introspect(&server, &id, &secret, &g.access).await, serde_json::json!({"active": false}));
        // The refresh token: it and every access token of the grant.
        let fresh = json(use_refresh(&server, &id, &secret, &g.refresh, None).await).await;
        let fresh_refresh = fresh["refresh_token"].as_str().unwrap();
        let fresh_access = fresh["access_token"].as_str().unwrap();
        assert_eq!(revoke(&server, &id, &secret, fresh_refresh).await.status(), 200);
        assert_eq!(json(use_refresh(&server, &id, &secret, fresh_refresh, None).await).await["error"], "invalid_grant");
        assert_eq!(userinfo_status(&server, fresh_access).await, 401);
    }
}

#[tokio::test]
async fn introspection_answers() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let (other, other_secret) = server.confidential(REDIRECT).await;
        let g = grant(&server, &id, &secret, &username).await;
        let info = introspect(&server, &other, &other_secret, &g.access).await;
        assert_eq!(info["active"], true, "a resource server may introspect any access token");
        for field in ["scope", "client_id", "sub", "username", "exp", "iat", "nbf", "aud", "iss", "jti", "token_type"] {
            assert!(info.get(field).is_some(), "{field} missing: {info}");
        }
        assert_eq!(info["username"], username.as_str());
        assert_eq!(info["iss"], server.base.as_str());
        let refresh = introspect(&server, &id, &secret, &g.refresh).await;
        assert_eq!(refresh["active"], true);
        assert_eq!(refresh["token_type"], "refresh_token");
        let inactive = serde_json::json!({"active": false});
        assert_eq!(introspect(&server, &other, &other_secret, &g.refresh).await, inactive, "not the holder");
        assert_eq!(
            introspect(&server, &id, &secret, &g.id_token).await,
            inactive,
            "an ID token is not an access token"
        );
        assert_eq!(introspect(&server, &id, &secret, "garbage").await, inactive);
        server.clock.advance(901);
        assert_eq!(introspect(&server, &id, &secret, &g.access).await, inactive, "expired");
        // Public clients cannot authenticate, so cannot introspect.
        let spa = server.public(REDIRECT).await;
        let res = http()
            .post(server.url("/introspect"))
            .form(&[("token", g.access.as_str()), ("client_id", spa.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
}

#[tokio::test]
async fn no_token_passes_for_another_kind() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let g = grant(&server, &id, &secret, &username).await;
        // A refresh token or an ID token where an access token is expected.
        assert_eq!(userinfo_status(&server, &g.refresh).await, 401);
        assert_eq!(userinfo_status(&server, &g.id_token).await, 401);
        // An access token or an ID token where a refresh token is expected.
        for wrong in [&g.access, &g.id_token] {
            let res = use_refresh(&server, &id, &secret, wrong, None).await;
            assert_eq!(json(res).await["error"], "invalid_grant");
        }
        // A token from another issuer, signed with our own key.
        let mut claims: AccessClaims =
            server.state.keys.verify(&g.access, Some("at+jwt"), &server.issuer).await.unwrap();
        claims.iss = "https://elsewhere.example".into();
        let foreign = server.state.keys.sign("at+jwt", &claims).unwrap();
        assert_eq!(userinfo_status(&server, &foreign).await, 401);
        assert_eq!(introspect(&server, &id, &secret, &foreign).await["active"], false);
        // A token from another provider altogether (other keys).
        let other = TestServer::spawn(backend).await;
        let (oid, osecret) = other.confidential(REDIRECT).await;
        let ouser = unique("o");
        other.user(&ouser, PASSWORD).await;
        let og = grant(&other, &oid, &osecret, &ouser).await;
        assert_eq!(userinfo_status(&server, &og.access).await, 401);
        // An access token that is really an ID token re-typed is still refused:
        // the typ header is signed.
        let tampered =
            g.id_token.replacen(g.id_token.split('.').next().unwrap(), g.access.split('.').next().unwrap(), 1);
        assert_eq!(userinfo_status(&server, &tampered).await, 401);
    }
}

#[tokio::test]
async fn signing_out_everywhere_ends_sessions_and_grants() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let b = browser();
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        let body = json(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        // A second browser with its own session.
        let other = browser();
        let (_, login) = follow(&other, &server.base, &server.url("/login")).await.page();
        let _ = sign_in(&other, &server.base, &login, &username, PASSWORD).await;
        assert_eq!(other.get(server.url("/account")).send().await.unwrap().status(), 200);

        let (_, account) = follow(&b, &server.base, &server.url("/account")).await.page();
        assert!(account.contains("2 devices"), "{account}");
        let csrf = input_value(&account, "csrf").unwrap();
        let (_, confirm) = follow(&b, &server.base, &server.url("/account/sign-out-everywhere")).await.page();
        assert!(confirm.contains("All 2 of your sessions end"), "{confirm}");
        let res =
            b.post(server.url("/account/sign-out-everywhere")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(location(&res), "/signed-out?reason=everywhere");
        assert_eq!(other.get(server.url("/account")).send().await.unwrap().status(), 303, "other session ended");
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 303, "this one too");
        assert_eq!(json(use_refresh(&server, &id, &secret, refresh, None).await).await["error"], "invalid_grant");
        assert_eq!(userinfo_status(&server, access).await, 401);
    }
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_and_grants() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let b = browser();
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        let body = json(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        let other = browser();
        let (_, login) = follow(&other, &server.base, &server.url("/login")).await.page();
        let _ = sign_in(&other, &server.base, &login, &username, PASSWORD).await;

        let (_, account) = follow(&b, &server.base, &server.url("/account")).await.page();
        assert!(account.contains("Change password"));
        let csrf = input_value(&account, "csrf").unwrap();
        let change = |current: &'static str, new: &'static str| {
            b.post(server.url("/account/password"))
                .form(&[("csrf", csrf.as_str()), ("current_password", current), ("new_password", new)])
                .send()
        };
        let res = change("not-my-password", "a-Brand-new-one-42").await.unwrap();
        assert!(location(&res).ends_with("done=password-wrong"), "{backend:?}");
        let res = change(PASSWORD, "password").await.unwrap();
        assert!(location(&res).ends_with("done=password-weak"), "common password refused");
        assert_eq!(other.get(server.url("/account")).send().await.unwrap().status(), 200, "nothing ended yet");

        let res = change(PASSWORD, "a-Brand-new-one-42").await.unwrap();
        assert!(location(&res).ends_with("done=password-changed"), "{backend:?}");
        let (_, page) = follow(&b, &server.base, &server.url("/account?done=password-changed")).await.page();
        assert!(page.contains("Your password is changed"), "this browser stays signed in");
        assert_eq!(other.get(server.url("/account")).send().await.unwrap().status(), 303, "the other session ended");
        assert_eq!(json(use_refresh(&server, &id, &secret, refresh, None).await).await["error"], "invalid_grant");
        assert_eq!(userinfo_status(&server, access).await, 401);

        let fresh = browser();
        let (_, login) = follow(&fresh, &server.base, &server.url("/login")).await.page();
        let (_, html) = sign_in(&fresh, &server.base, &login, &username, PASSWORD).await.page();
        assert!(html.contains("Incorrect username or password."), "old password refused");
        let (url, _) = sign_in(&fresh, &server.base, &html, &username, "a-Brand-new-one-42").await.page();
        assert!(url.ends_with("/account"), "new password works: {url}");
        let user = server.state.store.find_user_by_login(&username).await.unwrap().unwrap();
        let events: Vec<(String, String)> = server
            .state
            .store
            .list_audit(Some(&user.id), 50)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.event, e.outcome))
            .collect();
        assert!(events.contains(&("password.change".into(), "success".into())), "{events:?}");
        assert!(events.contains(&("password.change".into(), "failure".into())));
        assert!(page.contains("Password changed"), "shown in recent activity");
    }
}

#[tokio::test]
async fn revoking_a_connected_app_and_ending_one_session_from_the_account_page() {
    for backend in backends() {
        let (server, id, secret, username) = setup(&[], backend).await;
        let b = browser();
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        let body = json(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        let other = browser();
        let (_, login) = follow(&other, &server.base, &server.url("/login")).await.page();
        let _ = sign_in(&other, &server.base, &login, &username, PASSWORD).await;

        let (_, account) = follow(&b, &server.base, &server.url("/account")).await.page();
        assert!(account.contains("Connected apps") && account.contains("Test App"), "{backend:?}");
        assert!(account.contains("this device"));
        let csrf = input_value(&account, "csrf").unwrap();
        let res = b
            .post(server.url("/account/apps/revoke"))
            .form(&[("csrf", csrf.as_str()), ("client_id", id.as_str())])
            .send()
            .await
            .unwrap();
        assert!(location(&res).ends_with("done=app-revoked"));
        assert_eq!(
            json(use_refresh(&server, &id, &secret, refresh, None).await).await["error"],
            "invalid_grant",
            "{backend:?}: the app's refresh token is dead"
        );
        assert_eq!(userinfo_status(&server, access).await, 401);
        let (_, account) = follow(&b, &server.base, &server.url("/account")).await.page();
        assert!(account.contains("No apps have access"), "{backend:?}");

        // End the other browser's session, and only that one.
        let other_session = account
            .split("name=\"session\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("an End button for the other session")
            .to_string();
        let res = b
            .post(server.url("/account/sessions/end"))
            .form(&[("csrf", csrf.as_str()), ("session", other_session.as_str())])
            .send()
            .await
            .unwrap();
        assert!(location(&res).ends_with("done=session-ended"));
        assert_eq!(other.get(server.url("/account")).send().await.unwrap().status(), 303);
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 200);
    }
}

/// Operators may sign access tokens with ES256 or EdDSA; ID tokens stay
/// RS256, and everything verifies against the published JWKS.
#[tokio::test]
async fn access_tokens_in_es256_and_eddsa() {
    for backend in backends() {
        for alg in ["ES256", "EdDSA"] {
            let (server, id, secret, username) = setup(&[("LATCHKEY_ACCESS_TOKEN_ALG", alg)], backend).await;
            let g = grant(&server, &id, &secret, &username).await;
            let header = |token: &str| -> Value {
                let first = token.split('.').next().unwrap();
                serde_json::from_slice(&latchkey::crypto::b64url_decode(first).unwrap()).unwrap()
            };
            assert_eq!(header(&g.access)["alg"], alg);
            assert_eq!(header(&g.id_token)["alg"], "RS256");
            assert_eq!(userinfo_status(&server, &g.access).await, 200);
            assert_eq!(introspect(&server, &id, &secret, &g.access).await["active"], true);
            let jwks = json(http().get(server.url("/jwks.json")).send().await.unwrap()).await;
            let algs: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
            assert!(algs.contains(&alg) && algs.contains(&"RS256"), "{algs:?}");
            // A token re-labelled with another algorithm is refused.
            let mut parts: Vec<String> = g.access.split('.').map(str::to_string).collect();
            let mut h = header(&g.access);
            h["alg"] = "RS256".into();
            parts[0] = latchkey::crypto::b64url(&serde_json::to_vec(&h).unwrap());
            assert_eq!(userinfo_status(&server, &parts.join(".")).await, 401);
            let rotated = latchkey::keys::rotate(&*server.state.store, server.state.now(), 0).await.unwrap();
            let mut rotated_algs: Vec<&str> = rotated.iter().map(|k| k.alg.as_str()).collect();
            rotated_algs.sort();
            let mut want = vec!["RS256", alg];
            want.sort();
            assert_eq!(rotated_algs, want, "rotation covers every algorithm in use");
        }
    }
}
