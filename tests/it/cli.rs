//! The binary as operators and scripts use it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

fn run(db: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db)
        .env_remove("REDIS_URL")
        .env_remove("LATCHKEY_CONFIG")
        .env("LATCHKEY_LOG", "warn")
        .env("LATCHKEY_TOTP_KEY", "cli-test-key-material")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn latchkey");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn ok_json(out: Output) -> serde_json::Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn temp_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db", dir.path().display());
    (dir, db)
}

#[test]
fn clients_lifecycle() {
    let (_dir, db) = temp_db();
    let created = ok_json(run(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "Shop",
            "--redirect-uri",
            "https://shop.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--json",
        ],
        None,
    ));
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256-bit secret, base64url");
    let listed = ok_json(run(&db, &["clients", "list", "--json"], None));
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0].get("secret_hash").is_none(), "hash never printed");
    let shown = ok_json(run(&db, &["clients", "show", &id, "--json"], None));
    assert_eq!(shown["redirect_uris"][1], "http://127.0.0.1/cb");
    let public = ok_json(run(
        &db,
        &["clients", "create", "--name", "SPA", "--redirect-uri", "https://spa.example/", "--public", "--json"],
        None,
    ));
    assert!(public["client_secret"].is_null());
    assert!(ok_json(run(&db, &["clients", "delete", &id, "--json"], None))["deleted"] == id.as_str());
    let missing = run(&db, &["clients", "show", &id], None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no client"));
}

#[test]
fn bad_arguments_fail_cleanly() {
    let (_dir, db) = temp_db();
    for args in [
        vec!["clients", "create", "--name", "X", "--redirect-uri", "http://insecure.example/cb"],
        vec!["clients", "create", "--name", "X", "--redirect-uri", "https://x.example/cb#frag"],
        vec!["clients", "create", "--name", "X", "--redirect-uri", "https://x.example/cb", "--grant-type", "implicit"],
        vec!["clients", "create", "--name", "X"],
        vec!["users", "set-role", "nobody", "admin"],
        vec!["users", "create", "--username", "a b", "--email", "bad"],
        vec!["clients", "frobnicate"],
    ] {
        let out = run(&db, &args, None);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(!stderr.trim().is_empty(), "{args:?} said nothing");
    }
    let out = Command::new(BIN).env("LATCHKEY_ISSUER", "http://example.com").arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LATCHKEY_ISSUER"));
}

#[test]
fn users_and_roles() {
    let (_dir, db) = temp_db();
    let user = ok_json(run(
        &db,
        &["users", "create", "--username", "Root", "--email", "root@example.com", "--password-stdin", "--json"],
        Some("river-Stone-2024\n"),
    ));
    assert_eq!(user["username"], "root");
    let weak = run(
        &db,
        &["users", "create", "--username", "weak", "--email", "w@example.com", "--password-stdin"],
        Some("password\n"),
    );
    assert!(!weak.status.success());
    let set = ok_json(run(&db, &["users", "set-role", "root", "admin", "--json"], None));
    assert_eq!(set["role"], "admin");
    let listed = ok_json(run(&db, &["users", "list", "--json"], None));
    assert_eq!(listed[0]["role"], "admin");
    assert!(listed[0].get("password_hash").is_none());
}

