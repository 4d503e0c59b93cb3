//! Developers register apps in the portal; admins manage people and apps,
//! through pages and the JSON API.

use crate::helpers::*;

const REDIRECT: &str = "https://app.example/callback";

/// Text between `start` and the next `end`.
pub(crate) fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let to = html[from..].find(end)? + from;
    Some(&html[from..to])
}

/// A signed-in browser for a new account.
pub(crate) async fn signed_in(server: &TestServer) -> (reqwest::Client, String, String) {
    let username = unique("dev");
    let sub = server.user(&username, PASSWORD).await;
    let b = browser();
    let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
    let (url, _) = sign_in(&b, &server.base, &login, &username, PASSWORD).await.page();
    assert!(url.ends_with("/account"));
    (b, username, sub)
}

/// Registers an app through the portal form; returns the status and page.
pub(crate) async fn register(server: &TestServer, b: &reqwest::Client, fields: &[(&str, &str)]) -> (u16, String) {
    let (_, form) = follow(b, &server.base, &server.url("/developer/apps/new")).await.page();
    let csrf = input_value(&form, "csrf").unwrap();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    let res = b.post(server.url("/developer/apps")).form(&all).send().await.unwrap();
    if res.status() != 303 {
        return (res.status().as_u16(), res.text().await.unwrap());
    }
    // Post, then redirect to the app's page, which shows a secret once.
    let to = location(&res);
    assert!(to.contains("?done=created"), "{to}");
    let res = b.get(server.url(&to)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// What another signed-in person gets at `url`.
async fn stranger_sees(server: &TestServer, url: &str) -> String {
    let (b, _, _) = signed_in(server).await;
    b.get(url).send().await.unwrap().text().await.unwrap()
}

async fn introspect_status(server: &TestServer, id: &str, secret: &str) -> u16 {
    http()
        .post(server.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", "nothing")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_developer_registers_an_spa_and_a_relying_party_signs_in_through_it() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        // The developer signs up through the form.
        let b = browser();
        let username = unique("dev");
        let (_, signup) = follow(&b, &server.base, &server.url("/signup")).await.page();
        let csrf = input_value(&signup, "csrf").unwrap();
        let email = format!("{username}@example.com");
        let (url, _) = submit(
            &b,
            &server.base,
            "/signup",
            &[("csrf", &csrf), ("username", &username), ("email", &email), ("password", PASSWORD)],
        )
        .await
        .page();
        assert!(url.ends_with("/account"), "{url}");
        let (status, page) =
            register(&server, &b, &[("name", "Test SPA"), ("app_type", "spa"), ("redirect_uris", REDIRECT)]).await;
        assert_eq!(status, 200, "{backend:?}: {page}");
        let client_id = between(&page, "<code id=\"client-id\">", "</code>").unwrap().to_string();
        assert!(!page.contains("client-secret"), "an SPA has no secret");
        assert!(page.contains("code_challenge_method=S256"), "quick start with PKCE");
        let (_, list) = follow(&b, &server.base, &server.url("/developer/apps")).await.page();
        assert!(list.contains("Test SPA"));

        crate::flow::relying_party_signs_in(&server, &client_id, None, &username, false).await;

        // Bad metadata is refused with a clear message, nothing registered.
        let (status, page) =
            register(&server, &b, &[("name", "Bad"), ("app_type", "web"), ("redirect_uris", "http://app.example/cb")])
                .await;
        assert_eq!(status, 422);
        assert!(page.contains("must use https"), "{page}");
        let (status, page) =
            register(&server, &b, &[("name", "Bad"), ("app_type", "spa"), ("redirect_uris", "com.example.app:/cb")])
                .await;
        assert_eq!(status, 422);
        assert!(page.contains("custom schemes are for native apps only"));
    }
}

#[tokio::test]
async fn a_rotated_secret_overlaps_then_only_the_new_one_works() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_SECRET_ROTATION_OVERLAP", "3600")]).await;
        let (b, _, _) = signed_in(&server).await;
        let (_, page) =
            register(&server, &b, &[("name", "Web"), ("app_type", "web"), ("redirect_uris", "https://web.example/cb")])
                .await;
        let id = between(&page, "<code id=\"client-id\">", "</code>").unwrap().to_string();
        let first = between(&page, "<code id=\"client-secret\">", "</code>").unwrap().to_string();
        assert_eq!(introspect_status(&server, &id, &first).await, 200);
        // Rotating asks first, then posts and redirects to the page that
        // shows the new secret once: a reload shows nothing and rotates
        // nothing.
        let (_, confirm) =
            follow(&b, &server.base, &server.url(&format!("/developer/apps/{id}/rotate-secret"))).await.page();
        assert!(confirm.contains("Rotate the secret of Web?") && confirm.contains("1 hours"), "{confirm}");
        let csrf = input_value(&confirm, "csrf").unwrap();
        let res = b
            .post(server.url(&format!("/developer/apps/{id}/rotate-secret")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let shown_at = server.url(&location(&res));
        assert!(shown_at.contains("done=rotated&reveal="), "{shown_at}");
        let page = b.get(&shown_at).send().await.unwrap().text().await.unwrap();
        let second = between(&page, "<code id=\"client-secret\">", "</code>").unwrap().to_string();
        assert_ne!(first, second);
        assert!(page.contains("works until") && page.contains("download="), "{page}");
        let reloaded = b.get(&shown_at).send().await.unwrap().text().await.unwrap();
        assert!(!reloaded.contains(&second) && reloaded.contains("shown once"), "a reload shows nothing");
        let stolen = stranger_sees(&server, &shown_at).await;
        assert!(!stolen.contains(&second));
        assert_eq!(introspect_status(&server, &id, &first).await, 200, "the reload did not rotate again");
        assert_eq!(introspect_status(&server, &id, &first).await, 200, "old secret during the overlap");
        assert_eq!(introspect_status(&server, &id, &second).await, 200);
        server.clock.advance(3601);
        assert_eq!(introspect_status(&server, &id, &first).await, 401, "old secret after the overlap");
        assert_eq!(introspect_status(&server, &id, &second).await, 200);

        // Someone else can neither see nor delete it.
        let (stranger, _, _) = signed_in(&server).await;
        let res = stranger.get(server.url(&format!("/developer/apps/{id}"))).send().await.unwrap();
        assert_eq!(res.status(), 404);
        let (_, own) = follow(&stranger, &server.base, &server.url("/developer/apps")).await.page();
        let csrf = input_value(&own, "csrf").unwrap_or_default();
        let res = stranger
            .post(server.url(&format!("/developer/apps/{id}/delete")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error());
        assert!(server.state.store.get_client(&id.as_str().into()).await.unwrap().is_some());

        // The owner deletes it, after a confirmation naming what happens.
        let (_, page) = follow(&b, &server.base, &server.url(&format!("/developer/apps/{id}/delete"))).await.page();
        assert!(page.contains("Delete Web?") && page.contains("cannot be undone"), "{page}");
        let csrf = input_value(&page, "csrf").unwrap();
        let res = b
            .post(server.url(&format!("/developer/apps/{id}/delete")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert!(location(&res).ends_with("done=deleted"));
        assert!(server.state.store.get_client(&id.as_str().into()).await.unwrap().is_none());
        assert_eq!(introspect_status(&server, &id, &second).await, 401);
    }
}

/// Access and refresh tokens for `username` with `scope`, through the real flow.
async fn tokens_with_scope(server: &TestServer, client: (&str, &str), username: &str, scope: &str) -> (String, String) {
    let b = browser();
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client.0)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "s");
    let (_, login) = follow(&b, &server.base, url.as_str()).await.page();
    let left = match sign_in(&b, &server.base, &login, username, PASSWORD).await {
        Stop::Page { url, body, .. } if url.contains("/consent") => {
            consent(&b, &server.base, &body, "allow").await.left()
        }
        other => other.left(),
    };
    let code = query_param(&left, "code").unwrap();
    let body = json(redeem(server, client.0, Some(client.1), &code, REDIRECT, None).await).await;
    (body["access_token"].as_str().unwrap().to_string(), body["refresh_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn admins_manage_people_and_apps_and_no_one_else_can() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (console, console_secret) = server
            .client(latchkey::oauth::clients::ClientSpec {
                name: "Admin console".into(),
                redirect_uris: vec![REDIRECT.into()],
                scopes: vec!["openid".into(), "roles".into(), "admin".into()],
                ..Default::default()
            })
            .await;
        let console_secret = console_secret.unwrap();
        let admin_name = unique("boss");
        let admin_id = server.user(&admin_name, PASSWORD).await;
        server.state.store.set_user_role(&admin_id, latchkey::store::Role::Admin, server.state.now()).await.unwrap();
        let (plain_browser, plain_name, plain_id) = signed_in(&server).await;

        // A non-admin: 403 on every admin page and form, and no admin scope.
        assert_eq!(plain_browser.get(server.url("/admin")).send().await.unwrap().status(), 403);
        let (_, account) = follow(&plain_browser, &server.base, &server.url("/account")).await.page();
        assert!(!account.contains("href=\"&#x2f;admin\"") && !account.contains("href=\"/admin\""));
        let csrf = input_value(&account, "csrf").unwrap();
        for path in [format!("/admin/users/{admin_id}/disable"), format!("/admin/clients/{console}/delete")] {
            let res = plain_browser.post(server.url(&path)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
            assert_eq!(res.status(), 403, "{backend:?} {path}");
        }
        let (plain_token, plain_refresh) =
            tokens_with_scope(&server, (&console, &console_secret), &plain_name, "openid admin").await;
        let info = json(http().get(server.url("/userinfo")).bearer_auth(&plain_token).send().await.unwrap()).await;
        assert_eq!(info["sub"], plain_id.as_str());
        for (method, path) in [
            ("GET", "/admin/api/users".to_string()),
            ("GET", "/admin/api/clients".to_string()),
            ("POST", format!("/admin/api/users/{admin_id}/disable")),
            ("DELETE", format!("/admin/api/clients/{console}")),
        ] {
            let req = match method {
                "GET" => http().get(server.url(&path)),
                "POST" => http().post(server.url(&path)),
                _ => http().delete(server.url(&path)),
            };
            let res = req.bearer_auth(&plain_token).send().await.unwrap();
            assert_eq!(res.status(), 403, "{backend:?}: {method} {path}");
            let res = match method {
                "GET" => http().get(server.url(&path)),
                "POST" => http().post(server.url(&path)),
                _ => http().delete(server.url(&path)),
            }
            .send()
            .await
            .unwrap();
            assert_eq!(res.status(), 401, "no token");
        }

        // The admin's token carries the scope and the roles claim.
        let (admin_token, _) =
            tokens_with_scope(&server, (&console, &console_secret), &admin_name, "openid roles admin").await;
        let info = json(http().get(server.url("/userinfo")).bearer_auth(&admin_token).send().await.unwrap()).await;
        assert_eq!(info["roles"], serde_json::json!(["admin"]), "{backend:?}");
        let users =
            json(http().get(server.url("/admin/api/users")).bearer_auth(&admin_token).send().await.unwrap()).await;
        assert!(users["users"].as_array().unwrap().iter().any(|u| u["id"] == plain_id.as_str()));

        // Disabling a person ends their access at once.
        assert_eq!(http().get(server.url("/userinfo")).bearer_auth(&plain_token).send().await.unwrap().status(), 200);
        let res = http()
            .post(server.url(&format!("/admin/api/users/{plain_id}/disable")))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{backend:?}");
        assert_eq!(
            http().get(server.url("/userinfo")).bearer_auth(&plain_token).send().await.unwrap().status(),
            401,
            "a disabled account's live access token is refused"
        );
        assert_eq!(plain_browser.get(server.url("/account")).send().await.unwrap().status(), 303);
        let refreshed = http()
            .post(server.url("/token"))
            .basic_auth(&console, Some(&console_secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", plain_refresh.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(json(refreshed).await["error"], "invalid_grant", "{backend:?}: refresh token dead");
        assert_eq!(
            sign_in_status(&server, &plain_name).await,
            403,
            "and it cannot sign in: told it is disabled, once the password is right"
        );

        // The admin pages: enable again, delete an app.
        let admin_browser = browser();
        let (_, login) = follow(&admin_browser, &server.base, &server.url("/login")).await.page();
        let _ = sign_in(&admin_browser, &server.base, &login, &admin_name, PASSWORD).await;
        let (_, page) = follow(&admin_browser, &server.base, &server.url("/admin")).await.page();
        assert!(page.contains(&format!("@{plain_name}")) && page.contains("disabled"));
        let csrf = input_value(&page, "csrf").unwrap();
        let res = admin_browser
            .post(server.url(&format!("/admin/users/{plain_id}/enable")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert!(location(&res).ends_with("done=enabled"));
        assert_eq!(sign_in_status(&server, &plain_name).await, 303, "enabled again");
        // No administrator disables their own account, by page or API; an
        // unknown account is not found.
        let res = admin_browser
            .post(server.url(&format!("/admin/users/{admin_id}/disable")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{backend:?}");
        assert!(res.text().await.unwrap().contains("You cannot disable your own account."));
        let own = http().post(server.url(&format!("/admin/api/users/{admin_id}/disable"))).bearer_auth(&admin_token);
        let res = own.send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(json(res).await["error"], "invalid_request");
        let unknown = http().post(server.url("/admin/api/users/no-such-user/disable")).bearer_auth(&admin_token);
        assert_eq!(unknown.send().await.unwrap().status(), 404);
        assert!(!server.state.store.get_user(&admin_id).await.unwrap().unwrap().disabled);
        let res = http()
            .delete(server.url(&format!("/admin/api/clients/{console}")))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        assert!(server.state.store.get_client(&console.as_str().into()).await.unwrap().is_none());
        let events: Vec<String> =
            server.state.store.list_audit(Some(&admin_id), 50).await.unwrap().into_iter().map(|e| e.event).collect();
        for expected in ["admin.user_disable", "admin.user_enable", "admin.client_delete"] {
            assert!(events.iter().any(|e| e == expected), "{backend:?}: {expected} in {events:?}");
        }
    }
}

async fn sign_in_status(server: &TestServer, username: &str) -> u16 {
    let b = browser();
    let (_, login) = follow(&b, &server.base, &server.url("/login")).await.page();
    let csrf = input_value(&login, "csrf").unwrap();
    b.post(server.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("username", username), ("password", PASSWORD)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) async fn register_json(
    server: &TestServer, token: Option<&str>, body: serde_json::Value,
) -> reqwest::Response {
    let mut req = http().post(server.url("/register")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn dynamic_registration_and_its_management() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_REGISTRATION_OPEN", "true")]).await;
        let discovery = json(http().get(server.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
        assert_eq!(discovery["registration_endpoint"], server.url("/register"));

        let res = register_json(
            &server,
            None,
            serde_json::json!({
                "client_name": "Registered App",
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "client_secret_basic",
                "client_uri": "https://app.example",
                "contacts": ["ops@app.example"]
            }),
        )
        .await;
        assert_eq!(res.status(), 201, "{backend:?}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let doc = json(res).await;
        let id = doc["client_id"].as_str().unwrap().to_string();
        let secret = doc["client_secret"].as_str().expect("a secret").to_string();
        let rat = doc["registration_access_token"].as_str().unwrap().to_string();
        assert_eq!(doc["registration_client_uri"], server.url(&format!("/register/{id}")));
        assert_eq!(doc["client_secret_expires_at"], 0);
        assert_eq!(doc["client_uri"], "https://app.example");
        assert_eq!(introspect_status(&server, &id, &secret).await, 200, "the client authenticates");

        // Each invalid case gets its RFC 7591 code.
        for (body, code) in [
            (serde_json::json!({"client_name": "x"}), "invalid_redirect_uri"),
            (serde_json::json!({"redirect_uris": ["http://app.example/cb"]}), "invalid_redirect_uri"),
            (serde_json::json!({"redirect_uris": ["https://app.example/cb#f"]}), "invalid_redirect_uri"),
            (serde_json::json!({"redirect_uris": ["com.example.app:/cb"]}), "invalid_redirect_uri"),
            (serde_json::json!({"redirect_uris": [REDIRECT], "grant_types": ["implicit"]}), "invalid_client_metadata"),
            (
                serde_json::json!({"redirect_uris": [REDIRECT], "response_types": ["id_token"]}),
                "invalid_client_metadata",
            ),
            (
                serde_json::json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
                "invalid_client_metadata",
            ),
            (serde_json::json!({"redirect_uris": [REDIRECT], "scope": "openid admin"}), "invalid_client_metadata"),
            (serde_json::json!({"redirect_uris": "not a list"}), "invalid_client_metadata"),
        ] {
            let res = register_json(&server, None, body.clone()).await;
            assert_eq!(res.status(), 400, "{body}");
            assert_eq!(json(res).await["error"], code, "{body}");
        }

        // RFC 7592: read, update, delete with the registration access token.
        let uri = server.url(&format!("/register/{id}"));
        assert_eq!(http().get(&uri).send().await.unwrap().status(), 401);
        assert_eq!(http().get(&uri).bearer_auth("wrong").send().await.unwrap().status(), 401);
        let read = json(http().get(&uri).bearer_auth(&rat).send().await.unwrap()).await;
        assert_eq!(read["client_name"], "Registered App");
        assert!(read.get("client_secret").is_none(), "secrets are kept as hashes only");
        let updated = http()
            .put(&uri)
            .bearer_auth(&rat)
            .json(&serde_json::json!({
                "client_id": id, "client_name": "Renamed", "redirect_uris": [REDIRECT, "https://app.example/other"]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(updated.status(), 200, "{backend:?}");
        let updated = json(updated).await;
        assert_eq!(updated["client_name"], "Renamed");
        assert_eq!(updated["redirect_uris"].as_array().unwrap().len(), 2);
        let bad = http()
            .put(&uri)
            .bearer_auth(&rat)
            .json(&serde_json::json!({"client_id": id, "redirect_uris": ["http://evil.example/cb"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(json(bad).await["error"], "invalid_redirect_uri");
        assert_eq!(introspect_status(&server, &id, &secret).await, 200, "the secret survives updates");
        assert_eq!(http().delete(&uri).bearer_auth(&rat).send().await.unwrap().status(), 204);
        assert_eq!(http().get(&uri).bearer_auth(&rat).send().await.unwrap().status(), 401);
        assert_eq!(introspect_status(&server, &id, &secret).await, 401);
    }
}

#[tokio::test]
async fn closed_registration_needs_a_single_use_initial_access_token() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let body = serde_json::json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
        assert_eq!(register_json(&server, None, body.clone()).await.status(), 401, "closed by default");
        assert_eq!(register_json(&server, Some("made-up"), body.clone()).await.status(), 401);
        // Minted as the CLI does.
        let token = latchkey::crypto::random_token(32);
        let now = server.state.now();
        server
            .state
            .store
            .insert_initial_access_token(&latchkey::crypto::token_hash(&token), now, now + 600)
            .await
            .unwrap();
        let res = register_json(&server, Some(&token), body.clone()).await;
        assert_eq!(res.status(), 201);
        let doc = json(res).await;
        assert!(doc.get("client_secret").is_none(), "a public client has no secret");
        assert_eq!(doc["token_endpoint_auth_method"], "none");
        assert_eq!(register_json(&server, Some(&token), body).await.status(), 401, "single use");
    }
}

/// Every path in docs/admin-api.yaml exists and wants a token.
#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/admin-api.yaml")).unwrap();
        let mut current = None;
        let mut checked = 0;
        for line in doc.lines() {
            if let Some(path) = line.strip_prefix("  /admin/api") {
                current = Some(format!("/admin/api{}", path.trim_end_matches(':')));
                continue;
            }
            let method = line.trim().trim_end_matches(':');
            if !line.starts_with("    ")
                || line.starts_with("     ")
                || !["get", "post", "put", "delete"].contains(&method)
            {
                continue;
            }
            let path = current.as_deref().unwrap().replace("{id}", "someone").replace("{action}", "disable");
            let req = match method {
                "get" => http().get(server.url(&path)),
                "post" => http().post(server.url(&path)),
                "put" => http().put(server.url(&path)),
                _ => http().delete(server.url(&path)),
            };
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path}");
            checked += 1;
        }
        assert_eq!(checked, 4, "every documented operation was tried");
    }
}

#[tokio::test]
async fn changing_the_email_needs_the_new_address_confirmed_and_tells_the_old_one() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (b, username, sub) = signed_in(&server).await;
        let other = unique("taken");
        server.user(&other, PASSWORD).await;
        let (_, account) = follow(&b, &server.base, &server.url("/account")).await.page();
        let csrf = input_value(&account, "csrf").unwrap();
        let save = |email: String| {
            b.post(server.url("/account/profile"))
                .form(&[("csrf", csrf.clone()), ("name", "Grace H".into()), ("email", email)])
                .send()
        };
        let res = save(format!("{other}@example.com")).await.unwrap();
        assert!(location(&res).ends_with("done=email-taken"), "{backend:?}");
        let new_email = format!("{username}@new.example");
        let res = save(new_email.clone()).await.unwrap();
        assert!(location(&res).ends_with("done=email-changed"));
        let user = server.state.store.get_user(&sub).await.unwrap().unwrap();
        assert_eq!(
            (user.email.as_str(), user.email_verified, user.name.as_deref()),
            (new_email.as_str(), false, Some("Grace H"))
        );

        let mut outbox = Vec::new();
        for _ in 0..50 {
            outbox = server.outbox();
            if outbox.len() >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            outbox
                .iter()
                .any(|m| m.contains(&format!("To: {username}@example.com")) && m.contains("email address changed")),
            "{backend:?}: the old address is told"
        );
        let verify =
            outbox.iter().find(|m| m.contains(&format!("To: {new_email}"))).expect("a link to the new address");
        let link = link_in_email(verify, &server.base).unwrap();
        assert_eq!(b.get(&link).send().await.unwrap().status(), 200);
        assert!(server.state.store.get_user(&sub).await.unwrap().unwrap().email_verified);
    }
}

/// An app with a secret says how it sends it (RFC 7591
/// `token_endpoint_auth_method`); the token endpoint accepts that way only,
/// and the developer can change it.
#[tokio::test]
async fn the_portal_sets_how_an_app_authenticates() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (b, _, _) = signed_in(&server).await;
        let (status, page) = register(
            &server,
            &b,
            &[("name", "Billing"), ("app_type", "machine"), ("auth_method", "client_secret_post")],
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("(client_secret_post)"), "the app page says how");
        let id = between(&page, "<code id=\"client-id\">", "</code>").unwrap().to_string();
        let secret = between(&page, "<code id=\"client-secret\">", "</code>").unwrap().to_string();
        let by_post = || {
            http()
                .post(server.url("/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", id.as_str()),
                    ("client_secret", secret.as_str()),
                ])
                .send()
        };
        let by_basic = || {
            http()
                .post(server.url("/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
        };
        assert_eq!(by_post().await.unwrap().status(), 200, "{backend:?}");
        assert_eq!(by_basic().await.unwrap().status(), 401, "{backend:?}");
        // Switched to Basic on the edit form.
        let (_, form) = follow(&b, &server.base, &server.url(&format!("/developer/apps/{id}/edit"))).await.page();
        assert!(form.contains("name=\"auth_method\""));
        let csrf = input_value(&form, "csrf").unwrap();
        let res = b
            .post(server.url(&format!("/developer/apps/{id}")))
            .form(&[("csrf", csrf.as_str()), ("name", "Billing"), ("auth_method", "client_secret_basic")])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), format!("/developer/apps/{id}?done=saved"));
        let (_, page) = follow(&b, &server.base, &server.url(&location(&res))).await.page();
        assert!(page.contains("(client_secret_basic)") && page.contains("Saved."));
        assert_eq!(by_basic().await.unwrap().status(), 200, "{backend:?}");
        assert_eq!(by_post().await.unwrap().status(), 401, "{backend:?}");
        // An SPA has no secret and no choice.
        let (status, page) = register(
            &server,
            &b,
            &[("name", "SPA"), ("app_type", "spa"), ("redirect_uris", REDIRECT), ("auth_method", "client_secret_post")],
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Public: no secret"));
    }
}

/// A developer pastes the app's public keys and turns on PAR and DPoP; the
/// app then authenticates with its key and holds bound tokens.
#[tokio::test]
async fn the_portal_takes_public_keys_and_security_switches() {
    use crate::jose_client::{ClientKey, with_private_member};
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (b, _, _) = signed_in(&server).await;
        let key = ClientKey::generate("ES256");
        let jwks = key.jwks().to_string();
        // A private key is refused, with the reason on the form.
        let private = serde_json::json!({ "keys": [with_private_member(&key.public)] }).to_string();
        let (status, page) = register(
            &server,
            &b,
            &[("name", "Ledger"), ("app_type", "machine"), ("auth_method", "private_key_jwt"), ("jwks", &private)],
        )
        .await;
        assert_eq!(status, 422, "{backend:?}");
        assert!(page.contains("private member"), "{page}");
        let (status, page) = register(
            &server,
            &b,
            &[
                ("name", "Ledger"),
                ("app_type", "machine"),
                ("auth_method", "private_key_jwt"),
                ("jwks", &jwks),
                ("require_par", "yes"),
                ("dpop", "yes"),
                ("auth_signing_alg", "ES256"),
                ("request_object_signing_alg", "ES256"),
                ("signed_requests", "yes"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{backend:?}: {page}");
        assert!(page.contains("signed request objects"), "{page}");
        assert!(page.contains("its own key (private_key_jwt)") && page.contains("a registered JWK set (1 key)"));
        assert!(page.contains("pushed authorization requests (PAR)") && page.contains("DPoP-bound tokens"));
        assert!(!page.contains("client-secret") && !page.contains("Rotate secret"), "no secret to show or rotate");
        let id = between(&page, "<code id=\"client-id\">", "</code>").unwrap().to_string();
        let stored = server.state.store.get_client(&id.as_str().into()).await.unwrap().unwrap();
        assert_eq!(stored.token_endpoint_auth_signing_alg.as_deref(), Some("ES256"));
        assert_eq!(stored.request_object_signing_alg.as_deref(), Some("ES256"));
        assert!(stored.require_signed_request_object);
        let now = server.state.now();
        let token_url = server.url("/token");
        let form = |assertion: String| {
            vec![
                ("grant_type".to_string(), "client_credentials".to_string()),
                ("client_assertion_type".into(), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()),
                ("client_assertion".into(), assertion),
            ]
        };
        let res = http().post(&token_url).form(&form(key.assertion(&id, &server.issuer, now))).send().await.unwrap();
        assert_eq!(json(res).await["error"], "invalid_dpop_proof", "{backend:?}: DPoP switched on");
        let res = http()
            .post(&token_url)
            .header("DPoP", key.proof("POST", &token_url, None, None, now))
            .form(&form(key.assertion(&id, &server.issuer, now)))
            .send()
            .await
            .unwrap();
        assert_eq!(json(res).await["token_type"], "DPoP", "{backend:?}");
        // The edit form shows the settings and turns on the FAPI profile.
        let (_, edit) = follow(&b, &server.base, &server.url(&format!("/developer/apps/{id}/edit"))).await.page();
        assert!(edit.contains("name=\"require_par\" value=\"yes\" checked"), "{edit}");
        let csrf = input_value(&edit, "csrf").unwrap();
        let res = b
            .post(server.url(&format!("/developer/apps/{id}")))
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", "Ledger"),
                ("auth_method", "private_key_jwt"),
                ("jwks", &jwks),
                ("fapi2", "yes"),
            ])
            .send()
            .await
            .unwrap();
        let (_, page) = follow(&b, &server.base, &server.url(&location(&res))).await.page();
        assert!(page.contains("the FAPI 2.0 profile") && page.contains("DPoP-bound tokens"), "{backend:?}: {page}");
        let stored = server.state.store.get_client(&id.as_str().into()).await.unwrap().unwrap();
        assert_eq!(stored.security_profile.as_deref(), Some("fapi2"));
        assert_eq!(stored.token_endpoint_auth_signing_alg, None, "the edit form sent no pin: cleared");
        assert!(stored.require_pushed_authorization_requests && stored.dpop_bound_access_tokens);
    }
}

/// Sign-in returns to the page asked for, and only to a path of ours.
#[tokio::test]
async fn sign_in_returns_to_the_page_asked_for() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let name = unique("returning");
        server.user(&name, PASSWORD).await;
        let b = browser();
        let (url, login) = follow(&b, &server.base, &server.url("/developer/apps?x=1")).await.page();
        assert!(url.contains("/login?next="), "{backend:?}: {url}");
        let (landed, page) = sign_in(&b, &server.base, &login, &name, PASSWORD).await.page();
        assert_eq!(landed, server.url("/developer/apps?x=1"), "{backend:?}");
        assert!(page.contains("Your apps") || page.contains("apps"), "{page}");

        for evil in ["//evil.example/x", "https://evil.example/x", "/\\evil.example"] {
            let b = browser();
            let next: String = url::form_urlencoded::byte_serialize(evil.as_bytes()).collect();
            let (_, login) = follow(&b, &server.base, &server.url(&format!("/login?next={next}"))).await.page();
            let (landed, _) = sign_in(&b, &server.base, &login, &name, PASSWORD).await.page();
            assert_eq!(landed, server.url("/account"), "{backend:?}: {evil}");
        }
    }
}
