//! The device authorization grant (RFC 8628) driven as a TV and its person
//! would: the device asks and polls over HTTP, the person uses the real
//! pages in a cookie-jar browser. Both backends; the clock is the test's.

use latchkey::oauth::clients::ClientSpec;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A TV app: public, device code and refresh token grants.
async fn tv_app(server: &TestServer) -> String {
    let (id, secret) = server
        .client(ClientSpec { name: "Living Room TV".into(), app_type: Some("device".into()), ..Default::default() })
        .await;
    assert!(secret.is_none(), "a device app has no secret");
    id
}

async fn ask(server: &TestServer, client_id: &str, scope: &str) -> Value {
    let res = http()
        .post(server.url("/device_authorization"))
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    json(res).await
}

async fn poll(server: &TestServer, client_id: &str, device_code: &str) -> (StatusCode, Value) {
    let res = http()
        .post(server.url("/token"))
        .form(&[("grant_type", DEVICE_GRANT), ("client_id", client_id), ("device_code", device_code)])
        .send()
        .await
        .unwrap();
    (res.status(), json(res).await)
}

/// The person's side: open the link, sign in, confirm the code, answer.
async fn answer(server: &TestServer, b: &reqwest::Client, link: &str, username: &str, decision: &str) -> String {
    let stop = follow(b, &server.base, link).await;
    let (url, page) = match stop {
        Stop::Page { url, body, .. } if url.contains("/login") => {
            sign_in(b, &server.base, &body, username, PASSWORD).await.page()
        }
        other => other.page(),
    };
    assert!(url.contains("/device"), "back to the device page after sign-in: {url}");
    // Prefilled from the link, but not submitted: the person confirms.
    let code = input_value(&page, "user_code").expect("the code field");
    assert!(!code.is_empty(), "prefilled");
    let csrf = input_value(&page, "csrf").unwrap();
    let res =
        b.post(server.url("/device")).form(&[("csrf", csrf.as_str()), ("user_code", &code)]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let confirm = res.text().await.unwrap();
    assert!(confirm.contains("Living Room TV") && confirm.contains(&code), "the app and the code are named");
    assert!(confirm.contains("another device"));
    let csrf = input_value(&confirm, "csrf").unwrap();
    let confirmation = input_value(&confirm, "confirmation").expect("the answer names the code held for it");
    let answer = [("csrf", csrf.as_str()), ("confirmation", &confirmation), ("decision", decision)];
    let res = b.post(server.url("/device/decide")).form(&answer).send().await.unwrap();
    assert_eq!(res.status(), 303, "post, then redirect");
    // Answered once.
    let again = b.post(server.url("/device/decide")).form(&answer).send().await.unwrap();
    assert_eq!(again.status(), 400, "a held code is answered once");
    let (_, done) = follow(b, &server.base, &server.url(&location(&res))).await.page();
    done
}

/// An address of its own for one test's requests (through a trusted
/// proxy): the per-IP counts are shared through Redis by every test server.
fn own_ip() -> String {
    let ip = latchkey::crypto::random_bytes(3);
    format!("10.{}.{}.{}", ip[0], ip[1], ip[2])
}

/// A new person signed in at `server`'s /device: their browser and the
/// page's CSRF token.
async fn at_device_page(server: &TestServer, username: &str) -> (reqwest::Client, String) {
    server.user(username, PASSWORD).await;
    let b = browser();
    let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
    let _ = sign_in(&b, &server.base, &login, username, PASSWORD).await;
    let csrf = input_value(&follow(&b, &server.base, &server.url("/device")).await.page().1, "csrf").unwrap();
    (b, csrf)
}

/// A server whose per-IP lock comes after `threshold` wrong codes.
async fn guessed_at(backend: Backend, threshold: &str) -> TestServer {
    TestServer::spawn_with(
        backend,
        &[
            ("LATCHKEY_LOCKOUT_THRESHOLD", threshold),
            ("LATCHKEY_THROTTLE_DELAY_MS", "0"),
            ("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await
}

#[tokio::test]
async fn a_tv_signs_in_through_the_persons_phone() {
    for backend in backends() {
        // The wrong-code count is per IP and shared through Redis by every
        // test server: the last step comes from an IP of its own.
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1")]).await;
        let tv = tv_app(&server).await;
        let name = unique("viewer");
        let sub = server.user(&name, PASSWORD).await;
        let asked = ask(&server, &tv, "openid profile offline_access").await;
        let device_code = asked["device_code"].as_str().unwrap().to_string();
        let user_code = asked["user_code"].as_str().unwrap();
        assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
        assert!(user_code.chars().all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)), "{user_code}");
        assert_eq!(asked["verification_uri"], server.url("/device"));
        assert_eq!(asked["expires_in"], 600);
        assert_eq!(asked["interval"], 5);
        let link = asked["verification_uri_complete"].as_str().unwrap().to_string();
        assert!(link.contains(user_code));

        // Before the person answers: pending; too fast: slow down.
        let (status, body) = poll(&server, &tv, &device_code).await;
        assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("authorization_pending")), "{backend:?}");
        let (_, body) = poll(&server, &tv, &device_code).await;
        assert_eq!(body["error"], "slow_down", "{backend:?}: polled at once");
        server.clock.advance(6);
        let (_, body) = poll(&server, &tv, &device_code).await;
        assert_eq!(body["error"], "slow_down", "6 s, under the 10 s it grew to; now 15 s");
        server.clock.advance(16);
        let (_, body) = poll(&server, &tv, &device_code).await;
        assert_eq!(body["error"], "authorization_pending");

        let b = browser();
        let done = answer(&server, &b, &link, &name, "allow").await;
        assert!(done.contains("Your device is signed in"), "{done}");
        server.clock.advance(16);
        let (status, tokens) = poll(&server, &tv, &device_code).await;
        assert_eq!(status, 200, "{backend:?}: {tokens}");
        assert!(tokens["refresh_token"].is_string() && tokens["id_token"].is_string());
        let access = tokens["access_token"].as_str().unwrap();
        let info = json(http().get(server.url("/userinfo")).bearer_auth(access).send().await.unwrap()).await;
        assert_eq!(info["sub"], sub.as_str());
        // Once.
        server.clock.advance(16);
        let (_, body) = poll(&server, &tv, &device_code).await;
        assert_eq!(body["error"], "invalid_grant", "{backend:?}: tokens are issued once");
        // The code cannot be answered again either.
        let csrf = input_value(&follow(&b, &server.base, &server.url("/device")).await.page().1, "csrf").unwrap();
        let res = b
            .post(server.url("/device"))
            .header("X-Forwarded-For", own_ip())
            .form(&[("csrf", csrf.as_str()), ("user_code", user_code)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(res.text().await.unwrap().contains("wrong, expired, or was used"));
    }
}

#[tokio::test]
async fn a_refused_expired_or_foreign_device_gets_nothing() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let tv = tv_app(&server).await;
        let other = tv_app(&server).await;
        let name = unique("viewer");
        server.user(&name, PASSWORD).await;

        let asked = ask(&server, &tv, "openid").await;
        let device_code = asked["device_code"].as_str().unwrap().to_string();
        let done =
            answer(&server, &browser(), asked["verification_uri_complete"].as_str().unwrap(), &name, "deny").await;
        assert!(done.contains("was not signed in"), "{done}");
        let (_, body) = poll(&server, &tv, &device_code).await;
        assert_eq!(body["error"], "access_denied", "{backend:?}");

        let asked = ask(&server, &tv, "openid").await;
        let device_code = asked["device_code"].as_str().unwrap().to_string();
        let (_, body) = poll(&server, &other, &device_code).await;
        assert_eq!(body["error"], "invalid_grant", "{backend:?}: another client's device code");
        let (_, body) = poll(&server, &tv, "no-such-device-code").await;
        assert_eq!(body["error"], "invalid_grant");
        server.clock.advance(601);
        let (_, body) = poll(&server, &tv, &device_code).await;
        assert_eq!(body["error"], "expired_token", "{backend:?}");

        // A client not registered for the device flow cannot start it.
        let (web, web_secret) = server.confidential("https://app.example/cb").await;
        let res = http()
            .post(server.url("/device_authorization"))
            .basic_auth(&web, Some(&web_secret))
            .form(&[("scope", "openid")])
            .send()
            .await
            .unwrap();
        assert_eq!(json(res).await["error"], "unauthorized_client");
    }
}

