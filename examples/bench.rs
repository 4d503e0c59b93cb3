//! The benchmark driver used by bench/run.sh. Not a test: it reports rates.
//!
//!   bench sign SECONDS ALG             signatures/s of our signing code (RS256,
//!                                      ES256 or EdDSA),
//!                                      on one core and on all cores
//!   bench token BASE CLIENT SECRET USER PASSWORD
//!                                      one sign-in; prints the access token
//!   bench roundtrip BASE CLIENT SECRET USER PASSWORD SECONDS CONCURRENCY MODE
//!                                      authorization-code round trips/s;
//!                                      MODE is `signed-in` (consent remembered,
//!                                      sign-in excluded) or `sign-in` (a fresh
//!                                      browser signs in every time)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn main() {
    latchkey::install_crypto_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sign") => sign(
            args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3),
            args.get(2).map(String::as_str).unwrap_or("RS256"),
        ),
        Some("token") if args.len() == 6 => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            let token = rt
                .block_on(one(&browser(), &args[1], &args[2], &args[3], &args[4], &args[5]))
                .expect("no access token");
            println!("{token}");
        }
        Some("roundtrip") if args.len() == 9 => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(roundtrip(&args[1..]));
        }
        _ => {
            eprintln!(
                "usage: bench sign SECONDS | bench roundtrip BASE CLIENT SECRET USER PASSWORD SECONDS CONCURRENCY MODE"
            );
            std::process::exit(2);
        }
    }
}

fn sign(seconds: u64, alg: &str) {
    let stored = latchkey::keys::generate_alg(alg, 0).expect("key");
    let key = Arc::new(latchkey::keys::SigningKey::from_stored(&stored).expect("key"));
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080", "sub": "client", "aud": "http://127.0.0.1:8080",
        "exp": 2_000_000_000, "iat": 1_700_000_000, "jti": "abcdefghijklmnopqrstuv",
        "client_id": "client", "scope": "orders:read", "gid": "abcdefghijklmnopqrstuv"
    });
    let run = |threads: usize| {
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let key = key.clone();
                let done = done.clone();
                let claims = claims.clone();
                std::thread::spawn(move || {
                    while Instant::now() < deadline {
                        key.sign("at+jwt", &claims).expect("sign");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        done.load(Ordering::Relaxed) as f64 / seconds as f64
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("sign {alg} {:.0} {:.0} {cores}", run(1), run(cores));
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

fn input(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    Some(html[start..].split('"').next()?.to_string())
}

fn location(res: &reqwest::Response) -> Option<String> {
    res.headers().get("location")?.to_str().ok().map(str::to_string)
}

fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with('/') { format!("{base}{loc}") } else { loc.to_string() }
}

/// One authorization: /authorize → (sign-in) → (consent) → code → /token.
/// Returns the access token.
async fn one(
    b: &reqwest::Client, base: &str, client: &str, secret: &str, user: &str, password: &str,
) -> Option<String> {
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id={client}&redirect_uri=https%3A%2F%2Fbench.example%2Fcb&scope=openid&state=s"
    );
    let mut res = b.get(&authorize).send().await.ok()?;
    let mut code = None;
    for _ in 0..6 {
        let loc = location(&res)?;
        if loc.starts_with("https://bench.example/cb") {
            let url = url::Url::parse(&loc).ok()?;
            code = url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
            break;
        }
        let target = absolute(base, &loc);
        res = b.get(&target).send().await.ok()?;
        if res.status() == 200 && target.contains("/login") {
            let html = res.text().await.ok()?;
            let form = [
                ("csrf", input(&html, "csrf")?),
                ("request", input(&html, "request")?),
                ("username", user.to_string()),
                ("password", password.to_string()),
            ];
            res = b.post(format!("{base}/login")).form(&form).send().await.ok()?;
        } else if res.status() == 200 && target.contains("/consent") {
            let html = res.text().await.ok()?;
            let form = [
                ("csrf", input(&html, "csrf")?),
                ("request", input(&html, "request")?),
                ("decision", "allow".to_string()),
            ];
            res = b.post(format!("{base}/consent")).form(&form).send().await.ok()?;
        }
    }
    let code = code?;
    let res = b
        .post(format!("{base}/token"))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "https://bench.example/cb")])
        .send()
        .await
        .ok()?;
    if res.status() != 200 {
        return None;
    }
    let body: serde_json::Value = res.json().await.ok()?;
    body["access_token"].as_str().map(str::to_string)
}

async fn roundtrip(args: &[String]) {
    let (base, client, secret, user, password) = (&args[0], &args[1], &args[2], &args[3], &args[4]);
    let seconds: u64 = args[5].parse().expect("seconds");
    let concurrency: usize = args[6].parse().expect("concurrency");
    let sign_in_each_time = args[7] == "sign-in";
    // Warm up: one signed-in browser per task, consent already remembered.
    let mut browsers = Vec::new();
    for _ in 0..concurrency {
        let b = browser();
        one(&b, base, client, secret, user, password).await.expect("warm-up round trip failed");
        browsers.push(b);
    }
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for b in browsers {
        let (ok, failed) = (ok.clone(), failed.clone());
        let (base, client, secret, user, password) =
            (base.clone(), client.clone(), secret.clone(), user.clone(), password.clone());
        tasks.push(tokio::spawn(async move {
            let mut b = b;
            while Instant::now() < deadline {
                if sign_in_each_time {
                    b = browser();
                }
                match one(&b, &base, &client, &secret, &user, &password).await {
                    Some(_) => ok.fetch_add(1, Ordering::Relaxed),
                    None => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    println!("roundtrip {:.1} {}", ok.load(Ordering::Relaxed) as f64 / seconds as f64, failed.load(Ordering::Relaxed));
}
