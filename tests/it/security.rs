//! Account security: brute-force throttling and lockout at sign-in and at
//! the token endpoint, shared between instances; the audit rows they write.

use crate::helpers::*;

const LIMITS: &[(&str, &str)] =
    &[("LATCHKEY_LOCKOUT_THRESHOLD", "3"), ("LATCHKEY_LOCKOUT_DURATION", "600"), ("LATCHKEY_THROTTLE_DELAY_MS", "0")];

/// Posts the sign-in form once; returns status, Retry-After and the page.
async fn attempt(
    server: &TestServer, b: &reqwest::Client, login: &str, password: &str,
) -> (u16, Option<String>, String) {
    let (_, html) = follow(b, &server.base, &server.url("/login")).await.page();
    let csrf = input_value(&html, "csrf").expect("csrf");
    let res = b
        .post(server.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("username", login), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, retry, res.text().await.unwrap())
}

/// The page without its per-request CSRF value, to compare two answers.
fn without_csrf(html: &str) -> String {
    let csrf = input_value(html, "csrf").unwrap_or_default();
    html.replace(&csrf, "CSRF")
}

#[tokio::test]
async fn an_account_locks_after_repeated_failures_and_unlocks_with_time() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, LIMITS).await;
        let username = unique("lock");
        let sub = server.user(&username, PASSWORD).await;
        let unknown = unique("nobody");
        let b = browser();

        for _ in 0..2 {
            let (status, _, html) = attempt(&server, &b, &username, "wrong-password-1").await;
            assert_eq!(status, 200);
            assert!(html.contains("Incorrect username or password."));
        }
        let (status, retry, html) = attempt(&server, &b, &username, "wrong-password-1").await;
        assert_eq!(status, 429, "{backend:?}: locked at the third failure");
        assert_eq!(retry.as_deref(), Some("600"));
        assert!(html.contains("Too many failed attempts"));
        // Locked means locked: the right password is refused too.
        let (status, retry, locked_html) = attempt(&server, &b, &username, PASSWORD).await;
        assert_eq!(status, 429);
        assert!(retry.is_some());

        // An unknown login behaves exactly the same: no enumeration.
        let other = browser();
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(attempt(&server, &other, &unknown, "wrong-password-1").await);
        }
        assert_eq!(answers.iter().map(|a| a.0).collect::<Vec<_>>(), [200, 200, 429, 429], "{backend:?}");
        assert_eq!(
            without_csrf(&answers[3].2).replace(&unknown, "LOGIN"),
            without_csrf(&locked_html).replace(&username, "LOGIN"),
            "same page for a known and an unknown account"
        );

        // After the lock, the owner signs in.
        server.clock.advance(601);
        let (status, _, _) = attempt(&server, &b, &username, PASSWORD).await;
        assert_eq!(status, 303, "{backend:?}: signed in after the lock");

        let events: Vec<(String, String)> = server
            .state
            .store
            .list_audit(Some(&sub), 50)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.event, e.outcome))
            .collect();
        for expected in [("sign_in", "failure"), ("sign_in.lockout", "locked"), ("sign_in", "success")] {
            assert!(
                events.iter().any(|(e, o)| e == expected.0 && o == expected.1),
                "{backend:?}: missing {expected:?} in {events:?}"
            );
        }
    }
}

#[tokio::test]
async fn instances_sharing_redis_share_the_counts() {
    if !backends().contains(&Backend::Shared) {
        return;
    }
    let a = TestServer::spawn_with(Backend::Shared, LIMITS).await;
    let b_server = a.sibling_with(LIMITS).await;
    let username = unique("shared");
    a.user(&username, PASSWORD).await;
    let browser_a = browser();
    let browser_b = browser();
    assert_eq!(attempt(&a, &browser_a, &username, "wrong-password-1").await.0, 200);
    assert_eq!(attempt(&b_server, &browser_b, &username, "wrong-password-1").await.0, 200);
    assert_eq!(
        attempt(&a, &browser_a, &username, "wrong-password-1").await.0,
        429,
        "the third failure, across two instances, locks"
    );
    assert_eq!(attempt(&b_server, &browser_b, &username, PASSWORD).await.0, 429);
}

