//! The consent page tells people who is asking: the app's logo, owner,
//! links and the host it sends them back to, and an "unverified app" notice
//! on apps of ordinary users until an administrator checks them. Both
//! backends.

use serde_json::json;

use crate::helpers::*;
use crate::portal::{between, register, register_json, signed_in};

const CALLBACK: &str = "https://photos.example/callback";

/// The consent page `username` sees for `client_id` (signed in afresh).
async fn consent_page(server: &TestServer, client_id: &str, username: &str) -> Stop {
    let (_, challenge) = pkce();
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid profile")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let b = browser();
    let (_, login) = follow(&b, &server.base, url.as_str()).await.page();
    sign_in(&b, &server.base, &login, username, PASSWORD).await
}

async fn admin_sets(server: &TestServer, admin: &reqwest::Client, client_id: &str, set: &str) {
    let (_, page) = follow(admin, &server.base, &server.url("/admin")).await.page();
    let csrf = input_value(&page, "csrf").unwrap();
    let res = admin
        .post(server.url(&format!("/admin/clients/{client_id}/trust")))
        .form(&[("csrf", csrf.as_str()), ("set", set)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/admin?done=app-trust", "{set}");
}

#[tokio::test]
async fn consent_names_who_is_asking_and_warns_of_unchecked_apps() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (dev, dev_name, _) = signed_in(&server).await;
        let (status, page) = register(
            &server,
            &dev,
            &[
                ("name", "Latchkey Security"),
                ("app_type", "web"),
                ("redirect_uris", CALLBACK),
                ("homepage", "https://photos.example/"),
                ("logo_url", "https://photos.example/logo.png"),
                ("policy_uri", "https://photos.example/privacy"),
                ("tos_uri", "https://photos.example/terms"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {page}");
        let app = between(&page, "<code id=\"client-id\">", "</code>").unwrap().to_string();
        let (status, page) =
            register(&server, &dev, &[("name", "X"), ("app_type", "web"), ("policy_uri", "http://photos.example/p")])
                .await;
        assert_eq!(status, 422);
        assert!(page.contains("privacy policy URL must be an https URL"), "{page}");

        let person = unique("person");
        server.user(&person, PASSWORD).await;
        let (url, consent) = consent_page(&server, &app, &person).await.page();
        assert!(url.contains("/consent"), "{backend:?}: {url}");
        let shown = html_unescape(&consent);
        assert!(shown.contains("id=\"unverified-app\""), "{backend:?}: the notice");
        assert!(shown.contains(&format!("registered by @{dev_name}")), "{shown}");
        assert!(shown.contains("<strong id=\"redirect-host\">photos.example</strong>"), "{shown}");
        for link in ["https://photos.example/privacy", "https://photos.example/terms", "https://photos.example/"] {
            assert!(shown.contains(&format!("href=\"{link}\"")), "{link}");
        }
        assert!(shown.contains("<img class=\"app-logo\" src=\"https://photos.example/logo.png\""), "{shown}");

        // An administrator checks it: the notice goes.
        let (admin, _, admin_id) = signed_in(&server).await;
        server.state.store.set_user_role(&admin_id, latchkey::store::Role::Admin, server.state.now()).await.unwrap();
        let (_, admin_page) = follow(&admin, &server.base, &server.url("/admin")).await.page();
        assert!(admin_page.contains("<strong>unverified</strong>"), "{backend:?}");
        admin_sets(&server, &admin, &app, "verified").await;
        let (_, consent) = consent_page(&server, &app, &person).await.page();
        assert!(!consent.contains("unverified-app"), "{backend:?}: verified");

        // The developer renames it: an administrator must look again.
        let (_, form) = follow(&dev, &server.base, &server.url(&format!("/developer/apps/{app}/edit"))).await.page();
        let csrf = input_value(&form, "csrf").unwrap();
        let res = dev
            .post(server.url(&format!("/developer/apps/{app}")))
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", "Latchkey Account Security"),
                ("auth_method", "client_secret_basic"),
                ("redirect_uris", CALLBACK),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let (_, consent) = consent_page(&server, &app, &person).await.page();
        assert!(consent.contains("unverified-app"), "{backend:?}: renamed, unverified again");

        // First-party: no consent page at all.
        admin_sets(&server, &admin, &app, "first-party").await;
        match consent_page(&server, &app, &person).await {
            Stop::Left(to) => assert!(to.starts_with(CALLBACK) && to.contains("code="), "{to}"),
            Stop::Page { url, .. } => panic!("{backend:?}: a first-party app asked for consent at {url}"),
        }
        let events = server.state.store.list_audit(None, 100).await.unwrap();
        assert!(events.iter().any(|e| e.event == "client.update" && e.user_id.as_deref() == Some(admin_id.as_str())));

        // An operator's app carries no notice.
        let (operator_app, _) = server.confidential(CALLBACK).await;
        let (_, consent) = consent_page(&server, &operator_app, &person).await.page();
        assert!(!consent.contains("unverified-app"), "{backend:?}");
        assert!(consent.contains("<dd>this service's operators</dd>"), "{consent}");
    }
}

#[tokio::test]
async fn dynamic_registration_takes_policy_and_terms() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_REGISTRATION_OPEN", "true")]).await;
        let res = register_json(
            &server,
            None,
            json!({
                "redirect_uris": [CALLBACK],
                "client_name": "Photos",
                "policy_uri": "https://photos.example/privacy",
                "tos_uri": "https://photos.example/terms"
            }),
        )
        .await;
        assert_eq!(res.status(), 201, "{backend:?}");
        let doc = json(res).await;
        assert_eq!(doc["policy_uri"], "https://photos.example/privacy");
        assert_eq!(doc["tos_uri"], "https://photos.example/terms");
        let person = unique("person");
        server.user(&person, PASSWORD).await;
        let (_, consent) = consent_page(&server, doc["client_id"].as_str().unwrap(), &person).await.page();
        assert!(consent.contains("unverified-app") && consent.contains("It registered itself"), "{backend:?}");

        let res =
            register_json(&server, None, json!({"redirect_uris": [CALLBACK], "tos_uri": "javascript:alert(1)"})).await;
        assert_eq!(res.status(), 400);
        assert_eq!(json(res).await["error"], "invalid_client_metadata");

        // Error pages that cannot send the person back to an app still
        // offer a way forward.
        for path in
            ["/authorize?client_id=nobody&response_type=code", "/logout?post_logout_redirect_uri=https://evil.example/"]
        {
            let res = browser().get(server.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 400, "{path}");
            let page = html_unescape(&res.text().await.unwrap());
            assert!(page.contains("href=\"/account\">Go to your account</a>"), "{backend:?}: {path}: {page}");
        }
    }
}
