//! Developers register APIs in the portal and give their machine apps the
//! scopes of their own APIs; admins allow exchanges; dynamic registration
//! names APIs too. On both backends.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::portal::{between, register, register_json, signed_in};

const PHOTOS: &str = "https://api.example/photos";
const PAYMENTS: &str = "https://api.example/payments";

/// Posts the API form (new, or the edit of `api_id`); the status and, for
/// a redirect, where to, otherwise the page.
async fn post_api(
    server: &TestServer, b: &reqwest::Client, api_id: Option<&str>, fields: &[(&str, &str)],
) -> (u16, String) {
    let form_path = api_id.map_or("/developer/apis/new".to_string(), |id| format!("/developer/apis/{id}/edit"));
    let (_, form) = follow(b, &server.base, &server.url(&form_path)).await.page();
    let csrf = input_value(&form, "csrf").expect("csrf on the form");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    let action = api_id.map_or("/developer/apis".to_string(), |id| format!("/developer/apis/{id}"));
    let res = b.post(server.url(&action)).form(&all).send().await.unwrap();
    let status = res.status().as_u16();
    if status == 303 { (status, location(&res)) } else { (status, html_unescape(&res.text().await.unwrap())) }
}

async fn get_page(server: &TestServer, b: &reqwest::Client, path: &str) -> (u16, String) {
    let res = b.get(server.url(path)).send().await.unwrap();
    (res.status().as_u16(), html_unescape(&res.text().await.unwrap()))
}

/// Client credentials for `resource`; the JSON answer.
async fn machine_token(server: &TestServer, id: &str, secret: &str, resource: &str, scope: &str) -> Value {
    let res = http()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("resource", resource), ("scope", scope)])
        .send()
        .await
        .unwrap();
    json(res).await
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Saves the edit form of app `id` with `fields` over what it shows.
async fn edit_app(server: &TestServer, b: &reqwest::Client, id: &str, fields: &[(&str, &str)]) -> u16 {
    let (_, form) = follow(b, &server.base, &server.url(&format!("/developer/apps/{id}/edit"))).await.page();
    let csrf = input_value(&form, "csrf").unwrap();
    let name = input_value(&form, "name").unwrap();
    let mut all = vec![("csrf", csrf.as_str()), ("name", name.as_str()), ("auth_method", "client_secret_basic")];
    all.extend_from_slice(fields);
    b.post(server.url(&format!("/developer/apps/{id}"))).form(&all).send().await.unwrap().status().as_u16()
}

/// The photos API's form fields, with `extra` after them.
fn photos<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("identifier", PHOTOS), ("name", "Photos"), ("scopes", "photos:read\nphotos:write")];
    f.extend_from_slice(extra);
    f
}

