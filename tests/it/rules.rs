//! One test per "rejected", "error" or "never" rule, each asserting the
//! exact status and error code.

use reqwest::StatusCode;

use crate::helpers::*;
use latchkey::oauth::clients::ClientSpec;

const REDIRECT: &str = "https://app.example/callback";

fn authorize_url(server: &TestServer, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

/// A server, a confidential client and a person with a password.
/// The text after `start` up to the next double quote.
fn between_quotes<'a>(html: &'a str, start: &str) -> &'a str {
    let from = html.find(start).expect("marker") + start.len();
    &html[from..from + html[from..].find('"').unwrap()]
}

async fn setup(backend: Backend) -> (TestServer, String, String, String) {
    let server = TestServer::spawn(backend).await;
    let (id, secret) = server.confidential(REDIRECT).await;
    let username = unique("u");
    server.user(&username, PASSWORD).await;
    (server, id, secret, username)
}

fn assert_error_redirect(loc: &str, error: &str, server: &TestServer) {
    assert!(loc.starts_with(REDIRECT), "redirected to {loc}");
    assert_eq!(query_param(loc, "error").as_deref(), Some(error), "{loc}");
    assert_eq!(query_param(loc, "iss").as_deref(), Some(server.base.as_str()), "{loc}");
}

async fn token_error(res: reqwest::Response, status: u16, error: &str) {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = json(res).await;
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn unknown_client_and_unregistered_redirect_get_a_page_not_a_redirect() {
    for backend in backends() {
        let (server, id, _, _) = setup(backend).await;
        let b = browser();
        let res = b
            .get(authorize_url(
                &server,
                &[("response_type", "code"), ("client_id", "nope"), ("redirect_uri", REDIRECT)],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.headers().get("location").is_none());
        assert!(res.text().await.unwrap().contains("Unknown application"));
        let res = b
            .get(authorize_url(
                &server,
                &[
                    ("response_type", "code"),
                    ("client_id", &id),
                    ("redirect_uri", "https://evil.example/cb"),
                    ("scope", "openid"),
                ],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.headers().get("location").is_none());
        let res = b
            .get(authorize_url(&server, &[("response_type", "code"), ("client_id", &id), ("scope", "openid")]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "OIDC requests must name redirect_uri");
    }
}

#[tokio::test]
async fn later_errors_redirect_with_state_and_iss() {
    for backend in backends() {
        let (server, id, _, _) = setup(backend).await;
        let public = server.public(REDIRECT).await;
        let (_, challenge) = pkce();
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("response_type", "token"), ("client_id", &id)], "unsupported_response_type"),
            (vec![("client_id", &id)], "invalid_request"),
            (vec![("response_type", "code"), ("client_id", &public)], "invalid_request"),
            (
                vec![
                    ("response_type", "code"),
                    ("client_id", &id),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "plain"),
                ],
                "invalid_request",
            ),
            (vec![("response_type", "code"), ("client_id", &id), ("code_challenge", &challenge)], "invalid_request"),
            (vec![("response_type", "code"), ("client_id", &id), ("scope", "admin")], "invalid_scope"),
            (vec![("response_type", "code"), ("client_id", &id), ("prompt", "none login")], "invalid_request"),
            (vec![("response_type", "code"), ("client_id", &id), ("max_age", "-1")], "invalid_request"),
            (vec![("response_type", "code"), ("client_id", &id), ("request", "eyJ")], "invalid_request_object"),
            (vec![("response_type", "code"), ("client_id", &id), ("response_mode", "fragment")], "invalid_request"),
            (vec![("response_type", "code"), ("client_id", &id), ("id_token_hint", "not.a.jwt")], "invalid_request"),
            (
                vec![("response_type", "code"), ("client_id", &id), ("prompt", "none"), ("scope", "openid")],
                "login_required",
            ),
        ];
        for (mut pairs, error) in cases {
            pairs.push(("redirect_uri", REDIRECT));
            pairs.push(("state", "xyz"));
            let res = browser().get(authorize_url(&server, &pairs)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{pairs:?}");
            let loc = location(&res);
            assert_error_redirect(&loc, error, &server);
            assert_eq!(query_param(&loc, "state").as_deref(), Some("xyz"));
        }
    }
}

#[tokio::test]
async fn repeated_parameters_are_refused() {
    for backend in backends() {
        let (server, id, secret, _) = setup(backend).await;
        let url = format!(
            "{}&client_id={id}",
            authorize_url(&server, &[("response_type", "code"), ("client_id", &id), ("redirect_uri", REDIRECT)])
        );
        let res = browser().get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .body("grant_type=authorization_code&code=a&code=b")
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        token_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn prompt_none_with_session_but_no_consent() {
    for backend in backends() {
        let (server, id, _, username) = setup(backend).await;
        let b = browser();
        let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
        let _ = sign_in(&b, &server.base, &login, &username, PASSWORD).await;
        let res = b
            .get(authorize_url(
                &server,
                &[
                    ("response_type", "code"),
                    ("client_id", &id),
                    ("redirect_uri", REDIRECT),
                    ("scope", "openid"),
                    ("prompt", "none"),
                ],
            ))
            .send()
            .await
            .unwrap();
        assert_error_redirect(&location(&res), "consent_required", &server);
    }
}

#[tokio::test]
async fn denying_consent_sends_access_denied() {
    for backend in backends() {
        let (server, id, _, username) = setup(backend).await;
        let b = browser();
        let start = authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", REDIRECT),
                ("scope", "openid"),
                ("state", "s1"),
            ],
        );
        let (_, login) = follow(&b, &server.base, &start).await.page();
        let (_, consent_page) = sign_in(&b, &server.base, &login, &username, PASSWORD).await.page();
        let loc = consent(&b, &server.base, &consent_page, "deny").await.left();
        assert_error_redirect(&loc, "access_denied", &server);
        assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
    }
}

#[tokio::test]
async fn replayed_code_fails_and_revokes_what_it_issued() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend).await;
        let (verifier, challenge) = pkce();
        let code = get_code(&server, &browser(), &id, REDIRECT, Some(&challenge), &username).await;
        let first = redeem(&server, &id, Some(&secret), &code, REDIRECT, Some(&verifier)).await;
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["cache-control"], "no-store");
        let access = json(first).await["access_token"].as_str().unwrap().to_string();
        let ok = http().get(server.url("/userinfo")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        let replay = redeem(&server, &id, Some(&secret), &code, REDIRECT, Some(&verifier)).await;
        token_error(replay, 400, "invalid_grant").await;
        let revoked = http().get(server.url("/userinfo")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(revoked.status(), 401);
        assert!(revoked.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    }
}

#[tokio::test]
async fn pkce_rules_at_the_token_endpoint() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend).await;
        let b = browser();
        // Wrong verifier.
        let (_, challenge) = pkce();
        let code = get_code(&server, &b, &id, REDIRECT, Some(&challenge), &username).await;
        let (other_verifier, _) = pkce();
        token_error(
            redeem(&server, &id, Some(&secret), &code, REDIRECT, Some(&other_verifier)).await,
            400,
            "invalid_grant",
        )
        .await;
        // Missing verifier.
        let code = get_code(&server, &b, &id, REDIRECT, Some(&challenge), &username).await;
        token_error(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await, 400, "invalid_grant").await;
        // A verifier where no challenge was sent (downgrade).
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        let (verifier, _) = pkce();
        token_error(redeem(&server, &id, Some(&secret), &code, REDIRECT, Some(&verifier)).await, 400, "invalid_grant")
            .await;
        // No PKCE at all is allowed for a confidential client.
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        assert_eq!(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await.status(), 200);
    }
}