#[test]
fn keys_rotate_and_list() {
    let (dir, db) = temp_db();
    assert!(run(&db, &["migrate"], None).status.success());
    let pem = dir.path().join("import.pem");
    let out = run(&db, &["keys", "generate", "--out", pem.to_str().unwrap()], None);
    assert!(out.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The first rotation on an empty database makes a key that signs now
    // (--now); the next is scheduled: published at once, signing later.
    let first = ok_json(run(&db, &["keys", "rotate", "--now", "--json"], None));
    // Removing the only key is refused.
    let out = run(&db, &["keys", "remove", first[0]["kid"].as_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rotate first"), "{out:?}");
    let scheduled = ok_json(run(&db, &["keys", "rotate", "--json"], None));
    let listed = ok_json(run(&db, &["keys", "list", "--json"], None));
    let list = listed.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["kid"], scheduled[0]["kid"]);
    assert_eq!(list[0]["state"], "pending");
    let delay = scheduled[0]["activates_at"].as_i64().unwrap() - scheduled[0]["created_at"].as_i64().unwrap();
    assert_eq!(delay, latchkey::keys::ACTIVATION_DELAY);
    assert_eq!(list[1]["kid"], first[0]["kid"]);
    assert_eq!(list[1]["state"], "signing", "until the new key starts");
    assert_eq!(list[1]["retired_at"], scheduled[0]["activates_at"]);
    // A key can go once another is there to take over.
    let removed = ok_json(run(&db, &["keys", "remove", scheduled[0]["kid"].as_str().unwrap(), "--json"], None));
    assert_eq!(removed["removed"], scheduled[0]["kid"]);
}

/// `serve` starts, answers discovery, imports keys/… PEM on an empty
/// database, and exits 0 on SIGTERM.
#[test]
fn serve_imports_a_key_and_stops_gracefully() {
    let (dir, db) = temp_db();
    let pem = dir.path().join("signing.pem");
    assert!(run(&db, &["keys", "generate", "--out", pem.to_str().unwrap()], None).status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &db)
        .env("LATCHKEY_LISTEN", format!("127.0.0.1:{port}"))
        .env("LATCHKEY_ISSUER", &issuer)
        .env("LATCHKEY_SIGNING_KEY_FILE", &pem)
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut jwks = None;
    while std::time::Instant::now() < deadline {
        if let Ok(body) = blocking_get(port, "/jwks.json") {
            jwks = Some(body);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let jwks = jwks.expect("server never answered");
    let listed = ok_json(run(&db, &["keys", "list", "--json"], None));
    assert!(jwks.contains(listed[0]["kid"].as_str().unwrap()), "imported key is published");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(!stderr.contains("PRIVATE KEY"), "key material in logs");
}

fn blocking_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    if out.starts_with("HTTP/1.1 200") { Ok(out) } else { Err(std::io::Error::other(out)) }
}

#[test]
fn client_changes_are_audited_and_listed() {
    let (_dir, db) = temp_db();
    let created = ok_json(run(
        &db,
        &["clients", "create", "--name", "Audited", "--redirect-uri", "https://a.example/cb", "--json"],
        None,
    ));
    let id = created["client_id"].as_str().unwrap();
    ok_json(run(&db, &["clients", "delete", id, "--json"], None));
    let events = ok_json(run(&db, &["audit", "list", "--json"], None));
    let names: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["client_id"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(names, [("client.delete", id), ("client.create", id)], "newest first");
    let text = run(&db, &["audit", "list"], None);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("client.create"));
    let bad = run(&db, &["audit", "list", "--user", "nobody"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no user `nobody`"));
}

#[test]
fn initial_access_tokens_are_minted_for_registration() {
    let (_dir, db) = temp_db();
    let out = ok_json(run(&db, &["clients", "initial-token", "--ttl", "600", "--json"], None));
    assert_eq!(out["initial_access_token"].as_str().unwrap().len(), 43);
    let bad = run(&db, &["clients", "initial-token", "--ttl", "5"], None);
    assert!(!bad.status.success());
}

/// Keys, sender constraints and the FAPI profile from the command line, by
/// the same rules as registration.
#[test]
fn clients_with_keys_and_sender_constraints() {
    let (dir, db) = temp_db();
    let key = crate::jose_client::ClientKey::generate("ES256");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, key.jwks().to_string()).unwrap();
    let jwks = jwks.to_string_lossy().to_string();
    let created = ok_json(run(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "Bank",
            "--redirect-uri",
            "https://bank.example/cb",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            &jwks,
            "--profile",
            "fapi2",
            "--json",
        ],
        None,
    ));
    assert!(created["client_secret"].is_null(), "a key client has no secret");
    let id = created["client_id"].as_str().unwrap();
    let shown = ok_json(run(&db, &["clients", "show", id, "--json"], None));
    assert_eq!(shown["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(shown["security_profile"], "fapi2");
    assert_eq!(shown["require_pushed_authorization_requests"], true, "the profile turns PAR on");
    assert_eq!(shown["dpop_bound_access_tokens"], true);
    assert_eq!(shown["jwks"]["keys"][0]["x"], key.public["x"]);
    let flags = ok_json(run(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "Flags",
            "--redirect-uri",
            "https://a.example/cb",
            "--require-par",
            "--dpop",
            "--json",
        ],
        None,
    ));
    let shown = ok_json(run(&db, &["clients", "show", flags["client_id"].as_str().unwrap(), "--json"], None));
    assert_eq!(
        (shown["require_pushed_authorization_requests"].as_bool(), shown["dpop_bound_access_tokens"].as_bool()),
        (Some(true), Some(true))
    );
    let hmac = ok_json(run(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "HMAC",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "client_secret_jwt",
            "--json",
        ],
        None,
    ));
    assert_eq!(hmac["client_secret"].as_str().map(str::len), Some(43));
    // Refused, with the rule's words.
    for (args, words) in [
        (vec!["--auth-method", "private_key_jwt"], "jwks"),
        (vec!["--profile", "fapi2"], "private_key_jwt"),
        (vec!["--auth-method", "private_key_jwt", "--jwks-uri", "http://keys.example/jwks"], "https"),
    ] {
        let mut all = vec!["clients", "create", "--name", "X", "--redirect-uri", "https://x.example/cb"];
        all.extend(args);
        let out = run(&db, &all, None);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(words), "{all:?}: {err}");
    }
}
