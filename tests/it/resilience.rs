//! A server that protects itself: slow and abundant clients, a stop that
//! lets requests finish, and backends that go away and come back.

use std::time::{Duration, Instant};

use latchkey::oauth::clients::ClientSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

fn addr(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes or `limit` passes; returns what arrived and
/// whether the connection was closed in time.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

/// 1,100 connections that never finish their headers do not stop /healthz
/// from answering within a second: with room to spare under the default
/// cap, and by closing the idlest under a low one.
#[tokio::test]
async fn half_open_connections_do_not_starve_the_server() {
    for backend in backends() {
        for cap in [None, Some("200")] {
            let extra: Vec<(&str, &str)> = cap.map(|c| vec![("LATCHKEY_MAX_CONNECTIONS", c)]).unwrap_or_default();
            let server = TestServer::spawn_with(backend, &extra).await;
            let mut held = Vec::new();
            for _ in 0..1100 {
                let mut s = TcpStream::connect(addr(&server)).await.expect("connect");
                let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
                held.push(s);
            }
            let started = Instant::now();
            let res = tokio::time::timeout(Duration::from_secs(1), http().get(server.url("/healthz")).send())
                .await
                .unwrap_or_else(|_| panic!("{backend:?} cap {cap:?}: /healthz did not answer within 1 s"))
                .unwrap();
            assert_eq!(res.status(), 200, "{backend:?} cap {cap:?}");
            eprintln!(
                "{backend:?}, cap {:?}: /healthz answered in {:?} beside 1,100 half-open connections",
                cap.unwrap_or("default"),
                started.elapsed()
            );
            if cap.is_some() {
                // Room was made by closing half-open ones.
                let mut closed = 0;
                for s in held.iter_mut().take(300) {
                    if read_until_closed(s, Duration::from_millis(20)).await.1 {
                        closed += 1;
                    }
                }
                assert!(closed > 0, "the idlest connections were closed to make room");
            }
        }
    }
}

/// Headers must arrive within the header deadline, a body within the body
/// deadline, and an idle keep-alive connection is closed.
#[tokio::test]
async fn slow_clients_are_cut_off() {
    for backend in backends() {
        let server = TestServer::spawn_with(
            backend,
            &[("LATCHKEY_HEADER_READ_TIMEOUT", "1"), ("LATCHKEY_BODY_TIMEOUT", "1"), ("LATCHKEY_IDLE_TIMEOUT", "1")],
        )
        .await;
        // Headers never finished.
        let mut slow = TcpStream::connect(addr(&server)).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let started = Instant::now();
        let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(4)).await;
        assert!(closed, "{backend:?}: half-sent headers held the connection");
        eprintln!("{backend:?}: half-sent headers cut after {:?}", started.elapsed());

        // A body that stops arriving.
        let mut drip = TcpStream::connect(addr(&server)).await.unwrap();
        drip.write_all(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
        )
        .await
        .unwrap();
        let (answer, closed) = read_until_closed(&mut drip, Duration::from_secs(4)).await;
        assert!(
            closed || answer.starts_with("HTTP/1.1 4"),
            "{backend:?}: an unfinished body held the request: {answer:?}"
        );

        // A connection left idle after a request.
        let mut idle = TcpStream::connect(addr(&server)).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(4)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(closed, "{backend:?}: an idle keep-alive connection stayed open");
    }
}

/// On stop, a request in flight finishes and is answered; new connections
/// are not accepted.
#[tokio::test]
async fn a_stop_lets_requests_in_flight_finish() {
    for backend in backends() {
        let server = TestServer::spawn(backend).await;
        let (id, secret) = server
            .client(ClientSpec {
                name: "Worker".into(),
                grant_types: vec!["client_credentials".into()],
                scopes: vec!["orders:read".into()],
                token_endpoint_auth_method: Some("client_secret_post".into()),
                ..Default::default()
            })
            .await;
        let body = format!("grant_type=client_credentials&client_id={id}&client_secret={}", secret.unwrap());
        let (head, tail) = body.split_at(10);
        let mut conn = TcpStream::connect(addr(&server)).await.unwrap();
        conn.write_all(
            format!(
                "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{head}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let at = addr(&server);
        let stopping = tokio::spawn(server.stop());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(TcpStream::connect(&at).await.is_err(), "{backend:?}: still accepting while stopping");
        assert!(!stopping.is_finished(), "{backend:?}: stopped with a request in flight");
        conn.write_all(tail.as_bytes()).await.unwrap();
        let (answer, _) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{backend:?}: {answer:?}");
        tokio::time::timeout(Duration::from_secs(5), stopping)
            .await
            .expect("the stop completes once the request is answered")
            .unwrap();
    }
}

async fn refresh_grant(server: &TestServer) -> (String, String, String) {
    let redirect = "https://app.example/callback";
    let (id, secret) = server.confidential(redirect).await;
    let username = unique("f");
    server.user(&username, PASSWORD).await;
    let code = get_code(server, &browser(), &id, redirect, None, &username).await;
    let body = json(redeem(server, &id, Some(&secret), &code, redirect, None).await).await;
    (id, secret, body["refresh_token"].as_str().unwrap().to_string())
}

async fn refresh_once(
    server: &TestServer, id: &str, secret: &str, token: &str,
) -> (u16, Option<String>, serde_json::Value) {
    let res = http()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, retry, json(res).await)
}

/// What an outage looks like from outside: /token 503 with
/// temporarily_unavailable and Retry-After, a friendly page for people,
/// /healthz naming the part, all within a second.
async fn expect_outage(server: &TestServer, id: &str, secret: &str, refresh_token: &str, part: &str) {
    let started = Instant::now();
    let (status, retry, body) = refresh_once(server, id, secret, refresh_token).await;
    let took = started.elapsed();
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{part}: {body}");
    assert!(retry.is_some(), "{part}: Retry-After");
    assert!(took < Duration::from_secs(1), "{part}: /token took {took:?}");
    eprintln!("{part} down: /token answered 503 in {took:?}");

    let b = browser();
    let (_, html) = follow(&b, &server.base, &server.url("/login")).await.page();
    let csrf = input_value(&html, "csrf").unwrap();
    let started = Instant::now();
    let res = b
        .post(server.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("username", "someone"), ("password", "a long passphrase")])
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "{part}: sign-in took {:?}", started.elapsed());
    assert_eq!(res.status(), 503, "{part}");
    assert!(res.headers().contains_key("retry-after"));
    let page = res.text().await.unwrap();
    assert!(page.contains("try again"), "{part}: a friendly page: {page}");

    let started = Instant::now();
    let res = http().get(server.url("/healthz")).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "{part}: /healthz took {:?}", started.elapsed());
    assert_eq!(res.status(), 503);
    let health = json(res).await;
    assert!(health["failing"].as_array().unwrap().iter().any(|f| f == "database"), "{health}");
}