#[tokio::test]
async fn client_authentication_failures_are_401_with_a_challenge() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend).await;
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let res = redeem(&server, &id, Some("wrong-secret"), &code, REDIRECT, None).await;
        assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        token_error(res, 401, "invalid_client").await;
        // Post-style secret that is wrong.
        let res = http()
            .post(server.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &id),
                ("client_secret", "nope"),
            ])
            .send()
            .await
            .unwrap();
        token_error(res, 401, "invalid_client").await;
        // A confidential client may not skip its secret.
        let res = redeem(&server, &id, None, &code, REDIRECT, None).await;
        token_error(res, 401, "invalid_client").await;
        // Unknown client.
        token_error(redeem(&server, "ghost", Some(&secret), &code, REDIRECT, None).await, 401, "invalid_client").await;
    }
}

#[tokio::test]
async fn codes_are_bound_to_client_redirect_and_time() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend).await;
        let (other_id, other_secret) = server.confidential(REDIRECT).await;
        let b = browser();
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        token_error(redeem(&server, &other_id, Some(&other_secret), &code, REDIRECT, None).await, 400, "invalid_grant")
            .await;
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        token_error(
            redeem(&server, &id, Some(&secret), &code, "https://app.example/other", None).await,
            400,
            "invalid_grant",
        )
        .await;
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        server.clock.advance(61);
        token_error(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await, 400, "invalid_grant").await;
    }
}

