//! "Sign in with GitHub" end to end: the real server, a fake GitHub that
//! speaks GitHub's wire format, and a browser with a cookie jar.

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::fake_github::{FakeGithub, GithubEmail, Mode, github_user};
use crate::helpers::*;

const REDIRECT: &str = "https://app.example/callback";

/// A Latchkey server configured for the fake GitHub.
async fn setup(backend: Backend, extra: &[(&str, &str)]) -> (TestServer, FakeGithub) {
    let gh = FakeGithub::start().await;
    let mut pairs = vec![
        ("LATCHKEY_GITHUB_CLIENT_ID", FakeGithub::CLIENT_ID),
        ("LATCHKEY_GITHUB_CLIENT_SECRET", FakeGithub::CLIENT_SECRET),
        ("LATCHKEY_GITHUB_WEB_URL", gh.base.as_str()),
        ("LATCHKEY_GITHUB_API_URL", gh.base.as_str()),
        ("LATCHKEY_GITHUB_TIMEOUT", "2"),
    ];
    pairs.extend_from_slice(extra);
    (TestServer::spawn_with(backend, &pairs).await, gh)
}

fn authorize_url(server: &TestServer, client_id: &str, challenge: &str) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "app-state")
        .append_pair("nonce", "app-nonce")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// From a redirect to GitHub (the answer to `start`), through the fake's
/// approval, to the URL GitHub sends the browser back to.
async fn github_approves(b: &reqwest::Client, server: &TestServer, gh: &FakeGithub, res: reqwest::Response) -> String {
    assert_eq!(res.status(), 303, "start should redirect to GitHub");
    let to_github = location(&res);
    assert!(to_github.starts_with(&gh.url("/login/oauth/authorize?")), "{to_github}");
    let res = b.get(&to_github).send().await.unwrap();
    assert_eq!(res.status(), 302, "GitHub should redirect back");
    let back = location(&res);
    assert!(back.starts_with(&server.url("/federation/github/callback?")), "{back}");
    back
}

/// Clicks "Continue with GitHub" (for the pending request, if any) and
/// returns the callback URL.
async fn to_callback(b: &reqwest::Client, server: &TestServer, gh: &FakeGithub, request: Option<&str>) -> String {
    let start = match request {
        Some(r) => server.url(&format!("/federation/github/start?request={r}")),
        None => server.url("/federation/github/start"),
    };
    let res = b.get(start).send().await.unwrap();
    github_approves(b, server, gh, res).await
}

/// The whole GitHub round trip, following our own redirects afterwards.
async fn via_github(b: &reqwest::Client, server: &TestServer, gh: &FakeGithub, request: Option<&str>) -> Stop {
    let back = to_callback(b, server, gh, request).await;
    follow(b, &server.base, &back).await
}

/// Opens the app's authorization request; returns the pending request id
/// shown on the sign-in page, checking the GitHub button is there.
async fn open_sign_in(b: &reqwest::Client, server: &TestServer, client_id: &str, challenge: &str) -> String {
    let (url, html) = follow(b, &server.base, &authorize_url(server, client_id, challenge)).await.page();
    assert!(url.contains("/login?request="), "{url}");
    assert!(html.contains("Continue with GitHub"), "GitHub button missing");
    let request = input_value(&html, "request").expect("request id");
    assert!(unescaped(&html).contains(&format!("href=\"/federation/github/start?request={request}\"")));
    request
}

/// Page text with the HTML escapes of URLs undone.
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/").replace("&#x2F;", "/").replace("&amp;", "&")
}

/// The JSON claims of a JWT (already verified by the server under test).
fn jwt_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&latchkey::crypto::b64url_decode(payload).expect("base64url")).expect("JSON claims")
}