/// Recovery: within a few seconds of the backend's return, all answers.
async fn expect_recovery(server: &TestServer, id: &str, secret: &str, refresh_token: &str, part: &str) {
    let started = Instant::now();
    loop {
        let (status, _, body) = refresh_once(server, id, secret, refresh_token).await;
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{part}: no recovery: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(http().get(server.url("/healthz")).send().await.unwrap().status(), 200);
    eprintln!("{part} back: recovered in {:?}", started.elapsed());
}

/// PostgreSQL cut off (through a proxy that drops every connection), then
/// back on the same address.
#[tokio::test]
async fn postgres_down_answers_503_fast_and_recovers() {
    if !backends().contains(&Backend::Shared) {
        eprintln!("skipping: needs TEST_DATABASE_URL and TEST_REDIS_URL");
        return;
    }
    let pg_url = fresh_schema().await;
    let proxy = Proxy::start(socket_of(&pg_url)).await;
    let server = TestServer::spawn_with(Backend::Shared, &[("DATABASE_URL", &via_port(&pg_url, proxy.port))]).await;
    let (id, secret, refresh_token) = refresh_grant(&server).await;
    proxy.cut();
    expect_outage(&server, &id, &secret, &refresh_token, "PostgreSQL").await;
    let _back = Proxy::start_on(proxy.port, socket_of(&pg_url)).await;
    expect_recovery(&server, &id, &secret, &refresh_token, "PostgreSQL").await;
}

/// SQLite's form of a database that does not answer: another process holds
/// the write lock (a backup tool, a stuck CLI).
#[tokio::test]
async fn sqlite_locked_answers_503_fast_and_recovers() {
    use sqlx::Connection;
    let server = TestServer::spawn(Backend::Embedded).await;
    let (id, secret, refresh_token) = refresh_grant(&server).await;
    let mut holder = sqlx::SqliteConnection::connect(&server.database_url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut holder).await.unwrap();
    let started = Instant::now();
    let (status, retry, body) = refresh_once(&server, &id, &secret, &refresh_token).await;
    let took = started.elapsed();
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert!(retry.is_some());
    assert!(took < Duration::from_secs(1), "/token took {took:?}");
    eprintln!("SQLite locked: /token answered 503 in {took:?}");
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    expect_recovery(&server, &id, &secret, &refresh_token, "SQLite").await;
}

/// Redis cut off: what needs it (a sign-in's pending request) answers a
/// friendly 503 at once, what does not (client credentials) keeps working,
/// and /healthz names it.
#[tokio::test]
async fn redis_down_answers_503_fast_where_needed_and_recovers() {
    if !backends().contains(&Backend::Shared) {
        eprintln!("skipping: needs TEST_DATABASE_URL and TEST_REDIS_URL");
        return;
    }
    let redis_url = std::env::var("TEST_REDIS_URL").unwrap();
    let proxy = Proxy::start(socket_of(&redis_url)).await;
    let server = TestServer::spawn_with(Backend::Shared, &[("REDIS_URL", &via_port(&redis_url, proxy.port))]).await;
    let redirect = "https://app.example/callback";
    let (id, _) = server.confidential(redirect).await;
    let (machine, machine_secret) = server
        .client(ClientSpec {
            name: "Worker".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["orders:read".into()],
            ..Default::default()
        })
        .await;
    let machine_secret = machine_secret.unwrap();
    proxy.cut();
    let started = Instant::now();
    let res = browser()
        .get(format!(
            "{}?response_type=code&client_id={id}&redirect_uri={}&scope=openid&state=s",
            server.url("/authorize"),
            url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "/authorize took {took:?}");
    // The client is proven, so the error goes back to it (RFC 6749 §4.1.2.1).
    let loc = location(&res);
    assert_eq!(query_param(&loc, "error").as_deref(), Some("temporarily_unavailable"), "{loc}");
    eprintln!("Redis down: /authorize answered in {took:?}");
    let cc = http()
        .post(server.url("/token"))
        .basic_auth(&machine, Some(&machine_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(cc.status(), 200, "client credentials need no Redis");
    let started = Instant::now();
    let health = http().get(server.url("/healthz")).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(health.status(), 503);
    assert_eq!(json(health).await["failing"], serde_json::json!(["redis"]));
    let _back = Proxy::start_on(proxy.port, socket_of(&redis_url)).await;
    let started = Instant::now();
    while http().get(server.url("/healthz")).send().await.unwrap().status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(10), "Redis did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = browser()
        .get(format!(
            "{}?response_type=code&client_id={id}&redirect_uri={}&scope=openid&state=s",
            server.url("/authorize"),
            url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/login"), "sign-in works again");
}