#[tokio::test]
async fn token_endpoint_input_errors() {
    for backend in backends() {
        let (server, id, secret, _) = setup(backend).await;
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .json(&serde_json::json!({"grant_type": "authorization_code"}))
            .send()
            .await
            .unwrap();
        token_error(res, 400, "invalid_request").await;
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "password"), ("username", "a"), ("password", "b")])
            .send()
            .await
            .unwrap();
        token_error(res, 400, "unsupported_grant_type").await;
        let res = http()
            .post(server.url("/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("code", "x")])
            .send()
            .await
            .unwrap();
        token_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn userinfo_refuses_bad_tokens() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend).await;
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let body = json(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let access = body["access_token"].as_str().unwrap();
        let id_token = body["id_token"].as_str().unwrap();
        let mut tampered = access.to_string();
        let mid = tampered.find('.').unwrap() + 5;
        let ch = if &tampered[mid..mid + 1] == "A" { "B" } else { "A" };
        tampered.replace_range(mid..mid + 1, ch);
        for (what, token) in [
            ("tampered", Some(tampered.as_str())),
            ("id token", Some(id_token)),
            ("garbage", Some("abc")),
            ("missing", None),
        ] {
            let mut req = http().get(server.url("/userinfo"));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{what}");
            let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_string();
            assert!(
                challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
                "{what}: {challenge}"
            );
            assert_eq!(json(res).await["error"], "invalid_token");
        }
        // POST with the token in the body works (RFC 6750 §2.2).
        let res = http().post(server.url("/userinfo")).form(&[("access_token", access)]).send().await.unwrap();
        assert_eq!(res.status(), 200);
        // And it expires with the clock.
        server.clock.advance(901);
        let res = http().get(server.url("/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
}

#[tokio::test]
async fn forms_without_csrf_are_refused() {
    for backend in backends() {
        let (server, id, _, username) = setup(backend).await;
        let b = browser();
        let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
        let res = b
            .post(server.url("/login"))
            .form(&[("username", username.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("latchkey_session=")));
        // A fresh client has no CSRF cookie at all.
        let res = browser()
            .post(server.url("/login"))
            .form(&[
                ("csrf", input_value(&login, "csrf").unwrap().as_str()),
                ("username", &username),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        // Consent without CSRF.
        let start = authorize_url(
            &server,
            &[("response_type", "code"), ("client_id", &id), ("redirect_uri", REDIRECT), ("scope", "openid")],
        );
        let (_, login) = follow(&b, &server.base, &start).await.page();
        let (_, consent_page) = sign_in(&b, &server.base, &login, &username, PASSWORD).await.page();
        let request = input_value(&consent_page, "request").unwrap();
        let res = b
            .post(server.url("/consent"))
            .form(&[("request", request.as_str()), ("decision", "allow")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
}

#[tokio::test]
async fn sign_in_never_says_whether_an_account_exists() {
    for backend in backends() {
        let (server, _, _, username) = setup(backend).await;
        let b = browser();
        let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
        let csrf = input_value(&login, "csrf").unwrap();
        let mut answers = Vec::new();
        for user in [username.as_str(), "nobody-here"] {
            let res = b
                .post(server.url("/login"))
                .form(&[("csrf", csrf.as_str()), ("username", user), ("password", "wrong-password-1")])
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap().replace(user, "USER");
            answers.push((status, body));
        }
        assert_eq!(answers[0].0, 200);
        assert!(answers[0].1.contains("Incorrect username or password."));
        assert_eq!(answers[0], answers[1]);
    }
}

#[tokio::test]
async fn sign_up_explains_each_problem_and_keeps_values() {
    for backend in backends() {
        let (server, _, _, username) = setup(backend).await;
        let b = browser();
        let (_, page) = follow(&b, &server.base, &server.url("/signup")).await.page();
        let csrf = input_value(&page, "csrf").unwrap();
        let res = b
            .post(server.url("/signup"))
            .form(&[("csrf", csrf.as_str()), ("username", "x"), ("email", "not-an-email"), ("password", "password1")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(html.contains("Use 3 to 32 characters."));
        assert!(html.contains("Enter an email address"));
        assert!(html.contains("most common passwords"));
        assert_eq!(input_value(&html, "email").as_deref(), Some("not-an-email"));
        let res = b
            .post(server.url("/signup"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", username.as_str()),
                ("email", "fresh@example.com"),
                ("password", "short"),
            ])
            .send()
            .await
            .unwrap();
        let html = res.text().await.unwrap();
        assert!(html.contains("Use at least 8 characters."));
        assert!(!html.contains("This username is taken."), "no lookup until the form is valid");
        let res = b
            .post(server.url("/signup"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", username.as_str()),
                ("email", "fresh@example.com"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert!(res.text().await.unwrap().contains("This username is taken."));
    }
}

#[tokio::test]
async fn pages_forbid_framing_and_cookies_are_locked_down() {
    for backend in backends() {
        let (server, _, _, username) = setup(backend).await;
        let b = browser();
        let res = b.get(server.url("/login")).send().await.unwrap();
        let h = res.headers();
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert!(!h["content-security-policy"].to_str().unwrap().contains("unsafe-inline"));
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-store");
        let login = res.text().await.unwrap();
        let csrf = input_value(&login, "csrf").unwrap();
        let mut session_ids = Vec::new();
        for _ in 0..2 {
            let res = b
                .post(server.url("/login"))
                .form(&[("csrf", csrf.as_str()), ("username", username.as_str()), ("password", PASSWORD)])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 303);
            let cookie = res
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .find(|c| c.starts_with("latchkey_session="))
                .expect("session cookie");
            assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
            session_ids.push(cookie.split(';').next().unwrap().to_string());
        }
        assert_ne!(session_ids[0], session_ids[1], "a new session id at every sign-in");
    }
}

#[tokio::test]
async fn rp_initiated_logout() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend).await;
        let b = browser();
        let code = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        let id_token = json(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await["id_token"]
            .as_str()
            .unwrap()
            .to_string();
        // An unregistered return address is refused with a page.
        let mut bad = url::Url::parse(&server.url("/logout")).unwrap();
        bad.query_pairs_mut()
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", "https://evil.example/");
        let res = b.get(bad.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 400);
        let mut good = url::Url::parse(&server.url("/logout")).unwrap();
        good.query_pairs_mut()
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", "https://app.example/bye")
            .append_pair("state", "bye-1");
        let res = b.get(good.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "https://app.example/bye?state=bye-1");
        // The session is gone: prompt=none now needs a login.
        let res = b
            .get(authorize_url(
                &server,
                &[
                    ("response_type", "code"),
                    ("client_id", &id),
                    ("redirect_uri", REDIRECT),
                    ("scope", "openid"),
                    ("prompt", "none"),
                ],
            ))
            .send()
            .await
            .unwrap();
        assert_error_redirect(&location(&res), "login_required", &server);
    }
}

#[tokio::test]
async fn logout_without_hint_asks_first() {
    for backend in backends() {
        let (server, _, _, username) = setup(backend).await;
        let b = browser();
        let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
        let _ = sign_in(&b, &server.base, &login, &username, PASSWORD).await;
        let res = b.get(server.url("/logout")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        assert!(page.contains("name=\"confirm\""));
        // Still signed in.
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 200);
        let csrf = input_value(&page, "csrf").unwrap();
        let res =
            b.post(server.url("/logout")).form(&[("csrf", csrf.as_str()), ("confirm", "yes")]).send().await.unwrap();
        assert_eq!(location(&res), "/signed-out", "post, then redirect");
        let (_, done) = follow(&b, &server.base, &server.url("/signed-out")).await.page();
        assert!(done.contains("You are signed out"), "{done}");
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 303, "signed out");
    }
}

#[tokio::test]
async fn max_age_and_prompt_login_force_a_fresh_sign_in() {
    for backend in backends() {
        let (server, id, _, username) = setup(backend).await;
        let b = browser();
        let _ = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        for extra in [("max_age", "0"), ("prompt", "login")] {
            let url = authorize_url(
                &server,
                &[
                    ("response_type", "code"),
                    ("client_id", &id),
                    ("redirect_uri", REDIRECT),
                    ("scope", "openid profile email"),
                    extra,
                ],
            );
            let (page_url, login) = follow(&b, &server.base, &url).await.page();
            assert!(page_url.contains("/login"), "{extra:?} did not ask to sign in again");
            let loc = sign_in(&b, &server.base, &login, &username, PASSWORD).await.left();
            assert!(query_param(&loc, "code").is_some(), "{extra:?}: {loc}");
        }
    }
}

/// prompt=select_account offers the signed-in account to go on with, and
/// another; prompt=login says who must prove themselves again and fills in
/// their name; login_hint fills in the name too.
#[tokio::test]
async fn the_sign_in_page_offers_the_signed_in_account_and_names_who_signs_in_again() {
    for backend in backends() {
        let (server, id, _, username) = setup(backend).await;
        let b = browser();
        let _ = get_code(&server, &b, &id, REDIRECT, None, &username).await;
        let ask = |extra: (&'static str, &'static str)| {
            authorize_url(
                &server,
                &[
                    ("response_type", "code"),
                    ("client_id", &id),
                    ("redirect_uri", REDIRECT),
                    ("scope", "openid"),
                    extra,
                ],
            )
        };
        let (page_url, login) = follow(&b, &server.base, &ask(("prompt", "select_account"))).await.page();
        assert!(page_url.contains("/login"), "{backend:?}");
        let login = html_unescape(&login);
        assert!(
            login.contains("id=\"continue-as\"")
                && login.contains(&format!("Continue as <strong>@{username}</strong>"))
        );
        assert!(login.contains("or use another account"), "the other way stays");
        let csrf = input_value(&login, "csrf").unwrap();
        let request = input_value(&login, "request").unwrap();
        let to = submit(&b, &server.base, "/login/continue", &[("csrf", &csrf), ("request", &request)]).await.left();
        assert!(query_param(&to, "code").is_some(), "{backend:?}: {to}");

        // prompt=login cannot be skipped that way.
        let (_, login) = follow(&b, &server.base, &ask(("prompt", "login"))).await.page();
        assert!(!login.contains("continue-as"));
        assert!(login.contains("id=\"reauth\"") && login.contains(&format!("@{username}")), "{login}");
        assert_eq!(input_value(&login, "username").as_deref(), Some(username.as_str()), "prefilled");
        let csrf = input_value(&login, "csrf").unwrap();
        let request = input_value(&login, "request").unwrap();
        let back = submit(&b, &server.base, "/login/continue", &[("csrf", &csrf), ("request", &request)]).await;
        assert!(matches!(back, Stop::Page { ref url, .. } if url.contains("/login")), "{backend:?}: still asked");

        // "Not you?" on a consent page switches accounts: no "confirm it is
        // you", no name filled in.
        let (other_app, _) = server.confidential(REDIRECT).await;
        let url = authorize_url(
            &server,
            &[("response_type", "code"), ("client_id", &other_app), ("redirect_uri", REDIRECT), ("scope", "openid")],
        );
        let (at, consent) = follow(&b, &server.base, &url).await.page();
        assert!(at.contains("/consent"), "{backend:?}: {at}");
        let switch = html_unescape(between_quotes(&consent, "class=\"chip-action\" href=\""));
        let (_, login) = follow(&b, &server.base, &server.url(&switch)).await.page();
        assert!(!login.contains("id=\"reauth\"") && !login.contains("continue-as"), "{backend:?}: {login}");
        assert_eq!(input_value(&login, "username").as_deref(), Some(""), "nothing filled in");

        // login_hint fills in the name for someone not signed in.
        let (_, login) = follow(&browser(), &server.base, &ask(("login_hint", "grace@example.com"))).await.page();
        assert_eq!(input_value(&login, "username").as_deref(), Some("grace@example.com"));
        // Tab goes from the name to the password, then to "Forgot password?".
        let (name_at, pw_at) = (login.find("id=\"username\"").unwrap(), login.find("id=\"password\"").unwrap());
        let forgot_at = login.find("/password/forgot").unwrap();
        assert!(name_at < pw_at && pw_at < forgot_at);
    }
}

#[tokio::test]
async fn cors_only_for_registered_origins() {
    for backend in backends() {
        let (server, _, _, _) = setup(backend).await;
        let res = http()
            .request(reqwest::Method::OPTIONS, server.url("/token"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example");
        let res = http()
            .post(server.url("/token"))
            .header("origin", "https://evil.example")
            .form(&[("grant_type", "authorization_code")])
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none());
    }
}

#[tokio::test]
async fn only_a_native_apps_loopback_redirect_may_change_port() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let native = server
            .client(ClientSpec {
                name: "Desktop app".into(),
                redirect_uris: vec!["http://127.0.0.1/cb".into()],
                app_type: Some("native".into()),
                ..Default::default()
            })
            .await
            .0;
        let username = unique("n");
        server.user(&username, PASSWORD).await;
        let (verifier, challenge) = pkce();
        let redirect = "http://127.0.0.1:49152/cb";
        let code = get_code(&server, &browser(), &native, redirect, Some(&challenge), &username).await;
        let res = redeem(&server, &native, None, &code, redirect, Some(&verifier)).await;
        assert_eq!(res.status(), 200);
        let body = json(res).await;
        assert!(body["refresh_token"].is_null(), "a public client gets a refresh token only with offline_access");
        // RFC 9700 §4.1.3: a web app or SPA on loopback gets exact matching.
        for app_type in ["spa", "web"] {
            let client = server
                .client(ClientSpec {
                    name: "Local dev app".into(),
                    redirect_uris: vec!["http://127.0.0.1:3000/cb".into()],
                    app_type: Some(app_type.into()),
                    ..Default::default()
                })
                .await
                .0;
            let url = format!(
                "{}?response_type=code&client_id={client}&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256",
                server.url("/authorize"),
                urlencode("http://127.0.0.1:3001/cb")
            );
            let (_, body) = follow(&browser(), &server.base, &url).await.page();
            assert!(
                body.contains("redirect address in this link is not registered"),
                "{app_type}: an error page, not a redirect: {body}"
            );
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// OIDC Core §5.3.1: openid-client POSTs to UserInfo with the token in the
/// Authorization header, no body and no Content-Type.
#[tokio::test]
async fn userinfo_by_post_without_a_body() {
    for backend in backends() {
        let (server, id, secret, username) = setup(backend).await;
        let code = get_code(&server, &browser(), &id, REDIRECT, None, &username).await;
        let body = json(redeem(&server, &id, Some(&secret), &code, REDIRECT, None).await).await;
        let access = body["access_token"].as_str().unwrap();
        let res = http().post(server.url("/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(res.status(), 200, "{backend:?}");
        assert!(json(res).await["sub"].is_string());
        // A body of another type is still refused.
        let res = http()
            .post(server.url("/userinfo"))
            .bearer_auth(access)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    }
}

/// A single-page app revokes its tokens at sign-out, from its own origin
/// (RFC 7009, with CORS as /token and /userinfo have it).
#[tokio::test]
async fn a_spa_revokes_from_its_origin() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let spa_redirect = "https://spa.example/callback";
        let client = server.public(spa_redirect).await;
        let username = unique("spa");
        server.user(&username, PASSWORD).await;
        let (verifier, challenge) = pkce();
        let code = get_code(&server, &browser(), &client, spa_redirect, Some(&challenge), &username).await;
        let body = json(redeem(&server, &client, None, &code, spa_redirect, Some(&verifier)).await).await;
        let access = body["access_token"].as_str().unwrap();
        let preflight = http()
            .request(reqwest::Method::OPTIONS, server.url("/revoke"))
            .header("origin", "https://spa.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204);
        assert_eq!(preflight.headers()["access-control-allow-origin"], "https://spa.example");
        let res = http()
            .post(server.url("/revoke"))
            .header("origin", "https://spa.example")
            .form(&[("token", access), ("client_id", client.as_str()), ("token_type_hint", "access_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{backend:?}");
        assert_eq!(res.headers()["access-control-allow-origin"], "https://spa.example");
        let info = http().get(server.url("/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(info.status(), 401, "{backend:?}: revoked");
        // Another origin gets no CORS grant.
        let res = http()
            .post(server.url("/revoke"))
            .header("origin", "https://evil.example")
            .form(&[("token", access), ("client_id", client.as_str())])
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none());
    }
}

/// RFC 7591 §2: a client authenticates with the method it registered and no
/// other.
#[tokio::test]
async fn a_client_authenticates_only_as_registered() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        for (method, other) in
            [("client_secret_basic", "client_secret_post"), ("client_secret_post", "client_secret_basic")]
        {
            let (id, secret) = server
                .client(ClientSpec {
                    name: "Worker".into(),
                    grant_types: vec!["client_credentials".into()],
                    scopes: vec!["orders:read".into()],
                    token_endpoint_auth_method: Some(method.into()),
                    ..Default::default()
                })
                .await;
            let secret = secret.unwrap();
            let by = |how: &str| {
                let req = http().post(server.url("/token"));
                let form = vec![("grant_type", "client_credentials")];
                if how == "client_secret_basic" {
                    req.basic_auth(&id, Some(&secret)).form(&form)
                } else {
                    let mut form = form;
                    form.extend([("client_id", id.as_str()), ("client_secret", secret.as_str())]);
                    req.form(&form)
                }
            };
            assert_eq!(by(method).send().await.unwrap().status(), 200, "{backend:?} {method}");
            let res = by(other).send().await.unwrap();
            assert_eq!(res.status(), 401, "{backend:?}: {method} client used {other}");
            assert!(res.headers().contains_key("www-authenticate"));
            assert_eq!(json(res).await["error"], "invalid_client");
        }
        // A public client cannot be given a secret method, nor the reverse.
        let spec = ClientSpec {
            name: "SPA".into(),
            redirect_uris: vec!["https://spa.example/cb".into()],
            public: true,
            token_endpoint_auth_method: Some("client_secret_basic".into()),
            ..Default::default()
        };
        assert!(latchkey::oauth::clients::build(spec, 0).is_err());
    }
}

/// Dynamic registration grants only the scopes the operator allows for
/// self-registered clients: the OpenID scopes unless configured otherwise.
#[tokio::test]
async fn dynamic_registration_grants_only_allowed_scopes() {
    for backend in backends() {
        for (allowed, asked, ok) in [
            (None, "openid profile", true),
            (None, "openid orders:read", false),
            (Some("openid orders:read"), "openid orders:read", true),
            (Some("openid orders:read"), "openid email", false),
        ] {
            let mut extra = vec![("LATCHKEY_REGISTRATION_OPEN", "true")];
            if let Some(a) = allowed {
                extra.push(("LATCHKEY_REGISTRATION_SCOPES", a));
            }
            let server = TestServer::spawn_with(backend, &extra).await;
            let res = http()
                .post(server.url("/register"))
                .json(&serde_json::json!({
                    "redirect_uris": ["https://app.example/cb"],
                    "client_name": "Self-registered",
                    "scope": asked,
                }))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body = json(res).await;
            if ok {
                assert_eq!(status, 201, "{allowed:?} {asked}: {body}");
                assert_eq!(body["scope"], asked);
                assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
            } else {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (400, Some("invalid_client_metadata")),
                    "{allowed:?} {asked}"
                );
            }
        }
    }
}
