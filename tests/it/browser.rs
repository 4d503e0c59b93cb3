//! A real browser: headless Chromium (through ChromeDriver) signs up, signs
//! in, consents, and lands on the client's redirect URI with a code.
//! Screenshots of each page go to target/screenshots/.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (or CHROMIUM and
//! CHROMEDRIVER); .ci/run installs them. Without them the test says so and
//! passes locally, but fails when LATCHKEY_REQUIRE_BACKENDS is set (CI).
//!
//! Every screenshotted page is also checked with axe-core, in the light and
//! the dark colour scheme, and must have no violations. axe.min.js comes from
//! AXE_CORE_JS (default target/axe/node_modules/axe-core/axe.min.js, where
//! .ci/run installs it); without it the check is skipped locally and fails
//! in CI, like a missing Chromium.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::*;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(var: &str, default: &str) -> Option<String> {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_string());
    std::path::Path::new(&path).exists().then_some(path)
}

async fn start_browser() -> Option<(Driver, Client)> {
    latchkey::install_crypto_provider();
    let (Some(chromium), Some(chromedriver)) =
        (tool("CHROMIUM", "/usr/bin/chromium"), tool("CHROMEDRIVER", "/usr/bin/chromedriver"))
    else {
        assert!(std::env::var("LATCHKEY_REQUIRE_BACKENDS").is_err(), "Chromium and ChromeDriver are required in CI");
        eprintln!("skipping the browser test: chromium or chromedriver not installed");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let profile = tempfile::tempdir().unwrap().keep();
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps: serde_json::Map<String, serde_json::Value> = caps.as_object().unwrap().clone();
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return Some((driver, c)),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start a browser session: {last:?}");
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// axe-core's source, read once; None when it is not installed.
fn axe_source() -> Option<&'static str> {
    static SOURCE: OnceLock<Option<String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe/node_modules/axe-core/axe.min.js");
            let Some(path) = tool("AXE_CORE_JS", &default.to_string_lossy()) else {
                assert!(
                    std::env::var("LATCHKEY_REQUIRE_BACKENDS").is_err(),
                    "axe-core is required in CI: set AXE_CORE_JS or run .ci/run"
                );
                eprintln!("skipping the accessibility checks: axe-core not installed (see .ci/run)");
                return None;
            };
            Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}")))
        })
        .as_deref()
}

/// A Chrome DevTools Protocol command, sent through ChromeDriver.
#[derive(Debug)]
struct Cdp(serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.0.to_string()))
    }
}

/// Make the page match `prefers-color-scheme: dark` (or light), check that it
/// took, and jump the colour transitions it starts to their end (some never
/// run, inside a closed `<details>`).
async fn color_scheme(c: &Client, scheme: &str) {
    let cmd = serde_json::json!({
        "cmd": "Emulation.setEmulatedMedia",
        "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    });
    c.issue_cmd(Cdp(cmd)).await.expect("emulate the colour scheme");
    let settle = r#"
        const [scheme, done] = arguments;
        requestAnimationFrame(() => {
            document.getAnimations().forEach(a => a.finish());
            done(matchMedia(`(prefers-color-scheme: ${scheme})`).matches);
        });
    "#;
    let matches = c.execute_async(settle, vec![scheme.into()]).await.expect("settle the colour scheme");
    assert_eq!(matches, serde_json::json!(true), "{scheme} scheme emulated");
}

/// Run axe-core on the page, in the light and the dark colour scheme, and
/// fail on any violation, listing each with the elements it concerns.
async fn axe(c: &Client, page_name: &str) {
    let Some(source) = axe_source() else {
        return;
    };
    // Script run through WebDriver is not subject to the page's
    // Content-Security-Policy: `script-src 'self'` does not block it.
    c.execute(source, vec![]).await.expect("inject axe-core");
    let run = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
            .then(r => done(r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary})),
            }))))
            .catch(e => done({error: String(e)}));
    "#;
    let mut report = String::new();
    for scheme in ["light", "dark"] {
        color_scheme(c, scheme).await;
        let found = c.execute_async(run, vec![]).await.expect("run axe-core");
        let violations = found.as_array().unwrap_or_else(|| panic!("{page_name} ({scheme}): axe-core failed: {found}"));
        for v in violations {
            report += &format!("\n[{scheme}] {} ({}): {}", v["id"], v["impact"], v["help"]);
            for node in v["nodes"].as_array().into_iter().flatten() {
                let summary = node["summary"].as_str().unwrap_or_default().replace('\n', " ");
                report += &format!("\n    {}: {summary}", node["target"]);
            }
        }
    }
    color_scheme(c, "light").await;
    assert!(report.is_empty(), "{page_name}: accessibility violations:{report}");
}

