//! The whole sign-in, with the `openidconnect` crate as the relying party.

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::helpers::*;

const REDIRECT: &str = "https://app.example/callback";

/// Runs the relying party's side for one sign-in. `signup` creates the
/// account through the sign-up form; otherwise the account exists.
pub(crate) async fn relying_party_signs_in(
    server: &TestServer, client_id: &str, secret: Option<&str>, username: &str, signup: bool,
) {
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http())
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(client_id.to_string()),
        secret.map(|s| ClientSecret::new(s.to_string())),
    )
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

    // The browser part: real forms, real cookies.
    let b = browser();
    let (login_url, login_html) = follow(&b, &server.base, auth_url.as_str()).await.page();
    assert!(login_url.contains("/login?request="), "{login_url}");
    assert!(login_html.contains("Test App") || login_html.contains("Test SPA"), "client name shown");
    let consent_stop = if signup {
        let signup_link = format!("{}/signup?request={}", server.base, input_value(&login_html, "request").unwrap());
        let (_, signup_html) = follow(&b, &server.base, &signup_link).await.page();
        let csrf = input_value(&signup_html, "csrf").unwrap();
        let request = input_value(&signup_html, "request").unwrap();
        let email = format!("{username}@example.com");
        submit(
            &b,
            &server.base,
            "/signup",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("username", username),
                ("email", &email),
                ("password", PASSWORD),
            ],
        )
        .await
    } else {
        sign_in(&b, &server.base, &login_html, username, PASSWORD).await
    };
    let (consent_url, consent_html) = consent_stop.page();
    assert!(consent_url.contains("/consent?request="), "{consent_url}");
    assert!(consent_html.contains("See your email address"));
    let redirect = consent(&b, &server.base, &consent_html, "allow").await.left();
    assert!(redirect.starts_with(REDIRECT));
    let audited = server.state.store.list_audit(None, 100).await.unwrap();
    assert!(
        audited
            .iter()
            .any(|e| e.event == "consent.grant" && e.outcome == "success" && e.client_id.as_deref() == Some(client_id)),
        "consent is audited"
    );
    assert_eq!(query_param(&redirect, "state").as_deref(), Some(csrf_state.secret().as_str()));
    assert_eq!(query_param(&redirect, "iss").as_deref(), Some(server.base.as_str()), "RFC 9207 iss");
    let code = query_param(&redirect, "code").expect("code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
    let id_token = tokens.id_token().expect("id_token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token.claims(&id_verifier, &nonce).expect("ID token verifies");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some(username));
    assert!(claims.auth_time().is_some());
    assert_ne!(claims.subject().as_str(), username, "sub is not the username");

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().to_owned(), None)
        .expect("userinfo endpoint")
        .request_async(&http())
        .await
        .unwrap_or_else(|e| panic!("userinfo failed: {e:?}"));
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some(format!("{username}@example.com").as_str()));
    assert_eq!(info.email_verified(), Some(false));

    // Consent is remembered: the same request again goes straight back.
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (again, _, _) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = follow(&b, &server.base, again.as_str()).await.left();
    assert!(query_param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn confidential_client_signs_in_a_new_person() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = server.confidential(REDIRECT).await;
        relying_party_signs_in(&server, &id, Some(&secret), &unique("ada"), true).await;
    }
}

#[tokio::test]
async fn public_client_signs_in_an_existing_person() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let id = server.public(REDIRECT).await;
        let username = unique("grace");
        server.user(&username, PASSWORD).await;
        relying_party_signs_in(&server, &id, None, &username, false).await;
    }
}

#[tokio::test]
async fn code_minted_on_one_instance_redeems_on_another() {
    for backend in backends() {
        if backend == Backend::Embedded {
            // In-process state is per instance by design.
            continue;
        }
        let a = TestServer::spawn(backend).await;
        let b = a.sibling().await;
        let (id, secret) = a.confidential(REDIRECT).await;
        let username = unique("lin");
        a.user(&username, PASSWORD).await;
        let (verifier, challenge) = pkce();
        let code = get_code(&a, &browser(), &id, REDIRECT, Some(&challenge), &username).await;
        let res = redeem(&b, &id, Some(&secret), &code, REDIRECT, Some(&verifier)).await;
        assert_eq!(res.status(), 200);
        let body = json(res).await;
        // Both instances speak for one issuer with one key set: a token
        // issued by `b` is good at `a`.
        let info =
            http().get(a.url("/userinfo")).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(info.status(), 200);
        assert_eq!(json(info).await["preferred_username"], username.as_str());
    }
}
