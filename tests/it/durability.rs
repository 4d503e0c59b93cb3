//! Revocation that holds: through races with real concurrency, through
//! restarts of the server and of Redis, and across instances.

use std::time::{Duration, Instant};

use latchkey::oauth::clients::ClientSpec;
use serde_json::Value;

use crate::helpers::*;

const REDIRECT: &str = "https://app.example/callback";

async fn setup(backend: Backend, extra: &[(&str, &str)]) -> (TestServer, String, String, String) {
    let server = TestServer::spawn_with(backend, extra).await;
    let (id, secret) = server.confidential(REDIRECT).await;
    let username = unique("d");
    server.user(&username, PASSWORD).await;
    (server, id, secret, username)
}

async fn token_body(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, json(res).await)
}

async fn refresh(server: &TestServer, id: &str, secret: &str, token: &str) -> reqwest::Response {
    http()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

async fn userinfo_status(server: &TestServer, token: &str) -> u16 {
    http().get(server.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn active(server: &TestServer, id: &str, secret: &str, token: &str) -> bool {
    let res = http()
        .post(server.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    json(res).await["active"] == true
}

async fn revoke(server: &TestServer, id: &str, secret: &str, token: &str) -> u16 {
    http()
        .post(server.url("/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Twenty redemptions of one code at once: exactly one gets tokens, and
/// since the others are replays, nothing issued from the code works after.
#[tokio::test]
async fn twenty_concurrent_redemptions_of_one_code() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend, &[]).await;
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let attempts: Vec<_> = (0..20)
            .map(|_| {
                let (url, id, secret, code) = (server.url("/token"), id.clone(), secret.clone(), code.clone());
                tokio::spawn(async move {
                    let res = http()
                        .post(url)
                        .basic_auth(&id, Some(&secret))
                        .form(&[
                            ("grant_type", "authorization_code"),
                            ("code", code.as_str()),
                            ("redirect_uri", REDIRECT),
                        ])
                        .send()
                        .await
                        .unwrap();
                    token_body(res).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for a in attempts {
            let (status, body) = a.await.unwrap();
            match status {
                200 => winners.push(body),
                400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
                other => panic!("{backend:?}: unexpected {other}: {body}"),
            }
        }
        assert!(winners.len() <= 1, "{backend:?}: {} redemptions succeeded", winners.len());
        // The replays revoked the grant: whatever the winner got is dead,
        // whether it arrived before or after them.
        if let Some(body) = winners.first() {
            let access = body["access_token"].as_str().unwrap();
            let refresh_token = body["refresh_token"].as_str().unwrap();
            assert_eq!(userinfo_status(&server, access).await, 401, "{backend:?}");
            assert!(!active(&server, &id, &secret, access).await);
            let (status, body) = token_body(refresh(&server, &id, &secret, refresh_token).await).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{backend:?}");
        }
        // A grant with no tokens yet is revoked all the same: the audit says so.
        let events = server.state.store.list_audit(None, 50).await.unwrap();
        assert!(events.iter().any(|e| e.event == "authorization_code.replay"), "{backend:?}");
    }
}

/// A family revoked (RFC 7009) while one of its tokens is being rotated:
/// whichever wins, no token of the family works afterwards.
#[tokio::test]
async fn a_family_revocation_racing_a_rotation_leaves_nothing_alive() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend, &[("LATCHKEY_REFRESH_TOKEN_GRACE", "0")]).await;
        let mut rotations_won = 0;
        for round in 0..12 {
            let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
            let (_, body) = token_body(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
            let first = body["refresh_token"].as_str().unwrap().to_string();
            let first_access = body["access_token"].as_str().unwrap().to_string();
            // Two rotations and a revocation, all at once.
            let (r1, r2, revoked) = tokio::join!(
                refresh(&server, &id, &secret, &first),
                refresh(&server, &id, &secret, &first),
                revoke(&server, &id, &secret, &first),
            );
            assert_eq!(revoked, 200);
            for res in [r1, r2] {
                let (status, body) = token_body(res).await;
                if status == 200 {
                    rotations_won += 1;
                    let successor = body["refresh_token"].as_str().unwrap();
                    let access = body["access_token"].as_str().unwrap();
                    let (status, again) = token_body(refresh(&server, &id, &secret, successor).await).await;
                    assert_eq!(
                        (status, again["error"].as_str()),
                        (400, Some("invalid_grant")),
                        "{backend:?} round {round}: a successor outlived the revocation"
                    );
                    assert_eq!(userinfo_status(&server, access).await, 401, "{backend:?} round {round}");
                } else {
                    assert_eq!(body["error"], "invalid_grant", "{backend:?}: {body}");
                }
            }
            assert_eq!(userinfo_status(&server, &first_access).await, 401);
        }
        eprintln!("{backend:?}: a rotation finished first in {rotations_won} of 24 attempts");
    }
}

/// Everything that ends access survives restarts: revoked tokens, a family
/// revoked for reuse, a revoked app, a disabled account, a lockout. On the
/// shared backend, Redis is then restarted too (and comes back empty).
#[tokio::test]
async fn revocation_and_lockout_survive_a_restart_of_the_server_and_of_redis() {
    for backend in backends() {
        let redis = match backend {
            Backend::Shared => RedisProcess::start().await,
            Backend::Embedded => None,
        };
        let redis_url = redis.as_ref().map(RedisProcess::url).unwrap_or_default();
        let mut extra = vec![
            ("LATCHKEY_LOCKOUT_THRESHOLD", "3"),
            ("LATCHKEY_THROTTLE_DELAY_MS", "0"),
            ("LATCHKEY_REFRESH_TOKEN_GRACE", "0"),
        ];
        if redis.is_some() {
            extra.push(("REDIS_URL", redis_url.as_str()));
        }
        let (server, id, secret, username) = setup(backend, &extra).await;

        // An access token revoked on its own.
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let (_, single) = token_body(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let single_access = single["access_token"].as_str().unwrap().to_string();
        assert_eq!(revoke(&server, &id, &secret, &single_access).await, 200);
        // A family revoked for reuse.
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let (_, family) = token_body(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let family_refresh = family["refresh_token"].as_str().unwrap().to_string();
        let (_, rotated) = token_body(refresh(&server, &id, &secret, &family_refresh).await).await;
        let rotated_access = rotated["access_token"].as_str().unwrap().to_string();
        let (status, _) = token_body(refresh(&server, &id, &secret, &family_refresh).await).await;
        assert_eq!(status, 400, "reuse detected");
        // An account disabled, with a token from before.
        let other = unique("gone");
        let other_sub = server.user(&other, PASSWORD).await;
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &other).await;
        let (_, disabled) = token_body(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let disabled_access = disabled["access_token"].as_str().unwrap().to_string();
        latchkey::accounts::users::set_disabled(
            &*server.state.store,
            &other_sub,
            true,
            latchkey::audit::Actor::cli(),
            server.state.now(),
        )
        .await
        .unwrap();
        // A lockout.
        let locked = unique("locked");
        server.user(&locked, PASSWORD).await;
        for _ in 0..3 {
            sign_in_once(&server, &locked, "wrong-password-1").await;
        }
        assert_eq!(sign_in_once(&server, &locked, PASSWORD).await, 429);
        // A token still good, to show the restarts do not just refuse all.
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let (_, good) = token_body(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let good_access = good["access_token"].as_str().unwrap().to_string();

        let check = |server: TestServer, when: &'static str| {
            let (id, secret) = (id.clone(), secret.clone());
            let (single_access, rotated_access, disabled_access, good_access, locked) = (
                single_access.clone(),
                rotated_access.clone(),
                disabled_access.clone(),
                good_access.clone(),
                locked.clone(),
            );
            async move {
                assert!(!active(&server, &id, &secret, &single_access).await, "{backend:?} {when}: revoked token");
                assert!(!active(&server, &id, &secret, &rotated_access).await, "{backend:?} {when}: reused family");
                assert!(!active(&server, &id, &secret, &disabled_access).await, "{backend:?} {when}: disabled account");
                assert_eq!(userinfo_status(&server, &single_access).await, 401, "{backend:?} {when}");
                assert_eq!(userinfo_status(&server, &rotated_access).await, 401, "{backend:?} {when}");
                assert_eq!(sign_in_once(&server, &locked, PASSWORD).await, 429, "{backend:?} {when}: lockout");
                assert!(active(&server, &id, &secret, &good_access).await, "{backend:?} {when}: good token");
                assert_eq!(userinfo_status(&server, &good_access).await, 200, "{backend:?} {when}");
                server
            }
        };
        let server = check(server, "before").await;
        let server = server.restart(&[]).await;
        let server = check(server, "after a server restart").await;
        if let Some(redis) = redis {
            let redis = redis.restart().await;
            // The connection comes back by itself; give it a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let server = check(server, "after a Redis restart").await;
            let server = server.restart(&[]).await;
            check(server, "after both").await;
            drop(redis);
        }
    }
}

/// One sign-in attempt by form on a fresh browser; the status.
async fn sign_in_once(server: &TestServer, login: &str, password: &str) -> u16 {
    let b = browser();
    let (_, html) = follow(&b, &server.base, &server.url("/login")).await.page();
    let csrf = input_value(&html, "csrf").expect("csrf");
    b.post(server.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("username", login), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Failures count against the account, by username and email alike; a login
/// that names nobody locks the same way.
#[tokio::test]
async fn lockout_counts_per_account_whatever_name_is_typed() {
    for backend in backends() {
        let server = TestServer::spawn_with(
            backend,
            &[("LATCHKEY_LOCKOUT_THRESHOLD", "3"), ("LATCHKEY_THROTTLE_DELAY_MS", "0")],
        )
        .await;
        let username = unique("acct");
        server.user(&username, PASSWORD).await;
        let email = format!("{username}@example.com");
        assert_eq!(sign_in_once(&server, &username, "wrong-password-1").await, 200);
        assert_eq!(sign_in_once(&server, &email.to_uppercase(), "wrong-password-2").await, 200);
        assert_eq!(
            sign_in_once(&server, &email, "wrong-password-3").await,
            429,
            "{backend:?}: the third failure, by either name, locks the account"
        );
        assert_eq!(sign_in_once(&server, &username, PASSWORD).await, 429);
        assert_eq!(sign_in_once(&server, &email, PASSWORD).await, 429);
        // Nobody by this name: the same answers, the same lock.
        let ghost = unique("ghost");
        assert_eq!(sign_in_once(&server, &ghost, "wrong-password-1").await, 200);
        assert_eq!(sign_in_once(&server, &ghost, "wrong-password-1").await, 200);
        assert_eq!(sign_in_once(&server, &ghost, "wrong-password-1").await, 429);
    }
}

/// A change on one instance takes effect on another within a second:
/// deleting a client, disabling an account, rotating a secret, editing
/// redirect URIs.
#[tokio::test]
async fn changes_reach_another_instance_within_a_second() {
    for backend in backends() {
        let (a, id, secret, username) = setup(backend, &[]).await;
        let b = a.sibling().await;
        let (machine, machine_secret) = a
            .client(ClientSpec {
                name: "Worker".into(),
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["orders:read".into()],
                ..Default::default()
            })
            .await;
        let machine_secret = machine_secret.unwrap();
        let cc = |server: &TestServer| {
            let (url, machine, machine_secret) = (server.url("/token"), machine.clone(), machine_secret.clone());
            async move {
                let res = http()
                    .post(url)
                    .basic_auth(&machine, Some(&machine_secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                token_body(res).await
            }
        };
        // b has the client and the account in its cache.
        let (status, body) = cc(&b).await;
        assert_eq!(status, 200);
        let machine_token = body["access_token"].as_str().unwrap().to_string();
        assert!(active(&b, &id, &secret, &machine_token).await);
        let code = get_code(&a, &browser(), &id, REDIRECT, None, &username).await;
        let (_, grant) = token_body(redeem(&a, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let access = grant["access_token"].as_str().unwrap().to_string();
        assert_eq!(userinfo_status(&b, &access).await, 200);

        // Delete the client on a (as the CLI does): b refuses within 1 s.
        let started = Instant::now();
        latchkey::oauth::clients::delete(
            &*a.state.store,
            &machine.as_str().into(),
            latchkey::audit::Actor::cli(),
            a.state.now(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(cc(&a).await.0, 401, "at once where it was made");
        loop {
            let (status, _) = cc(&b).await;
            let gone = status == 401 && !active(&b, &id, &secret, &machine_token).await;
            if gone {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(1), "{backend:?}: b still serves the deleted client");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("{backend:?}: client deletion seen by the other instance after {:?}", started.elapsed());

        // Disable the account on a: b refuses its token within 1 s.
        let sub = a.state.store.find_user_by_login(&username).await.unwrap().unwrap().id;
        let started = Instant::now();
        latchkey::accounts::users::set_disabled(
            &*a.state.store,
            &sub,
            true,
            latchkey::audit::Actor::cli(),
            a.state.now(),
        )
        .await
        .unwrap();
        while userinfo_status(&b, &access).await != 401 {
            assert!(started.elapsed() < Duration::from_secs(1), "{backend:?}: b still honours a disabled account");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // Rotate the web client's secret with no overlap, and drop its only
        // redirect URI: b follows within 1 s.
        let mut client = a.state.store.get_client(&id.as_str().into()).await.unwrap().unwrap();
        let new_secret =
            latchkey::oauth::clients::rotate_secret(&mut client, &a.state.at_rest_key, a.state.now(), 0).unwrap();
        client.redirect_uris = vec!["https://app.example/elsewhere".into()];
        let started = Instant::now();
        a.state.store.update_client(&client).await.unwrap();
        loop {
            let old = http()
                .post(b.url("/introspect"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token", "x")])
                .send()
                .await
                .unwrap()
                .status();
            let authorize = browser()
                .get(format!(
                    "{}?response_type=code&client_id={id}&redirect_uri={}&scope=openid",
                    b.url("/authorize"),
                    url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
                ))
                .send()
                .await
                .unwrap()
                .status();
            if old == 401 && authorize == 400 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(1), "{backend:?}: b still has the old client");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!active(&b, &id, &new_secret, "x").await, "the new secret works on b");
    }
}

/// Revoking an app on the account page ends its access tokens at once, even
/// those issued without a refresh token; re-enabling a disabled account
/// brings no token back.
#[tokio::test]
async fn ending_a_grant_ends_every_token_of_it() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = server
            .client(ClientSpec {
                name: "No refresh".into(),
                redirect_uris: vec![REDIRECT.into()],
                grant_types: vec!["authorization_code".into()],
                ..Default::default()
            })
            .await;
        let secret = secret.unwrap();
        let username = unique("apps");
        let sub = server.user(&username, PASSWORD).await;
        let b = browser();
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        let (_, body) = token_body(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        assert!(body.get("refresh_token").is_none());
        let access = body["access_token"].as_str().unwrap().to_string();
        assert_eq!(userinfo_status(&server, &access).await, 200);
        // The account page's "Revoke" for this app.
        let (_, page) = follow(&b, &server.base, &server.url("/account")).await.page();
        let csrf = input_value(&page, "csrf").unwrap();
        let res = b
            .post(server.url("/account/apps/revoke"))
            .form(&[("csrf", csrf.as_str()), ("client_id", id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(userinfo_status(&server, &access).await, 401, "{backend:?}: at once");
        assert!(!active(&server, &id, &secret, &access).await);

        // Disabled, then enabled again: the old token stays dead, a new
        // sign-in works.
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let (_, body) = token_body(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let before = body["access_token"].as_str().unwrap().to_string();
        latchkey::accounts::users::set_disabled(
            &*server.state.store,
            &sub,
            true,
            latchkey::audit::Actor::cli(),
            server.state.now(),
        )
        .await
        .unwrap();
        assert_eq!(userinfo_status(&server, &before).await, 401);
        latchkey::accounts::users::set_disabled(
            &*server.state.store,
            &sub,
            false,
            latchkey::audit::Actor::cli(),
            server.state.now(),
        )
        .await
        .unwrap();
        assert_eq!(userinfo_status(&server, &before).await, 401, "{backend:?}: nothing comes back");
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let (_, body) = token_body(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        assert_eq!(userinfo_status(&server, body["access_token"].as_str().unwrap()).await, 200);
    }
}