#[tokio::test]
async fn the_token_endpoint_throttles_failed_client_authentication() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, LIMITS).await;
        let (client_id, secret) = server.confidential("https://app.example/cb").await;
        let post = |s: String| {
            http()
                .post(server.url("/token"))
                .basic_auth(&client_id, Some(s))
                .form(&[("grant_type", "client_credentials")])
                .send()
        };
        for _ in 0..2 {
            assert_eq!(post("wrong".into()).await.unwrap().status(), 401);
        }
        let res = post("wrong".into()).await.unwrap();
        assert_eq!(res.status(), 429, "{backend:?}");
        assert_eq!(res.headers()["retry-after"], "600");
        assert_eq!(json(res).await["error"], "temporarily_unavailable");
        assert_eq!(post("still wrong".into()).await.unwrap().status(), 429);
        // The right secret is not locked out: it cannot be guessed, and the
        // success path stays free of extra lookups.
        let ok = post(secret.clone()).await.unwrap();
        assert_ne!(ok.status(), 429);
        assert_ne!(ok.status(), 401);
    }
}

/// Posts the "forgot password" form; returns status and page.
async fn ask_reset(server: &TestServer, b: &reqwest::Client, email: &str) -> (u16, String) {
    let (_, html) = follow(b, &server.base, &server.url("/password/forgot")).await.page();
    let csrf = input_value(&html, "csrf").expect("csrf");
    let res =
        b.post(server.url("/password/forgot")).form(&[("csrf", csrf.as_str()), ("email", email)]).send().await.unwrap();
    if res.status() != 303 {
        return (res.status().as_u16(), res.text().await.unwrap());
    }
    // Post, then redirect: a reload of the answer sends nothing again.
    let res = b.get(server.url(&location(&res))).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Opens a reset link and sets `password`; returns status and page.
async fn use_reset_link(b: &reqwest::Client, link: &str, password: &str) -> (u16, String) {
    let res = b.get(link).send().await.unwrap();
    if res.status() != 200 {
        return (res.status().as_u16(), res.text().await.unwrap());
    }
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let html = res.text().await.unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let token = input_value(&html, "token").unwrap();
    let url = url::Url::parse(link).unwrap();
    let res = b
        .post(format!("{}://{}/password/reset", url.scheme(), url.authority()))
        .form(&[("csrf", csrf.as_str()), ("token", token.as_str()), ("password", password)])
        .send()
        .await
        .unwrap();
    if res.status() != 303 {
        return (res.status().as_u16(), res.text().await.unwrap());
    }
    let res = b.get(format!("{}://{}{}", url.scheme(), url.authority(), location(&res))).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn a_reset_link_by_smtp_is_single_use_expires_and_lifts_a_lock() {
    for backend in backends() {
        let sink = crate::smtp_sink::SmtpSink::start().await;
        let smtp = sink.url();
        let mut config = LIMITS.to_vec();
        config.push(("LATCHKEY_SMTP_URL", &smtp));
        let server = TestServer::spawn_with(backend, &config).await;
        let username = unique("reset");
        let sub = server.user(&username, PASSWORD).await;
        let email = format!("{username}@example.com");

        // A signed-in browser, then someone locks the account by guessing.
        let signed_in = browser();
        let (_, login) = follow(&signed_in, &server.base, &server.url("/login")).await.page();
        let _ = sign_in(&signed_in, &server.base, &login, &username, PASSWORD).await;
        let guesser = browser();
        for _ in 0..3 {
            attempt(&server, &guesser, &username, "wrong-password-1").await;
        }
        assert_eq!(attempt(&server, &guesser, &username, PASSWORD).await.0, 429);

        // The same answer for an unknown address and a known one.
        let b = browser();
        let (status_unknown, page_unknown) = ask_reset(&server, &b, &(unique("nobody") + "@example.com")).await;
        let (status_known, page_known) = ask_reset(&server, &b, &email.to_uppercase()).await;
        assert_eq!((status_unknown, status_known), (200, 200));
        assert_eq!(without_csrf(&page_unknown), without_csrf(&page_known), "{backend:?}");
        assert!(page_known.contains("If an account uses that address"));

        let mail = sink.wait_for(1).await;
        assert_eq!(mail.len(), 1, "nothing is sent to an unknown address");
        assert_eq!(mail[0].to, vec![email.clone()]);
        assert!(mail[0].data.contains("Reset your Latchkey password"));
        let link = link_in_email(&mail[0].data, &server.base).expect("a link in the email");
        assert!(link.contains("/password/reset?token="), "{link}");

        let (status, page) = use_reset_link(&b, &link, "password").await;
        assert_eq!(status, 422, "the policy still applies");
        assert!(page.contains("most common passwords"));
        let (status, page) = use_reset_link(&b, &link, "a-Fresh-start-77").await;
        assert_eq!(status, 200, "{backend:?}: {page}");
        assert!(page.contains("Password reset"));
        let (status, _) = use_reset_link(&b, &link, "another-Fresh-88").await;
        assert_eq!(status, 400, "single use");

        assert_eq!(signed_in.get(server.url("/account")).send().await.unwrap().status(), 303, "every session ended");
        assert_eq!(
            attempt(&server, &guesser, &username, PASSWORD).await.0,
            200,
            "old password refused (and the lock lifted)"
        );
        assert_eq!(attempt(&server, &browser(), &username, "a-Fresh-start-77").await.0, 303);

        // A link expires after 30 minutes.
        ask_reset(&server, &b, &email).await;
        // The reset itself was told to the address too.
        let mail = sink.wait_for(3).await;
        assert!(mail.iter().any(|m| m.data.contains("Your password was reset")), "{backend:?}: the reset is told");
        let late = mail
            .iter()
            .rev()
            .find_map(|m| link_in_email(&m.data, &server.base).filter(|l| l.contains("/password/reset?token=")))
            .unwrap();
        server.clock.advance(30 * 60 + 1);
        assert_eq!(use_reset_link(&b, &late, "too-Late-for-this-9").await.0, 400);

        let events: Vec<String> =
            server.state.store.list_audit(Some(&sub), 50).await.unwrap().into_iter().map(|e| e.event).collect();
        assert!(events.iter().any(|e| e == "password.reset_requested"));
        assert!(events.iter().any(|e| e == "password.reset"));
    }
}

#[tokio::test]
async fn sign_up_sends_a_verification_link_and_operators_can_require_it() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_REQUIRE_VERIFIED_EMAIL", "true")]).await;
        let b = browser();
        let (_, html) = follow(&b, &server.base, &server.url("/signup")).await.page();
        let csrf = input_value(&html, "csrf").unwrap();
        let username = unique("verify");
        let email = format!("{username}@example.com");
        let res = b
            .post(server.url("/signup"))
            .form(&[("csrf", csrf.as_str()), ("username", &username), ("email", &email), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.text().await.unwrap().contains("Confirm your email first"));
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 303, "no session yet");
        // Signing in before verifying is refused the same way.
        assert_eq!(attempt(&server, &browser(), &username, PASSWORD).await.0, 403);

        // The dev outbox holds the messages (no SMTP configured).
        let mut outbox = Vec::new();
        for _ in 0..50 {
            outbox = server.outbox();
            if !outbox.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let message = outbox.first().expect("a verification email in the outbox");
        assert!(message.contains(&format!("To: {email}")), "{message}");
        let link = link_in_email(message, &server.base).expect("link");
        assert!(link.contains("/email/verify?token="));
        let res = b.get(&link).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("Email verified"));
        assert_eq!(b.get(&link).send().await.unwrap().status(), 400, "single use");
        let user = server.state.store.find_user_by_login(&username).await.unwrap().unwrap();
        assert!(user.email_verified);
        assert_eq!(attempt(&server, &browser(), &username, PASSWORD).await.0, 303, "now signs in");
    }
}