#[tokio::test]
async fn developers_register_apis_and_give_their_machine_apps_its_scopes() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (dev, _, _) = signed_in(&server).await;
        let (other, _, _) = signed_in(&server).await;

        // The API's own app, then the API with it.
        let (status, own) = register(&server, &dev, &[("name", "Photos backend"), ("app_type", "machine")]).await;
        assert_eq!(status, 200, "{backend:?}: {own}");
        let own_id = between(&own, "<code id=\"client-id\">", "</code>").unwrap().to_string();
        let own_secret = between(&own, "<code id=\"client-secret\">", "</code>").unwrap().to_string();
        let (_, spa) = register(
            &server,
            &dev,
            &[("name", "Viewer"), ("app_type", "spa"), ("redirect_uris", "https://v.example/cb")],
        )
        .await;
        let spa_id = between(&spa, "<code id=\"client-id\">", "</code>").unwrap().to_string();
        let (_, theirs) = register(&server, &other, &[("name", "Theirs"), ("app_type", "machine")]).await;
        let their_id = between(&theirs, "<code id=\"client-id\">", "</code>").unwrap().to_string();

        // Bad input: the form again with the reason, nothing registered.
        for (fields, why) in [
            (vec![("identifier", "photos"), ("name", "Photos"), ("scopes", "photos:read")], "not an absolute URI"),
            (vec![("identifier", "https://api.example/p#v1"), ("name", "P"), ("scopes", "p:r")], "has a fragment"),
            (photos(&[("token_ttl", "soon")]), "number of seconds"),
            (photos(&[("token_ttl", "100000")]), "token lifetime must be 30 to"),
            (photos(&[("token_alg", "HS256")]), "token algorithm must be one of"),
            (vec![("identifier", PHOTOS), ("name", "Photos"), ("scopes", "openid")], "cannot be an API scope"),
            (vec![("identifier", PHOTOS), ("name", ""), ("scopes", "photos:read")], "name must be 1 to 100"),
        ] {
            let (status, page) = post_api(&server, &dev, None, &fields).await;
            assert_eq!(status, 422, "{backend:?}: {fields:?}");
            assert!(page.contains(why) && page.contains("id=\"api-error\""), "{why}: {page}");
        }
        let (status, page) = post_api(&server, &dev, None, &photos(&[("client_id", &their_id)])).await;
        assert_eq!(status, 422);
        assert!(page.contains("choose one of your apps"), "another person's app cannot be the API's: {page}");
        let (status, page) = post_api(&server, &dev, None, &photos(&[("client_id", &spa_id)])).await;
        assert_eq!(status, 422);
        assert!(page.contains("public client"), "{page}");
        assert!(server.state.store.list_apis().await.unwrap().is_empty(), "{backend:?}: nothing registered");

        let (status, to) =
            post_api(&server, &dev, None, &photos(&[("token_ttl", "300"), ("client_id", &own_id)])).await;
        assert_eq!(status, 303, "{backend:?}: {to}");
        assert!(to.ends_with("?done=created"), "{to}");
        let api_path = to.trim_end_matches("?done=created").to_string();
        let api_id = api_path.rsplit('/').next().unwrap().to_string();
        let (_, shown) = get_page(&server, &dev, &to).await;
        assert!(shown.contains("The API is registered.") && shown.contains(PHOTOS), "{shown}");
        assert!(shown.contains("300 seconds") && shown.contains("Photos backend"), "{shown}");
        assert!(shown.contains(&format!("resource={PHOTOS}")), "a quick start with the resource parameter");
        let (status, page) = post_api(&server, &dev, None, &photos(&[])).await;
        assert_eq!(status, 422);
        assert!(page.contains("registered already"), "{page}");
        let (_, list) = get_page(&server, &dev, "/developer/apis").await;
        assert!(list.contains(PHOTOS), "{list}");
        let (_, their_list) = get_page(&server, &other, "/developer/apis").await;
        assert!(!their_list.contains(PHOTOS), "each person lists their own APIs");

        // Someone else's API does not exist for them.
        for path in [api_path.clone(), format!("{api_path}/edit"), format!("{api_path}/delete")] {
            assert_eq!(get_page(&server, &other, &path).await.0, 404, "{backend:?}: GET {path}");
        }
        let (_, other_form) = get_page(&server, &other, "/developer/apis/new").await;
        let other_csrf = input_value(&other_form, "csrf").unwrap();
        for path in [api_path.clone(), format!("{api_path}/delete")] {
            let res = other
                .post(server.url(&path))
                .form(&[("csrf", other_csrf.as_str()), ("name", "Mine now"), ("scopes", "x:y")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 404, "{backend:?}: POST {path}");
        }

        // A machine app of the developer's gets the API's scopes; another
        // developer's cannot claim them, nor name APIs that do not exist.
        let uploader =
            [("name", "Uploader"), ("app_type", "machine"), ("scopes", "photos:read"), ("allowed_resources", PHOTOS)];
        let (status, up) = register(&server, &dev, &uploader).await;
        assert_eq!(status, 200, "{backend:?}: {up}");
        assert!(up.contains("API scopes") && up.contains("photos:read"), "{up}");
        let up_id = between(&up, "<code id=\"client-id\">", "</code>").unwrap().to_string();
        let up_secret = between(&up, "<code id=\"client-secret\">", "</code>").unwrap().to_string();
        let (status, page_) = register(&server, &other, &uploader).await;
        assert_eq!(status, 422);
        assert!(page_.contains("belongs to an API you do not manage"), "{page_}");
        let (status, page_) =
            register(&server, &other, &[("name", "U"), ("app_type", "machine"), ("scopes", "nothing:here")]).await;
        assert_eq!(status, 422);
        assert!(page_.contains("not a scope of a registered API"), "{page_}");
        let (status, page_) = register(
            &server,
            &other,
            &[
                ("name", "U"),
                ("app_type", "spa"),
                ("redirect_uris", "https://u.example/cb"),
                ("allowed_resources", PAYMENTS),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(page_.contains("is not a registered API"), "{page_}");

        let answer = machine_token(&server, &up_id, &up_secret, PHOTOS, "photos:read").await;
        let token = answer["access_token"].as_str().unwrap_or_else(|| panic!("{backend:?}: {answer}"));
        let claims = claims_of(token);
        assert_eq!(claims["aud"], PHOTOS);
        assert_eq!(claims["scope"], "photos:read");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300, "the API's lifetime");
        assert_eq!(machine_token(&server, &up_id, &up_secret, PHOTOS, "photos:write").await["error"], "invalid_scope");
        // The API's own app learns the token is for it.
        let seen = json(
            http()
                .post(server.url("/introspect"))
                .basic_auth(&own_id, Some(&own_secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(seen["active"], true, "{backend:?}: {seen}");
        assert_eq!(seen["aud"], PHOTOS);
        // Limited to photos: payments, registered by an operator, is refused.
        let payments = latchkey::oauth::apis::build(
            latchkey::oauth::apis::ApiSpec {
                identifier: PAYMENTS.into(),
                name: "Payments".into(),
                scopes: vec!["payments:read".into()],
                ..Default::default()
            },
            &server.state.config,
            server.state.now(),
        )
        .unwrap();
        let cli = latchkey::audit::Actor::cli();
        latchkey::oauth::apis::create(&*server.state.store, &payments, cli, server.state.now()).await.unwrap();
        assert_eq!(machine_token(&server, &up_id, &up_secret, PAYMENTS, "").await["error"], "invalid_target");

        // What an app may exchange tokens for is an admin's to grant.
        let stored = |id: String| {
            let store = server.state.store.clone();
            async move { store.get_client(&id.as_str().into()).await.unwrap().unwrap() }
        };
        assert_eq!(edit_app(&server, &dev, &own_id, &[("exchange_targets", PAYMENTS)]).await, 303);
        assert!(stored(own_id.clone()).await.token_exchange_targets.is_empty(), "{backend:?}: a developer cannot");
        let (admin, _, admin_id) = signed_in(&server).await;
        server.state.store.set_user_role(&admin_id, latchkey::store::Role::Admin, server.state.now()).await.unwrap();
        assert_eq!(edit_app(&server, &admin, &own_id, &[("scopes", ""), ("exchange_targets", PAYMENTS)]).await, 303);
        let own = stored(own_id.clone()).await;
        assert_eq!(own.token_exchange_targets, [PAYMENTS]);
        assert!(own.grant_types.iter().any(|g| g == "urn:ietf:params:oauth:grant-type:token-exchange"));
        assert_eq!(edit_app(&server, &dev, &own_id, &[("allowed_resources", PHOTOS)]).await, 303);
        let own = stored(own_id.clone()).await;
        assert_eq!(own.token_exchange_targets, [PAYMENTS], "{backend:?}: kept when the developer edits");
        assert_eq!(own.allowed_resources, [PHOTOS]);

        // Editing keeps the identifier; the admin page lists the API.
        let (status, to) = post_api(
            &server,
            &dev,
            Some(&api_id),
            &[
                ("identifier", "https://elsewhere.example/"),
                ("name", "Photo library"),
                ("scopes", "photos:read photos:write photos:delete"),
                ("client_id", &own_id),
            ],
        )
        .await;
        assert_eq!(status, 303, "{backend:?}: {to}");
        let (_, shown) = get_page(&server, &dev, &to).await;
        assert!(shown.contains("Saved.") && shown.contains("Photo library") && shown.contains("photos:delete"));
        assert!(shown.contains(PHOTOS) && !shown.contains("elsewhere.example"), "{shown}");
        assert!(shown.contains("the server&#x27;s (900 seconds)") || shown.contains("the server's (900 seconds)"));
        let (_, admin_page) = get_page(&server, &admin, "/admin").await;
        assert!(admin_page.contains("Photo library") && admin_page.contains(PAYMENTS), "{admin_page}");

        // Deleting asks first, then the API is gone and so are its tokens.
        let (status, confirm) = get_page(&server, &dev, &format!("{api_path}/delete")).await;
        assert_eq!(status, 200);
        assert!(confirm.contains("Delete Photo library?") && confirm.contains("Delete API"), "{confirm}");
        let csrf = input_value(&confirm, "csrf").unwrap();
        let res = dev.post(server.url(&format!("{api_path}/delete"))).form(&[("csrf", csrf)]).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/developer/apis?done=deleted");
        let (_, list) = get_page(&server, &dev, "/developer/apis?done=deleted").await;
        assert!(list.contains("The API is deleted.") && !list.contains(PHOTOS), "{list}");
        assert_eq!(machine_token(&server, &up_id, &up_secret, PHOTOS, "").await["error"], "invalid_target");
        let events = server.state.store.list_audit(None, 50).await.unwrap();
        for kind in ["api.create", "api.update", "api.delete"] {
            assert!(events.iter().any(|e| e.event == kind), "{backend:?}: {kind} audited");
        }
    }
}

#[tokio::test]
async fn dynamic_registration_names_apis_and_registers_device_apps() {
    for backend in backends() {
        let server = TestServer::spawn_with(backend, &[("LATCHKEY_REGISTRATION_OPEN", "true")]).await;
        let api = latchkey::oauth::apis::build(
            latchkey::oauth::apis::ApiSpec {
                identifier: PHOTOS.into(),
                name: "Photos".into(),
                scopes: vec!["photos:read".into()],
                ..Default::default()
            },
            &server.state.config,
            server.state.now(),
        )
        .unwrap();
        let cli = latchkey::audit::Actor::cli();
        latchkey::oauth::apis::create(&*server.state.store, &api, cli, server.state.now()).await.unwrap();

        // A TV app: the device grant, no secret, limited to one API.
        let res = register_json(
            &server,
            None,
            json!({
                "client_name": "Living-room TV",
                "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
                "token_endpoint_auth_method": "none",
                "allowed_resources": [PHOTOS]
            }),
        )
        .await;
        let status = res.status();
        let doc = json(res).await;
        assert_eq!(status, 201, "{backend:?}: {doc}");
        assert_eq!(doc["allowed_resources"], json!([PHOTOS]));
        assert_eq!(doc["response_types"], json!([]));
        let id = doc["client_id"].as_str().unwrap().to_string();
        let rat = doc["registration_access_token"].as_str().unwrap().to_string();
        let res = http()
            .post(server.url("/device_authorization"))
            .form(&[("client_id", id.as_str()), ("scope", "openid photos:read"), ("resource", PHOTOS)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{backend:?}");
        assert!(json(res).await["user_code"].as_str().is_some());

        // Unknown APIs, and exchange rights a client gives itself, refused.
        for body in [
            json!({"client_name": "x", "grant_types": ["client_credentials"], "allowed_resources": [PAYMENTS]}),
            json!({"client_name": "x", "grant_types": ["client_credentials"], "allowed_resources": ["not a uri"]}),
            json!({"client_name": "x", "grant_types": ["client_credentials"], "token_exchange_targets": [PHOTOS]}),
        ] {
            let res = register_json(&server, None, body.clone()).await;
            assert_eq!(res.status(), 400, "{backend:?}: {body}");
            assert_eq!(json(res).await["error"], "invalid_client_metadata", "{body}");
        }
        let uri = server.url(&format!("/register/{id}"));
        let mut update = doc.clone();
        update["client_name"] = json!("Bedroom TV");
        let res = http().put(&uri).bearer_auth(&rat).json(&update).send().await.unwrap();
        let status = res.status();
        assert_eq!(status, 200, "{backend:?}: the document sent back as it came: {}", res.text().await.unwrap());
        update["token_exchange_targets"] = json!([PHOTOS]);
        let res = http().put(&uri).bearer_auth(&rat).json(&update).send().await.unwrap();
        assert_eq!(json(res).await["error"], "invalid_client_metadata");
        let stored = server.state.store.get_client(&id.as_str().into()).await.unwrap().unwrap();
        assert_eq!(stored.name, "Bedroom TV");
        assert!(stored.token_exchange_targets.is_empty());

        // An operator's exchange targets stay when an update leaves them out.
        let res = register_json(
            &server,
            None,
            json!({"client_name": "Photos backend", "grant_types": ["client_credentials"]}),
        )
        .await;
        let mut update = json(res).await;
        let id = update["client_id"].as_str().unwrap().to_string();
        let rat = update["registration_access_token"].as_str().unwrap().to_string();
        let uri = server.url(&format!("/register/{id}"));
        let mut given = server.state.store.get_client(&id.as_str().into()).await.unwrap().unwrap();
        given.token_exchange_targets = vec![PHOTOS.into()];
        latchkey::oauth::clients::save(&*server.state.store, &given, cli, server.state.now()).await.unwrap();
        for gone in [
            "registration_access_token",
            "registration_client_uri",
            "client_secret",
            "client_secret_expires_at",
            "client_id_issued_at",
        ] {
            update.as_object_mut().unwrap().remove(gone);
        }
        update["client_name"] = json!("Photos service");
        let res = http().put(&uri).bearer_auth(&rat).json(&update).send().await.unwrap();
        let status = res.status();
        let doc = json(res).await;
        assert_eq!(status, 200, "{backend:?}: {doc}");
        assert_eq!(doc["token_exchange_targets"], json!([PHOTOS]), "{backend:?}: kept");
        update["token_exchange_targets"] = json!([]);
        let res = http().put(&uri).bearer_auth(&rat).json(&update).send().await.unwrap();
        assert_eq!(json(res).await["error"], "invalid_client_metadata", "{backend:?}: nor removed by the client");
    }
}