/// A stand-in for the app's callback page.
async fn callback_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>App</title><h1>Back in the app</h1>")
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://127.0.0.1:{}/callback", addr.port())
}

/// An authorization request with PKCE, as the app would send it.
fn authorize_url(server: &TestServer, client_id: &str, callback: &str, scope: &str, state: &str) -> url::Url {
    let (_, challenge) = pkce();
    let mut start = url::Url::parse(&server.url("/authorize")).unwrap();
    start
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", callback)
        .append_pair("scope", scope)
        .append_pair("state", state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    start
}

async fn fill(c: &Client, name: &str, value: &str) {
    c.find(Locator::Css(&format!("[name=\"{name}\"]")))
        .await
        .unwrap_or_else(|e| panic!("no input {name}: {e}"))
        .send_keys(value)
        .await
        .unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
}

async fn wait_for_path(c: &Client, path: &str) -> url::Url {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if url.path().starts_with(path) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never reached {path}: at {}", c.current_url().await.unwrap());
}

#[tokio::test]
async fn chromium_signs_up_signs_in_and_consents() {
    for backend in backends() {
        let Some((_driver, c)) = start_browser().await else {
            return;
        };
        let server = TestServer::spawn(backend).await;
        let callback = callback_server().await;
        let (client_id, _) = server.confidential(&callback).await;
        let start = authorize_url(&server, &client_id, &callback, "openid profile email offline_access", "browser-1");

        // Sign up.
        c.goto(start.as_str()).await.unwrap();
        wait_for_path(&c, "/login").await;
        shot(&c, "01-sign-in").await;
        axe(&c, "01-sign-in").await;
        click(&c, "a[href^=\"/signup\"]").await;
        wait_for_path(&c, "/signup").await;
        shot(&c, "02-sign-up").await;
        axe(&c, "02-sign-up").await;
        let username = unique("chrome");
        fill(&c, "username", &username).await;
        fill(&c, "email", &format!("{username}@example.com")).await;
        fill(&c, "password", "password").await;
        click(&c, "button[type=\"submit\"]").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let html = c.source().await.unwrap();
        assert!(html.contains("most common passwords"), "weak password refused inline");
        shot(&c, "03-sign-up-error").await;
        axe(&c, "03-sign-up-error").await;
        let pw = c.find(Locator::Css("input[name=\"password\"]")).await.unwrap();
        pw.clear().await.unwrap();
        pw.send_keys(PASSWORD).await.unwrap();
        click(&c, "button[type=\"submit\"]").await;

        // Consent.
        wait_for_path(&c, "/consent").await;
        shot(&c, "04-consent").await;
        axe(&c, "04-consent").await;
        let html = c.source().await.unwrap();
        assert!(html.contains("Test App"));
        click(&c, "button[value=\"allow\"]").await;
        let landed = wait_for_path(&c, "/callback").await;
        let code = landed.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
        assert!(code.is_some_and(|c| c.len() >= 43), "{landed}");
        assert_eq!(landed.query_pairs().find(|(k, _)| k == "state").unwrap().1, "browser-1");

        // The account page, then sign out and sign in again: consent is
        // remembered, so the browser goes straight back to the app.
        c.goto(&server.url("/account")).await.unwrap();
        wait_for_path(&c, "/account").await;
        shot(&c, "05-account").await;
        axe(&c, "05-account").await;
        c.delete_all_cookies().await.unwrap();
        c.goto(start.as_str()).await.unwrap();
        wait_for_path(&c, "/login").await;
        fill(&c, "username", &username).await;
        fill(&c, "password", "not-my-password").await;
        click(&c, "button[type=\"submit\"]").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(c.source().await.unwrap().contains("Incorrect username or password."));
        shot(&c, "06-sign-in-error").await;
        axe(&c, "06-sign-in-error").await;
        let pw = c.find(Locator::Css("input[name=\"password\"]")).await.unwrap();
        pw.clear().await.unwrap();
        pw.send_keys(PASSWORD).await.unwrap();
        click(&c, "button[type=\"submit\"]").await;
        let landed = wait_for_path(&c, "/callback").await;
        assert!(landed.query_pairs().any(|(k, _)| k == "code"), "{landed}");

        // The developer portal: register an app, then its page and the list.
        c.goto(&server.url("/developer/apps/new")).await.unwrap();
        wait_for_path(&c, "/developer/apps/new").await;
        // At full length, with the key and security settings folded.
        c.set_window_size(1280, 1500).await.unwrap();
        shot(&c, "16-portal-new-app").await;
        axe(&c, "16-portal-new-app").await;
        c.set_window_size(1280, 900).await.unwrap();
        fill(&c, "name", "Photo Shelf").await;
        click(&c, "input[value=\"spa\"]").await;
        fill(&c, "redirect_uris", "https://photos.example/callback").await;
        click(&c, "button[type=\"submit\"]").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let html = c.source().await.unwrap();
        assert!(html.contains("client-id") && html.contains("Photo Shelf"), "app page after registering");
        shot(&c, "13-portal-app").await;
        axe(&c, "13-portal-app").await;
        c.goto(&server.url("/developer/apps")).await.unwrap();
        wait_for_path(&c, "/developer/apps").await;
        assert!(c.source().await.unwrap().contains("Photo Shelf"));
        shot(&c, "14-portal-apps").await;
        axe(&c, "14-portal-apps").await;
        c.set_window_size(1280, 2400).await.unwrap();
        c.goto(&server.url("/account")).await.unwrap();
        wait_for_path(&c, "/account").await;
        shot(&c, "15-account-full").await;
        axe(&c, "15-account-full").await;
        c.set_window_size(1280, 900).await.unwrap();

        // A phone-sized look at the sign-in page.
        c.set_window_size(390, 844).await.unwrap();
        c.delete_all_cookies().await.unwrap();
        c.goto(start.as_str()).await.unwrap();
        wait_for_path(&c, "/login").await;
        shot(&c, "07-sign-in-phone").await;
        axe(&c, "07-sign-in-phone").await;
        c.close().await.unwrap();
    }
}

/// "Continue with GitHub" in a real browser, against the fake GitHub: the
/// GitHub email belongs to an existing account, so the browser shows the
/// proof-of-ownership page; with the password it links, consents and lands
/// in the app. Screenshots: the sign-in page with the GitHub button, the
/// proof page, and the account page listing the ways to sign in.
#[tokio::test]
async fn chromium_signs_in_with_github_and_proves_an_existing_account() {
    for backend in backends() {
        use crate::fake_github::{FakeGithub, github_user};
        let Some((_driver, c)) = start_browser().await else {
            return;
        };
        let gh = FakeGithub::start().await;
        let server = TestServer::spawn_with(
            backend,
            &[
                ("LATCHKEY_GITHUB_CLIENT_ID", FakeGithub::CLIENT_ID),
                ("LATCHKEY_GITHUB_CLIENT_SECRET", FakeGithub::CLIENT_SECRET),
                ("LATCHKEY_GITHUB_WEB_URL", gh.base.as_str()),
                ("LATCHKEY_GITHUB_API_URL", gh.base.as_str()),
            ],
        )
        .await;
        let callback = callback_server().await;
        let (client_id, _) = server.confidential(&callback).await;
        let username = unique("grace");
        server.user(&username, PASSWORD).await;
        gh.sign_in_as(github_user(424242, "grace-hopper", &format!("{username}@example.com")));
        let start = authorize_url(&server, &client_id, &callback, "openid profile email", "browser-gh");

        c.goto(start.as_str()).await.unwrap();
        wait_for_path(&c, "/login").await;
        shot(&c, "08-sign-in-with-github").await;
        axe(&c, "08-sign-in-with-github").await;
        click(&c, "a[href^=\"/federation/github/start\"]").await;
        wait_for_path(&c, "/federation/github/callback").await;
        let html = c.source().await.unwrap();
        assert!(html.contains("Link your GitHub account"), "{html}");
        shot(&c, "09-link-github-proof").await;
        axe(&c, "09-link-github-proof").await;
        fill(&c, "password", PASSWORD).await;
        click(&c, "button[type=\"submit\"]").await;
        wait_for_path(&c, "/consent").await;
        click(&c, "button[value=\"allow\"]").await;
        let landed = wait_for_path(&c, "/callback").await;
        assert_eq!(landed.query_pairs().find(|(k, _)| k == "state").unwrap().1, "browser-gh");

        c.goto(&server.url("/account")).await.unwrap();
        wait_for_path(&c, "/account").await;
        let html = c.source().await.unwrap();
        assert!(html.contains("@grace-hopper"), "linked GitHub login shown");
        shot(&c, "10-account-with-github").await;
        axe(&c, "10-account-with-github").await;
        c.goto(&server.url("/account/mfa")).await.unwrap();
        wait_for_path(&c, "/account/mfa").await;
        assert!(c.source().await.unwrap().contains("<svg"), "QR code shown");
        shot(&c, "11-two-step-setup").await;
        axe(&c, "11-two-step-setup").await;
        c.delete_all_cookies().await.unwrap();
        c.goto(&server.url("/password/forgot")).await.unwrap();
        wait_for_path(&c, "/password/forgot").await;
        shot(&c, "12-forgot-password").await;
        axe(&c, "12-forgot-password").await;
        c.close().await.unwrap();
    }
}

/// The device flow as a person does it on a phone: the TV shows a code; the
/// phone opens /device, signs in, types the code (lower case, no dash),
/// confirms, and the TV's next poll gets its tokens. Then, on a desktop, a
/// developer registers an API in the portal. Screenshots of each page.
#[tokio::test]
async fn chromium_approves_a_tv_on_a_phone_and_registers_an_api() {
    for backend in backends() {
        let Some((_driver, c)) = start_browser().await else {
            return;
        };
        let server = TestServer::spawn(backend).await;
        let (tv, _) = server
            .client(latchkey::oauth::clients::ClientSpec {
                name: "Living Room TV".into(),
                app_type: Some("device".into()),
                ..Default::default()
            })
            .await;
        let username = unique("tv");
        server.user(&username, PASSWORD).await;
        let asked = json(
            http()
                .post(server.url("/device_authorization"))
                .form(&[("client_id", tv.as_str()), ("scope", "openid profile")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        let user_code = asked["user_code"].as_str().unwrap().to_string();
        let device_code = asked["device_code"].as_str().unwrap().to_string();

        c.set_window_size(390, 844).await.unwrap();
        c.goto(asked["verification_uri"].as_str().unwrap()).await.unwrap();
        wait_for_path(&c, "/login").await;
        fill(&c, "username", &username).await;
        fill(&c, "password", PASSWORD).await;
        click(&c, "button[type=\"submit\"]").await;
        wait_for_path(&c, "/device").await;
        shot(&c, "20-device-code-phone").await;
        axe(&c, "20-device-code-phone").await;
        let typed = user_code.replace('-', "").to_lowercase();
        fill(&c, "user_code", &typed).await;
        click(&c, "button[type=\"submit\"]").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let html = c.source().await.unwrap();
        assert!(html.contains("Living Room TV") && html.contains(&user_code), "{html}");
        shot(&c, "21-device-confirm-phone").await;
        axe(&c, "21-device-confirm-phone").await;
        click(&c, "button[value=\"allow\"]").await;
        wait_for_path(&c, "/device/done").await;
        shot(&c, "22-device-done-phone").await;
        axe(&c, "22-device-done-phone").await;
        let res = http()
            .post(server.url("/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", tv.as_str()),
                ("device_code", device_code.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{backend:?}");
        assert!(json(res).await["id_token"].is_string());

        // The portal's API pages, on a desktop.
        c.set_window_size(1280, 1100).await.unwrap();
        c.goto(&server.url("/developer/apis/new")).await.unwrap();
        wait_for_path(&c, "/developer/apis/new").await;
        shot(&c, "23-portal-new-api").await;
        axe(&c, "23-portal-new-api").await;
        fill(&c, "name", "Photos").await;
        fill(&c, "identifier", "https://api.example/photos").await;
        fill(&c, "scopes", "photos:read photos:write").await;
        click(&c, "button[type=\"submit\"]").await;
        let mut url = c.current_url().await.unwrap();
        for _ in 0..100 {
            if url.query() == Some("done=created") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            url = c.current_url().await.unwrap();
        }
        assert_eq!(url.query(), Some("done=created"), "post, then redirect to the API: {url}");
        assert!(c.source().await.unwrap().contains("photos:write"));
        shot(&c, "24-portal-api").await;
        axe(&c, "24-portal-api").await;

        // Register a machine app; reloading the page with its secret
        // registers nothing more and shows the secret no more.
        c.goto(&server.url("/developer/apps/new")).await.unwrap();
        wait_for_path(&c, "/developer/apps/new").await;
        fill(&c, "name", "Nightly export").await;
        click(&c, "input[value=\"machine\"]").await;
        click(&c, "button[type=\"submit\"]").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let html = c.source().await.unwrap();
        assert!(html.contains("client-secret") && html.contains("Download"), "the secret, once");
        shot(&c, "25-portal-secret-once").await;
        axe(&c, "25-portal-secret-once").await;
        let me = server.state.store.find_user_by_login(&username).await.unwrap().unwrap();
        let apps = || async { server.state.store.list_clients_by_owner(&me.id).await.unwrap() };
        assert_eq!(apps().await.len(), 1);
        c.refresh().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let html = c.source().await.unwrap();
        assert!(!html.contains("id=\"client-secret\"") && html.contains("shown once"), "{html}");
        assert_eq!(apps().await.len(), 1, "{backend:?}: a reload registers nothing");

        // Rotating asks first; a reload after it rotates nothing.
        let app = apps().await.remove(0);
        click(&c, &format!("a[href=\"/developer/apps/{}/rotate-secret\"]", app.id.as_str())).await;
        wait_for_path(&c, &format!("/developer/apps/{}/rotate-secret", app.id.as_str())).await;
        shot(&c, "26-portal-confirm-rotate").await;
        axe(&c, "26-portal-confirm-rotate").await;
        click(&c, "button[type=\"submit\"]").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(c.source().await.unwrap().contains("New secret made"));
        let rotated = server.state.store.get_client(&app.id).await.unwrap().unwrap();
        assert_ne!(rotated.secret_hash, app.secret_hash);
        c.refresh().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = server.state.store.get_client(&app.id).await.unwrap().unwrap();
        assert_eq!(after.secret_hash, rotated.secret_hash, "{backend:?}: a reload rotates nothing");
        assert_eq!(after.old_secret_hash, app.secret_hash, "the first secret still overlaps");

        // The consent page of an ordinary user's app: who made it, where it
        // returns, its links, and the unverified notice.
        let callback = callback_server().await;
        let (unchecked, _) = server
            .client(latchkey::oauth::clients::ClientSpec {
                name: "Photo Shelf".into(),
                app_type: Some("web".into()),
                redirect_uris: vec![callback.clone()],
                owner_id: Some(me.id.clone()),
                homepage: Some("https://photos.example/".into()),
                policy_uri: Some("https://photos.example/privacy".into()),
                tos_uri: Some("https://photos.example/terms".into()),
                ..Default::default()
            })
            .await;
        c.goto(authorize_url(&server, &unchecked, &callback, "openid profile email", "b-3").as_str()).await.unwrap();
        wait_for_path(&c, "/consent").await;
        assert!(c.source().await.unwrap().contains("unverified-app"));
        shot(&c, "27-consent-unverified").await;
        axe(&c, "27-consent-unverified").await;

        // The account chooser (prompt=select_account).
        let mut choose = authorize_url(&server, &unchecked, &callback, "openid", "b-4");
        choose.query_pairs_mut().append_pair("prompt", "select_account");
        c.goto(choose.as_str()).await.unwrap();
        wait_for_path(&c, "/login").await;
        assert!(c.source().await.unwrap().contains("continue-as"));
        shot(&c, "29-account-chooser").await;
        axe(&c, "29-account-chooser").await;

        // The admin page, with its trust switches.
        server.state.store.set_user_role(&me.id, latchkey::store::Role::Admin, server.state.now()).await.unwrap();
        c.goto(&server.url("/admin")).await.unwrap();
        wait_for_path(&c, "/admin").await;
        assert!(c.source().await.unwrap().contains("Make first-party"), "an admin's own apps need no check");
        shot(&c, "28-admin").await;
        axe(&c, "28-admin").await;
        c.close().await.unwrap();
    }
}