/// Text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let to = html[from..].find(end)? + from;
    Some(&html[from..to])
}

/// Signs in with the password; returns the page reached (the second step
/// when TOTP is on).
async fn password_step(server: &TestServer, b: &reqwest::Client, username: &str) -> (String, String) {
    let (_, login) = follow(b, &server.base, &server.url("/login")).await.page();
    sign_in(b, &server.base, &login, username, PASSWORD).await.page()
}

/// Submits the second step; returns the raw response.
async fn second_step(server: &TestServer, b: &reqwest::Client, page: &str, code: &str) -> reqwest::Response {
    let csrf = input_value(page, "csrf").unwrap();
    let step = input_value(page, "step").expect("step field");
    b.post(server.url("/login/mfa"))
        .form(&[("csrf", csrf.as_str()), ("step", step.as_str()), ("code", code)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn totp_enrolment_sign_in_backup_codes_replay_and_acr() {
    use latchkey::accounts::totp;
    for backend in backends() {
        let server = TestServer::spawn_with(backend, LIMITS).await;
        let (client_id, client_secret) = server.confidential("https://app.example/cb").await;
        let username = unique("mfa");
        let sub = server.user(&username, PASSWORD).await;

        // Without a second factor, a request demanding one is refused.
        let plain = browser();
        let _ = password_step(&server, &plain, &username).await;
        let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", "https://app.example/cb")
            .append_pair("scope", "openid")
            .append_pair("state", "s")
            .append_pair("acr_values", latchkey::oauth::authorize::ACR_MFA);
        let left = follow(&plain, &server.base, url.as_str()).await.left();
        assert_eq!(
            query_param(&left, "error").as_deref(),
            Some("unmet_authentication_requirements"),
            "{backend:?}: {left}"
        );

        // Enrol.
        let b = browser();
        let _ = password_step(&server, &b, &username).await;
        let (_, setup) = follow(&b, &server.base, &server.url("/account/mfa")).await.page();
        assert!(setup.contains("<svg"), "a QR code rendered here");
        let secret_text = between(&setup, "<code class=\"secret\">", "</code>").expect("secret shown");
        let secret = totp::base32_decode(secret_text).expect("base32 secret");
        let csrf = input_value(&setup, "csrf").unwrap();
        let wrong = b
            .post(server.url("/account/mfa"))
            .form(&[("csrf", csrf.as_str()), ("code", "000000")])
            .send()
            .await
            .unwrap();
        assert!(wrong.text().await.unwrap().contains("That code is not correct"));
        let enrol_code = totp::code_at(&secret, server.state.now());
        let res = b
            .post(server.url("/account/mfa"))
            .form(&[("csrf", csrf.as_str()), ("code", enrol_code.as_str())])
            .send()
            .await
            .unwrap();
        // Post, then redirect to the codes, shown once.
        assert_eq!(res.status(), 303);
        let codes_at = server.url(&location(&res));
        let codes_page = b.get(&codes_at).send().await.unwrap().text().await.unwrap();
        let list = between(&codes_page, "<ul class=\"codes\" id=\"backup-codes\">", "</ul>").expect("backup codes");
        assert!(codes_page.contains("download=\"latchkey-backup-codes.txt\""));
        let again = b.get(&codes_at).send().await.unwrap();
        assert_eq!(again.status(), 410, "{backend:?}: shown once");
        let backup: Vec<String> =
            list.split("<code>").skip(1).map(|c| c.split("</code>").next().unwrap().to_string()).collect();
        assert_eq!(backup.len(), 10, "{backend:?}");
        let (_, account) = follow(&b, &server.base, &server.url("/account")).await.page();
        assert!(account.contains("10 backup codes left"));

        // The password alone no longer signs in.
        let c = browser();
        let (_, step) = password_step(&server, &c, &username).await;
        assert!(step.contains("Two-step verification"), "{step}");
        assert_eq!(c.get(server.url("/account")).send().await.unwrap().status(), 303);
        // The code used to enrol is spent.
        let res = second_step(&server, &c, &step, &enrol_code).await;
        assert!(res.text().await.unwrap().contains("not correct, or was already used"));
        server.clock.advance(60);
        let code = totp::code_at(&secret, server.state.now());
        let res = second_step(&server, &c, &step, &code).await;
        assert_eq!(res.status(), 303, "{backend:?}");
        assert_eq!(c.get(server.url("/account")).send().await.unwrap().status(), 200);

        // The same code again, from another browser: a replay.
        let d = browser();
        let (_, step) = password_step(&server, &d, &username).await;
        let res = second_step(&server, &d, &step, &code).await;
        assert!(res.text().await.unwrap().contains("not correct, or was already used"));
        // A backup code works once.
        let res = second_step(&server, &d, &step, &backup[0].to_uppercase()).await;
        assert_eq!(res.status(), 303, "backup code accepted");
        let e = browser();
        let (_, step) = password_step(&server, &e, &username).await;
        let res = second_step(&server, &e, &step, &backup[0]).await;
        assert_eq!(res.status(), 200, "a used backup code is refused");

        // An app asking for MFA gets amr and acr saying so.
        let (verifier, challenge) = pkce();
        url.query_pairs_mut()
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "login");
        let (_, login) = follow(&e, &server.base, url.as_str()).await.page();
        let (_, step) = sign_in(&e, &server.base, &login, &username, PASSWORD).await.page();
        server.clock.advance(60);
        let res = second_step(&server, &e, &step, &totp::code_at(&secret, server.state.now())).await;
        let next = location(&res);
        let left = match follow(&e, &server.base, &server.url(&next)).await {
            Stop::Page { url, body, .. } if url.contains("/consent") => {
                consent(&e, &server.base, &body, "allow").await.left()
            }
            other => other.left(),
        };
        let code = query_param(&left, "code").expect("code");
        let tokens = json(
            redeem(&server, &client_id, Some(&client_secret), &code, "https://app.example/cb", Some(&verifier)).await,
        )
        .await;
        let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
        let claims: serde_json::Value =
            serde_json::from_slice(&latchkey::crypto::b64url_decode(&payload).unwrap()).unwrap();
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{backend:?}");
        assert_eq!(claims["acr"], latchkey::oauth::authorize::ACR_MFA);

        // Wrong codes at the second step lock it (3 here).
        let f = browser();
        let (_, step) = password_step(&server, &f, &username).await;
        let statuses = [
            second_step(&server, &f, &step, "111111").await.status().as_u16(),
            second_step(&server, &f, &step, "222222").await.status().as_u16(),
            second_step(&server, &f, &step, "333333").await.status().as_u16(),
        ];
        assert_eq!(statuses, [200, 200, 429], "{backend:?}");

        // Turning it off needs proof.
        let (_, account) = follow(&c, &server.base, &server.url("/account")).await.page();
        let csrf = input_value(&account, "csrf").unwrap();
        let res = c
            .post(server.url("/account/mfa/disable"))
            .form(&[("csrf", csrf.as_str()), ("proof", "not-it")])
            .send()
            .await
            .unwrap();
        assert!(location(&res).ends_with("done=mfa-proof-wrong"));
        let res = c
            .post(server.url("/account/mfa/disable"))
            .form(&[("csrf", csrf.as_str()), ("proof", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert!(location(&res).ends_with("done=mfa-off"));
        assert!(server.state.store.get_totp(&sub).await.unwrap().is_none());

        let events: Vec<(String, String)> = server
            .state
            .store
            .list_audit(Some(&sub), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.event, e.outcome))
            .collect();
        for expected in [
            ("mfa.enrol", "success"),
            ("mfa.use", "success"),
            ("mfa.use", "failure"),
            ("mfa.backup_code", "success"),
            ("mfa.disable", "failure"),
            ("mfa.disable", "success"),
        ] {
            assert!(
                events.iter().any(|(e, o)| e == expected.0 && o == expected.1),
                "{backend:?}: missing {expected:?}"
            );
        }
    }
}

/// A disabled account is told so only once it proves itself; before, it is
/// told what every wrong attempt is told.
#[tokio::test]
async fn a_disabled_account_hears_the_same_words_after_proving_itself() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let name = unique("gone");
        let id = server.user(&name, PASSWORD).await;
        server.state.store.set_user_disabled(&id, true, server.state.now()).await.unwrap();
        let b = browser();
        let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
        let (_, page) = sign_in(&b, &server.base, &login, &name, "not-the-password-1").await.page();
        assert!(page.contains("Incorrect username or password."), "{backend:?}");
        let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
        let stop = sign_in(&b, &server.base, &login, &name, PASSWORD).await;
        let Stop::Page { status, body, .. } = stop else { panic!("{backend:?}: left the site") };
        assert_eq!(status, 403, "{backend:?}");
        assert!(body.contains(latchkey::accounts::users::DISABLED.0), "{body}");
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 303, "no session");
    }
}

/// People hear of changes to how their account is protected, and can ask
/// for a new verification link themselves (people created by an operator
/// never got one).
#[tokio::test]
async fn security_changes_are_emailed_and_verification_links_can_be_asked_again() {
    for backend in backends() {
        let sink = crate::smtp_sink::SmtpSink::start().await;
        let smtp = sink.url();
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_SMTP_URL", &smtp)]).await;
        let name = unique("alerted");
        server.user(&name, PASSWORD).await;
        let email = format!("{name}@example.com");
        let b = browser();
        let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
        let (_, account) = sign_in(&b, &server.base, &login, &name, PASSWORD).await.page();
        assert!(account.contains("Send a new link"), "{backend:?}: an unverified address");
        let csrf = input_value(&account, "csrf").unwrap();
        let res = b.post(server.url("/account/email/verify")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(location(&res), "/account?done=verification-sent");
        let mail = sink.wait_for(1).await;
        assert_eq!(mail[0].to, vec![email.clone()]);
        let link = link_in_email(&mail[0].data, &server.base).expect("a verification link");
        assert!(link.contains("/email/verify?token="), "{link}");

        let res = b
            .post(server.url("/account/password"))
            .form(&[("csrf", csrf.as_str()), ("current_password", PASSWORD), ("new_password", "a-New-start-4711")])
            .send()
            .await
            .unwrap();
        assert!(location(&res).contains("password-changed"), "{backend:?}");
        let mail = sink.wait_for(2).await;
        let alert = &mail[1].data;
        assert!(alert.contains("Your password was changed") && alert.contains("When:"), "{alert}");
        assert!(alert.contains("/password/forgot"), "what to do if it was not them");
    }
}