/// Follows a finished sign-in to the app's code and redeems it.
async fn tokens_after(
    b: &reqwest::Client, server: &TestServer, stop: Stop, client: (&str, &str), verifier: &str,
) -> serde_json::Value {
    let left = match stop {
        Stop::Page { url, body, .. } if url.contains("/consent") => {
            consent(b, &server.base, &body, "allow").await.left()
        }
        other => other.left(),
    };
    assert!(left.starts_with(REDIRECT), "{left}");
    let code = query_param(&left, "code").expect("code");
    let res = redeem(server, client.0, Some(client.1), &code, REDIRECT, Some(verifier)).await;
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn audit_events(server: &TestServer, user_id: Option<&str>) -> Vec<(String, String)> {
    server.state.store.list_audit(user_id, 100).await.unwrap().into_iter().map(|e| (e.event, e.outcome)).collect()
}

/// The local identity row of GitHub user `id`, if linked.
async fn linked_identity(server: &TestServer, id: u64) -> Option<latchkey::store::Identity> {
    server.state.store.find_identity("github", &id.to_string()).await.unwrap()
}

fn has_event(events: &[(String, String)], event: &str, outcome: &str) -> bool {
    events.iter().any(|(e, o)| e == event && o == outcome)
}

#[tokio::test]
async fn first_sign_in_creates_an_account_and_later_ones_return_to_it() {
    for backend in backends() {
        let (server, gh) = setup(backend, &[]).await;
        let (client_id, secret) = server.confidential(REDIRECT).await;
        let gh_id = 7_000_000 + rand_id();
        let login = unique("Octo-");
        let email = format!("{}@example.com", login.to_lowercase());
        gh.sign_in_as(github_user(gh_id, &login, &email));

        let b = browser();
        let (verifier, challenge) = pkce();
        let request = open_sign_in(&b, &server, &client_id, &challenge).await;
        let stop = via_github(&b, &server, &gh, Some(&request)).await;

        // Our client used PKCE and asked for the documented scopes.
        let authorize = gh.last_authorize().unwrap();
        assert_eq!(authorize["code_challenge_method"], "S256");
        assert_eq!(authorize["scope"], "read:user user:email");
        assert_eq!(
            authorize["redirect_uri"],
            server.url("/federation/github/callback"),
            "callback is {{issuer}}/federation/github/callback"
        );
        let exchange = gh.last_exchange().unwrap();
        assert!(exchange.contains_key("code_verifier"));
        assert!(gh.requests().iter().any(|r| r.starts_with("GET /user/emails")));

        let tokens = tokens_after(&b, &server, stop, (&client_id, &secret), &verifier).await;
        let id = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["amr"], serde_json::json!(["fed", "github"]), "{backend:?}");
        assert_eq!(id["preferred_username"], login.to_lowercase());
        assert_eq!(id["email"], email, "the private primary email from /user/emails");
        assert_eq!(id["email_verified"], true);
        assert_eq!(id["name"], github_user(gh_id, &login, &email).name.unwrap());
        assert_eq!(id["picture"], format!("https://avatars.githubusercontent.com/u/{gh_id}?v=4"));
        let sub = id["sub"].as_str().unwrap().to_string();
        assert_ne!(sub, gh_id.to_string(), "sub is ours, not GitHub's id");

        let info = json(
            http()
                .get(server.url("/userinfo"))
                .bearer_auth(tokens["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(info["sub"], sub.as_str());
        assert_eq!(info["picture"], id["picture"]);
        assert!(has_event(&audit_events(&server, Some(&sub)).await, "federation.account_created", "success"));

        // GitHub lets people rename; the identity is the numeric id.
        gh.rename(gh_id, &unique("renamed-"));
        let b2 = browser();
        let (verifier, challenge) = pkce();
        let request = open_sign_in(&b2, &server, &client_id, &challenge).await;
        let stop = via_github(&b2, &server, &gh, Some(&request)).await;
        // Consent is remembered, so the app gets its code straight away.
        assert!(matches!(stop, Stop::Left(_)), "consent should be remembered");
        let tokens = tokens_after(&b2, &server, stop, (&client_id, &secret), &verifier).await;
        let again = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(again["sub"], sub.as_str(), "{backend:?}: same account after a rename");
        assert_eq!(again["preferred_username"], login.to_lowercase(), "local username kept");
    }
}

fn rand_id() -> u64 {
    let bytes = latchkey::crypto::random_bytes(4);
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as u64
}

#[tokio::test]
async fn an_existing_email_is_linked_only_after_the_password_proves_ownership() {
    for backend in backends() {
        let (server, gh) = setup(backend, &[]).await;
        let (client_id, secret) = server.confidential(REDIRECT).await;
        let username = unique("ada");
        let sub = server.user(&username, PASSWORD).await;
        let gh_id = 8_000_000 + rand_id();
        // Same address, different case: still the same email.
        let email = format!("{}@EXAMPLE.com", username.to_uppercase());
        gh.sign_in_as(github_user(gh_id, &unique("gh-ada-"), &email));
        let accounts_before = server.state.store.list_users().await.unwrap().len();

        let b = browser();
        let (verifier, challenge) = pkce();
        let request = open_sign_in(&b, &server, &client_id, &challenge).await;
        let (url, html) = via_github(&b, &server, &gh, Some(&request)).await.page();
        assert!(url.contains("/federation/github/callback"), "{url}");
        assert!(html.contains("Link your GitHub account"), "{html}");
        assert!(html.contains(&format!("@{username}")));
        assert_eq!(server.state.store.list_users().await.unwrap().len(), accounts_before, "no account created");
        assert!(linked_identity(&server, gh_id).await.is_none(), "not linked before the proof");

        let csrf = input_value(&html, "csrf").unwrap();
        let proof = input_value(&html, "proof").unwrap();
        let fields =
            |pw: &'static str| vec![("csrf", csrf.clone()), ("proof", proof.clone()), ("password", pw.to_string())];
        let wrong =
            b.post(server.url("/federation/github/confirm")).form(&fields("not-the-password")).send().await.unwrap();
        assert_eq!(wrong.status(), 200);
        assert!(wrong.text().await.unwrap().contains("That password is not correct."));
        assert!(linked_identity(&server, gh_id).await.is_none());

        // Another browser cannot use this proof form, even with the password
        // and its own valid CSRF token.
        let other = browser();
        let (_, other_login) = follow(&other, &server.base, &server.url("/login")).await.page();
        let other_csrf = input_value(&other_login, "csrf").unwrap();
        let stolen = other
            .post(server.url("/federation/github/confirm"))
            .form(&[("csrf", other_csrf.as_str()), ("proof", proof.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(stolen.status(), 400);
        assert!(linked_identity(&server, gh_id).await.is_none());

        let res = b.post(server.url("/federation/github/confirm")).form(&fields(PASSWORD)).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let stop = follow(&b, &server.base, &server.url(&location(&res))).await;
        let tokens = tokens_after(&b, &server, stop, (&client_id, &secret), &verifier).await;
        let id = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["sub"], sub.as_str(), "{backend:?}: the existing account");
        assert_eq!(id["amr"], serde_json::json!(["pwd", "fed", "github"]));
        let linked = linked_identity(&server, gh_id).await.expect("linked");
        assert_eq!(linked.user_id, sub);
        let events = audit_events(&server, Some(&sub)).await;
        assert!(has_event(&events, "federation.link_proof", "failure"));
        assert!(has_event(&events, "federation.link", "success"));

        // From now on GitHub signs straight in to that account.
        let b2 = browser();
        let (verifier, challenge) = pkce();
        let request = open_sign_in(&b2, &server, &client_id, &challenge).await;
        let stop = via_github(&b2, &server, &gh, Some(&request)).await;
        let tokens = tokens_after(&b2, &server, stop, (&client_id, &secret), &verifier).await;
        assert_eq!(jwt_claims(tokens["id_token"].as_str().unwrap())["sub"], sub.as_str());
    }
}

#[tokio::test]
async fn an_unverified_github_email_neither_links_nor_reveals_the_account() {
    for backend in backends() {
        let (server, gh) = setup(backend, &[]).await;
        let username = unique("eve");
        server.user(&username, PASSWORD).await;
        let gh_id = 9_000_000 + rand_id();
        let mut person = github_user(gh_id, &unique("gh-eve-"), &format!("{username}@example.com"));
        person.emails = vec![GithubEmail { email: format!("{username}@example.com"), primary: true, verified: false }];
        gh.sign_in_as(person);
        let b = browser();
        let (url, html) = via_github(&b, &server, &gh, None).await.page();
        assert!(url.ends_with("/account"), "{url}");
        assert!(!html.contains("Link your GitHub account"));
        let identity = linked_identity(&server, gh_id).await.expect("a new account was linked");
        let user = server.state.store.get_user(&identity.user_id).await.unwrap().unwrap();
        assert_ne!(user.username, username, "a separate account");
        assert_eq!(user.email, format!("{gh_id}+{}@users.noreply.github.com", identity.login.to_lowercase()));
        assert!(!user.email_verified);
    }
}

/// Signs a password account in through the sign-in form, without an app.
async fn password_sign_in(b: &reqwest::Client, server: &TestServer, username: &str) -> String {
    let (_, html) = follow(b, &server.base, &server.url("/login")).await.page();
    let (url, html) = sign_in(b, &server.base, &html, username, PASSWORD).await.page();
    assert!(url.ends_with("/account"), "{url}");
    html
}

#[tokio::test]
async fn link_and_unlink_from_the_account_page_keeping_one_way_in() {
    for backend in backends() {
        let (server, gh) = setup(backend, &[]).await;
        let username = unique("bob");
        let sub = server.user(&username, PASSWORD).await;
        let gh_login = unique("bob-gh-");
        let gh_id = 10_000_000 + rand_id();
        gh.sign_in_as(github_user(gh_id, &gh_login, &(unique("bob-elsewhere-") + "@example.org")));

        let b = browser();
        let html = password_sign_in(&b, &server, &username).await;
        assert!(html.contains("Link GitHub"), "link button on the account page");
        let csrf = input_value(&html, "csrf").unwrap();
        let res = b.post(server.url("/account/github/link")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        let back = github_approves(&b, &server, &gh, res).await;
        let (url, html) = follow(&b, &server.base, &back).await.page();
        assert!(url.contains("/account?done=github-linked"), "{url}");
        assert!(html.contains("GitHub is now linked"));
        assert!(html.contains(&format!("@{gh_login}")));

        // GitHub now signs in to this account, in another browser.
        let b2 = browser();
        let (url, html) = via_github(&b2, &server, &gh, None).await.page();
        assert!(url.ends_with("/account"), "{url}");
        assert!(html.contains(&format!("@{username}")));

        // Unlink: the account has a password, so it may.
        let csrf = input_value(&html, "csrf").unwrap();
        let (url, html) = submit(&b2, &server.base, "/account/github/unlink", &[("csrf", &csrf)]).await.page();
        assert!(url.contains("done=github-unlinked"), "{url}");
        assert!(html.contains("no longer linked"));
        assert!(server.state.store.user_identities(&sub).await.unwrap().is_empty());
        let events = audit_events(&server, Some(&sub)).await;
        assert!(has_event(&events, "federation.link", "success"));
        assert!(has_event(&events, "federation.unlink", "success"));

        // An account made from GitHub has no password: GitHub is its only
        // way in and cannot be unlinked.
        let only_id = 11_000_000 + rand_id();
        gh.sign_in_as(github_user(only_id, &unique("only-"), &(unique("only-") + "@example.net")));
        let b3 = browser();
        let (url, html) = via_github(&b3, &server, &gh, None).await.page();
        assert!(url.ends_with("/account"), "{url}");
        assert!(html.contains("It is your only way to sign in"));
        assert!(!html.contains("Unlink GitHub"));
        let csrf = input_value(&html, "csrf").unwrap();
        let (url, html) = submit(&b3, &server.base, "/account/github/unlink", &[("csrf", &csrf)]).await.page();
        assert!(url.contains("done=github-last-method"), "{url}");
        assert!(html.contains("cannot be unlinked"));
        let only = linked_identity(&server, only_id).await.expect("still linked");
        let only_events = audit_events(&server, Some(&only.user_id)).await;
        assert!(has_event(&only_events, "federation.unlink", "refused"));

        // Bob may not take over that GitHub identity: it is linked elsewhere.
        let html = password_sign_in(&b, &server, &username).await;
        let csrf = input_value(&html, "csrf").unwrap();
        let res = b.post(server.url("/account/github/link")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        let back = github_approves(&b, &server, &gh, res).await;
        let res = b.get(&back).send().await.unwrap();
        assert_eq!(res.status(), 409);
        assert!(res.text().await.unwrap().contains("already linked to a different account"));
        let still = linked_identity(&server, only_id).await.unwrap();
        assert_eq!(still.user_id, only.user_id, "{backend:?}");
        assert!(has_event(&audit_events(&server, Some(&sub)).await, "federation.link", "refused"));
        // A form without the right CSRF token starts nothing.
        let res = b.post(server.url("/account/github/link")).form(&[("csrf", "forged")]).send().await.unwrap();
        assert_eq!(res.status(), 403);
    }
}

#[tokio::test]
async fn sign_in_can_be_limited_to_organization_members() {
    for backend in backends() {
        let (server, gh) = setup(backend, &[("LATCHKEY_GITHUB_ALLOWED_ORGS", "acme-corp, other")]).await;
        let outsider = github_user(12_000_000 + rand_id(), &unique("out-"), &(unique("out-") + "@example.com"));
        gh.sign_in_as(outsider.clone());
        let b = browser();
        let back = to_callback(&b, &server, &gh, None).await;
        assert_eq!(gh.last_authorize().unwrap()["scope"], "read:user user:email read:org");
        let res = b.get(&back).send().await.unwrap();
        assert_eq!(res.status(), 403);
        let body = res.text().await.unwrap();
        assert!(body.contains("may not sign in here"), "{body}");
        assert!(linked_identity(&server, outsider.id).await.is_none(), "no account for an outsider");
        assert!(has_event(&audit_events(&server, None).await, "federation.link", "refused"));

        let mut member = github_user(13_000_000 + rand_id(), &unique("in-"), &(unique("in-") + "@example.com"));
        member.orgs = vec!["Acme-Corp".into()];
        gh.sign_in_as(member);
        let (url, _) = via_github(&browser(), &server, &gh, None).await.page();
        assert!(url.ends_with("/account"), "member signed in: {url}");
    }
}

#[tokio::test]
async fn upstream_failures_end_on_a_clear_page_with_a_way_back() {
    for backend in backends() {
        let (server, gh) = setup(backend, &[]).await;
        let (client_id, _) = server.confidential(REDIRECT).await;
        gh.sign_in_as(github_user(14_000_000 + rand_id(), &unique("f-"), &(unique("f-") + "@example.com")));
        let cases: Vec<(Mode, u16, &str)> = vec![
            (Mode::Deny, 200, "You chose not to continue with GitHub"),
            (Mode::BadVerificationCode, 502, "bad_verification_code"),
            (Mode::ExchangeStatus(503), 502, "GitHub sign-in failed"),
            (Mode::RateLimited, 503, "GitHub is limiting requests"),
            (Mode::Slow(std::time::Duration::from_secs(4)), 504, "GitHub took too long"),
        ];
        for (mode, status, words) in cases {
            gh.set_mode(mode.clone());
            let b = browser();
            let (_, challenge) = pkce();
            let request = open_sign_in(&b, &server, &client_id, &challenge).await;
            let back = to_callback(&b, &server, &gh, Some(&request)).await;
            if mode == Mode::Deny {
                assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
            }
            let res = b.get(&back).send().await.unwrap();
            assert_eq!(res.status().as_u16(), status, "{mode:?}");
            let body = unescaped(&res.text().await.unwrap());
            assert!(body.contains(words), "{mode:?}: {body}");
            assert!(
                body.contains(&format!("href=\"/login?request={request}\"")),
                "{mode:?}: a way back to the sign-in page"
            );
            // The app's request is still alive: the person can sign in another way.
            let (url, _) = follow(&b, &server.base, &server.url(&format!("/login?request={request}"))).await.page();
            assert!(url.contains(&request));
        }
        gh.set_mode(Mode::Normal);
    }
}

#[tokio::test]
async fn the_state_is_single_use_and_bound_to_the_browser_that_started() {
    for backend in backends() {
        let (server, gh) = setup(backend, &[]).await;
        gh.sign_in_as(github_user(15_000_000 + rand_id(), &unique("s-"), &(unique("s-") + "@example.com")));

        // A callback URL carried to another browser (login CSRF) is refused.
        let victim = browser();
        let _ = victim.get(server.url("/login")).send().await.unwrap();
        let attacker = browser();
        let back = to_callback(&attacker, &server, &gh, None).await;
        let res = victim.get(&back).send().await.unwrap();
        assert_eq!(res.status(), 400, "{backend:?}");
        assert!(res.text().await.unwrap().contains("This GitHub sign-in is not valid"));

        // The browser that started gets in, once.
        let b = browser();
        let back = to_callback(&b, &server, &gh, None).await;
        let (url, _) = follow(&b, &server.base, &back).await.page();
        assert!(url.ends_with("/account"), "{url}");
        let replay = b.get(&back).send().await.unwrap();
        assert_eq!(replay.status(), 400, "replayed state");

        // A state we never issued, or none at all.
        for query in ["?code=abc&state=made-up", "?code=abc", ""] {
            let res = b.get(server.url(&format!("/federation/github/callback{query}"))).send().await.unwrap();
            assert_eq!(res.status(), 400, "{query}");
        }
    }
}

#[tokio::test]
async fn without_github_configured_there_is_no_button_and_no_route() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (_, html) = follow(&browser(), &server.base, &server.url("/login")).await.page();
        assert!(!html.contains("Continue with GitHub"));
        let res = browser().get(server.url("/federation/github/start")).send().await.unwrap();
        assert_eq!(res.status(), 404);
    }
}

/// A downstream app, built on the `openidconnect` crate, signs a person in
/// through Latchkey, who signs in through GitHub (Enterprise Server layout:
/// the API under /api/v3). The app never sees GitHub.
#[tokio::test]
async fn a_relying_party_signs_in_through_github() {
    for backend in backends() {
        let gh_api = |gh: &FakeGithub| gh.url("/api/v3");
        let gh = FakeGithub::start().await;
        let api = gh_api(&gh);
        let server = TestServer::spawn_with(
            backend,
            &[
                ("LATCHKEY_GITHUB_CLIENT_ID", FakeGithub::CLIENT_ID),
                ("LATCHKEY_GITHUB_CLIENT_SECRET", FakeGithub::CLIENT_SECRET),
                ("LATCHKEY_GITHUB_WEB_URL", gh.base.as_str()),
                ("LATCHKEY_GITHUB_API_URL", api.as_str()),
            ],
        )
        .await;
        let (client_id, secret) = server.confidential(REDIRECT).await;
        let login = unique("Rp-");
        gh.sign_in_as(github_user(16_000_000 + rand_id(), &login, &(unique("rp-") + "@example.com")));

        let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http())
            .await
            .expect("discovery");
        let client =
            CoreClient::from_provider_metadata(meta, ClientId::new(client_id), Some(ClientSecret::new(secret)))
                .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf_state, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();

        let b = browser();
        let (_, login_html) = follow(&b, &server.base, auth_url.as_str()).await.page();
        let request = input_value(&login_html, "request").unwrap();
        let (url, consent_html) = via_github(&b, &server, &gh, Some(&request)).await.page();
        assert!(url.contains("/consent"), "{url}");
        let redirect = consent(&b, &server.base, &consent_html, "allow").await.left();
        assert_eq!(query_param(&redirect, "state").as_deref(), Some(csrf_state.secret().as_str()));
        assert!(gh.requests().iter().any(|r| r.starts_with("GET /api/v3/user")));

        let tokens = client
            .exchange_code(AuthorizationCode::new(query_param(&redirect, "code").unwrap()))
            .expect("token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&http())
            .await
            .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
        let id_token = tokens.id_token().expect("id_token");
        let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("ID token verifies");
        let amr: Vec<String> = claims.auth_method_refs().expect("amr").iter().map(|a| a.as_str().to_string()).collect();
        assert_eq!(amr, ["fed", "github"]);
        assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some(login.to_lowercase().as_str()));
        let info: CoreUserInfoClaims = client
            .user_info(tokens.access_token().to_owned(), None)
            .expect("userinfo endpoint")
            .request_async(&http())
            .await
            .expect("userinfo");
        assert_eq!(info.subject(), claims.subject());
        assert!(info.picture().is_some(), "picture from GitHub");
    }
}

/// GitHub is a first factor like a password: an account with TOTP still
/// needs its code, and then carries fed, github, otp and mfa.
#[tokio::test]
async fn github_sign_in_does_not_skip_two_step_verification() {
    for backend in backends() {
        use latchkey::accounts::totp;
        let (server, gh) = setup(backend, &[]).await;
        let gh_id = 17_000_000 + rand_id();
        gh.sign_in_as(github_user(gh_id, &unique("two-"), &(unique("two-") + "@example.com")));
        let (url, _) = via_github(&browser(), &server, &gh, None).await.page();
        assert!(url.ends_with("/account"));
        let user_id = linked_identity(&server, gh_id).await.unwrap().user_id;
        let secret = totp::generate_secret();
        let key = server.state.at_rest_key.expose().as_bytes().to_vec();
        let record = latchkey::store::TotpRecord {
            user_id: user_id.clone(),
            secret_sealed: totp::seal(&key, &user_id, &secret),
            last_step: None,
            enabled_at: server.state.now(),
        };
        server.state.store.enable_totp(&record, &[]).await.unwrap();

        let b = browser();
        let (url, step) = via_github(&b, &server, &gh, None).await.page();
        assert!(url.contains("/federation/github/callback"), "{url}");
        assert!(step.contains("Two-step verification"), "{step}");
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 303, "not signed in yet");
        let csrf = input_value(&step, "csrf").unwrap();
        let id = input_value(&step, "step").unwrap();
        let code = totp::code_at(&secret, server.state.now());
        let res = b
            .post(server.url("/login/mfa"))
            .form(&[("csrf", csrf.as_str()), ("step", id.as_str()), ("code", code.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(b.get(server.url("/account")).send().await.unwrap().status(), 200);
        let sessions = server.state.store.list_user_sessions(&user_id, server.state.now()).await.unwrap();
        assert!(sessions.iter().any(|s| s.amr == ["fed", "github", "otp", "mfa"]), "{sessions:?}");
    }
}