#[tokio::test]
async fn guessing_user_codes_is_throttled_per_ip_and_across_all() {
    for backend in backends() {
        // Per IP: the lockout threshold (3 here). Counts are shared through
        // Redis by every test server: this one's browser comes from an IP of
        // its own, through a trusted proxy.
        let server = guessed_at(backend, "3").await;
        let ip = own_ip();
        let (b, csrf) = at_device_page(&server, &unique("guesser")).await;
        let enter = |code: &'static str| {
            let (b, url, csrf, ip) = (b.clone(), server.url("/device"), csrf.clone(), ip.clone());
            async move {
                let form = [("csrf", csrf.as_str()), ("user_code", code)];
                b.post(url).header("X-Forwarded-For", ip).form(&form).send().await.unwrap()
            }
        };
        let res = enter("BCDF-GHJ").await;
        assert_eq!(res.status(), 400, "{backend:?}");
        let res_text = res.text().await.unwrap();
        assert!(res_text.contains("8 letters"), "{backend:?}: too short");
        assert_eq!(enter("BCDF-GHJA").await.status(), 400, "a vowel");
        assert_eq!(enter("BCDF-GHJK").await.status(), 429, "{backend:?}: the third wrong code locks the IP");
        assert_eq!(enter("ZZZZ-ZZZZ").await.status(), 429, "still locked");

        // Across all IPs: a cap on wrong codes per minute. The count is
        // shared by every instance (and, on the shared backend, every test
        // server): this server's clock is moved to a minute of its own.
        let capped = TestServer::spawn_with(
            backend,
            &[("LATCHKEY_DEVICE_CODE_GUESSES_PER_MINUTE", "2"), ("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1")],
        )
        .await;
        let offset =
            86_400 * (1 + (u32::from_be_bytes(latchkey::crypto::random_bytes(4).try_into().unwrap()) % 10_000) as i64);
        capped.clock.advance(offset - capped.state.now().rem_euclid(60));
        let (b, csrf) = at_device_page(&capped, &unique("guesser")).await;
        // Each guess from another IP: the cap holds across them.
        let from_anywhere = |code: &'static str| {
            let (b, url, csrf) = (b.clone(), capped.url("/device"), csrf.clone());
            let ip = own_ip();
            async move {
                let form = [("csrf", csrf.as_str()), ("user_code", code)];
                b.post(url).header("X-Forwarded-For", ip).form(&form).send().await.unwrap().status().as_u16()
            }
        };
        let mut statuses = Vec::new();
        for code in ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "FFFF-FFFF"] {
            statuses.push(from_anywhere(code).await);
        }
        assert_eq!(statuses, [400, 400, 429, 429], "{backend:?}: the minute's budget is spent after two");
        capped.clock.advance(60);
        assert_eq!(from_anywhere("GGGG-GGGG").await, 400, "{backend:?}: a new minute");
    }
}

