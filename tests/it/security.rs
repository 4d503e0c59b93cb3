//! Account security: brute-force throttling and lockout at sign-in and at
//! the token endpoint, shared between instances; the audit rows they write.

use crate::helpers::*;

const LIMITS: &[(&str, &str)] = &[
    ("LATCHKEY_LOCKOUT_THRESHOLD", "3"),
    ("LATCHKEY_LOCKOUT_DURATION", "600"),
    ("LATCHKEY_THROTTLE_DELAY_MS", "0"),
];

/// Posts the sign-in form once; returns status, Retry-After and the page.
async fn attempt(
    server: &TestServer,
    b: &reqwest::Client,
    login: &str,
    password: &str,
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
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
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
        assert_eq!(
            answers.iter().map(|a| a.0).collect::<Vec<_>>(),
            [200, 200, 429, 429],
            "{backend:?}"
        );
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
        for expected in [
            ("sign_in", "failure"),
            ("sign_in.lockout", "locked"),
            ("sign_in", "success"),
        ] {
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
    assert_eq!(
        attempt(&b_server, &browser_b, &username, "wrong-password-1").await.0,
        200
    );
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