/// The answer names a code held for the browser that entered it: posting a
/// code straight to /device/decide, or another person's held code, answers
/// nothing, so the answer step is no way round the limits on entering
/// codes. And once approved, the TV is among the person's connected apps,
/// where revoking it ends its tokens.
#[tokio::test]
async fn only_the_browser_that_entered_a_code_answers_it_and_the_tv_can_be_revoked() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let tv = tv_app(&server).await;
        let owner = unique("viewer");
        server.user(&owner, PASSWORD).await;
        let asked = ask(&server, &tv, "openid offline_access").await;
        let device_code = asked["device_code"].as_str().unwrap().to_string();
        let user_code = asked["user_code"].as_str().unwrap().to_string();

        // The intruder, signed in, posts the code (and a made-up hold)
        // straight to the answer.
        let (evil, csrf) = at_device_page(&server, &unique("intruder")).await;
        for form in [
            vec![("csrf", csrf.as_str()), ("user_code", user_code.as_str()), ("decision", "allow")],
            vec![("csrf", csrf.as_str()), ("confirmation", user_code.as_str()), ("decision", "allow")],
        ] {
            let res = evil.post(server.url("/device/decide")).form(&form).send().await.unwrap();
            assert_eq!(res.status(), 400, "{backend:?}: {form:?}");
        }

        // The owner enters the code; the hold in their form is theirs alone.
        let b = browser();
        let (url, page) = follow(&b, &server.base, asked["verification_uri_complete"].as_str().unwrap()).await.page();
        assert!(url.contains("/login"));
        let (_, page) = sign_in(&b, &server.base, &page, &owner, PASSWORD).await.page();
        let csrf = input_value(&page, "csrf").unwrap();
        let res = b
            .post(server.url("/device"))
            .form(&[("csrf", csrf.as_str()), ("user_code", user_code.as_str())])
            .send()
            .await
            .unwrap();
        let confirm = res.text().await.unwrap();
        let held = input_value(&confirm, "confirmation").unwrap();
        let evil_csrf =
            input_value(&follow(&evil, &server.base, &server.url("/device")).await.page().1, "csrf").unwrap();
        let stolen = [("csrf", evil_csrf.as_str()), ("confirmation", held.as_str()), ("decision", "allow")];
        let res = evil.post(server.url("/device/decide")).form(&stolen).send().await.unwrap();
        assert_eq!(res.status(), 400, "{backend:?}: another person's hold");
        let (_, body) = poll(&server, &tv, &device_code).await;
        assert_eq!(body["error"], "authorization_pending", "{backend:?}: nothing was decided");

        // The stolen hold was spent: the owner enters the code again.
        let res = b
            .post(server.url("/device"))
            .form(&[("csrf", csrf.as_str()), ("user_code", user_code.as_str())])
            .send()
            .await
            .unwrap();
        let held = input_value(&res.text().await.unwrap(), "confirmation").unwrap();
        let form = [("csrf", csrf.as_str()), ("confirmation", held.as_str()), ("decision", "allow")];
        let res = b.post(server.url("/device/decide")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 303, "{backend:?}");
        server.clock.advance(6);
        let (status, tokens) = poll(&server, &tv, &device_code).await;
        assert_eq!(status, 200, "{backend:?}: {tokens}");
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

        // Connected apps lists the TV; revoking it ends its refresh token.
        let (_, account) = follow(&b, &server.base, &server.url("/account")).await.page();
        assert!(account.contains("Living Room TV"), "{backend:?}: the TV among the connected apps");
        let csrf = input_value(&account, "csrf").unwrap();
        let res = b
            .post(server.url("/account/apps/revoke"))
            .form(&[("csrf", csrf.as_str()), ("client_id", tv.as_str())])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{}", res.status());
        let res = http()
            .post(server.url("/token"))
            .form(&[("grant_type", "refresh_token"), ("client_id", tv.as_str()), ("refresh_token", refresh.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(json(res).await["error"], "invalid_grant", "{backend:?}: revoked from the account page");
    }
}

/// Guesses sent all at once from one address: each is counted before it is
/// looked at, so no more than the limit are ever judged.
#[tokio::test]
async fn concurrent_guesses_from_one_address_stop_at_the_limit() {
    for backend in backends() {
        let server = guessed_at(backend, "3").await;
        let ip = own_ip();
        let (b, csrf) = at_device_page(&server, &unique("guesser")).await;
        let guesses: Vec<_> = (0..40)
            .map(|i| {
                let (b, url, csrf, ip) = (b.clone(), server.url("/device"), csrf.clone(), ip.clone());
                // Codes of the alphabet, none issued.
                let code = format!("ZZZZ-Z{}", ["BCD", "FGH", "JKL", "MNP", "QRS"][i % 5]);
                tokio::spawn(async move {
                    let form = [("csrf", csrf.as_str()), ("user_code", code.as_str())];
                    b.post(url).header("X-Forwarded-For", ip).form(&form).send().await.unwrap().status().as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for guess in guesses {
            statuses.push(guess.await.unwrap());
        }
        let judged = statuses.iter().filter(|s| **s == 400).count();
        assert!(judged <= 3, "{backend:?}: {judged} guesses judged of 40: {statuses:?}");
        // A backend slower than its deadline under this burst answers 503
        // (fail fast), never a judged guess past the limit.
        assert!(statuses.iter().all(|s| [400, 429, 503].contains(s)), "{statuses:?}");
        let failures = server.state.store.list_audit(None, 100).await.unwrap();
        let counted = failures.iter().filter(|e| e.event == "device.code_entry").count();
        assert!(counted <= 3, "{backend:?}: {counted} wrong codes looked up");
    }
}
