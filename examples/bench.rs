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
//!   bench keygen DIR                   an ES256 client key: DIR/jwks.json
//!                                      (to register) and DIR/key.p8
//!   bench cc BASE CLIENT SECRET SECONDS CONCURRENCY MODE [KEYDIR]
//!                                      client_credentials requests/s, each
//!                                      request with its own credentials,
//!                                      signed before the clock starts: MODE
//!                                      `basic` (client_secret_basic),
//!                                      `private_key_jwt` (an ES256
//!                                      assertion by the key in KEYDIR) or
//!                                      `dpop` (Basic and an ES256 DPoP proof)

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
        Some("keygen") if args.len() == 2 => keygen(std::path::Path::new(&args[1])),
        Some("cc") if args.len() >= 7 => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(cc(&args[1..]));
        }
        _ => {
            eprintln!(
                "usage: bench sign SECONDS | bench roundtrip BASE CLIENT SECRET USER PASSWORD SECONDS CONCURRENCY MODE | bench keygen DIR | bench cc BASE CLIENT SECRET SECONDS CONCURRENCY MODE [KEYDIR]"
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

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use latchkey::crypto::{b64url, random_token};

/// An ES256 key as a client holds it: the pair, its kid, its public JWK.
struct ClientKey {
    pair: EcdsaKeyPair,
    kid: String,
    jwk: serde_json::Value,
}

impl ClientKey {
    fn from_pkcs8(der: &[u8]) -> Self {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).expect("ES256 key");
        let point = pair.public_key().as_ref().to_vec();
        let jwk =
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..])});
        let kid = latchkey::keys::thumbprint(&jwk);
        Self { pair, kid, jwk }
    }

    fn generate() -> (Self, Vec<u8>) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("keygen");
        (Self::from_pkcs8(doc.as_ref()), doc.as_ref().to_vec())
    }

    fn sign(&self, header: &serde_json::Value, claims: &serde_json::Value) -> String {
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.pair.sign(&rng, input.as_bytes()).expect("sign");
        format!("{input}.{}", b64url(sig.as_ref()))
    }
}

fn keygen(dir: &std::path::Path) {
    let (key, der) = ClientKey::generate();
    let mut jwk = key.jwk.clone();
    jwk["kid"] = key.kid.clone().into();
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(dir.join("jwks.json"), serde_json::json!({ "keys": [jwk] }).to_string()).expect("jwks");
    std::fs::write(dir.join("key.p8"), der).expect("key");
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

async fn cc(args: &[String]) {
    let (base, client, secret) = (args[0].clone(), args[1].clone(), args[2].clone());
    let seconds: u64 = args[3].parse().expect("seconds");
    let concurrency: usize = args[4].parse().expect("concurrency");
    let mode = args[5].clone();
    let token_url = format!("{base}/token");
    // Enough single-use credentials for the run, made before it starts, so
    // the client's signing does not compete with the server for the CPU.
    let budget = 20_000 * seconds as usize;
    let issuer = base.clone();
    let credentials: Vec<String> = match mode.as_str() {
        "basic" => Vec::new(),
        "private_key_jwt" => {
            let der = std::fs::read(std::path::Path::new(&args[6]).join("key.p8")).expect("key file");
            let key = ClientKey::from_pkcs8(&der);
            let header = serde_json::json!({"alg": "ES256", "kid": key.kid});
            let t = now();
            (0..budget)
                .map(|_| {
                    let claims = serde_json::json!({"iss": client, "sub": client, "aud": issuer, "iat": t, "exp": t + 280, "jti": random_token(12)});
                    key.sign(&header, &claims)
                })
                .collect()
        }
        "dpop" => {
            let (key, _) = ClientKey::generate();
            let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
            let t = now();
            (0..budget)
                .map(|_| {
                    let claims =
                        serde_json::json!({"jti": random_token(12), "htm": "POST", "htu": token_url, "iat": t});
                    key.sign(&header, &claims)
                })
                .collect()
        }
        other => panic!("unknown mode {other}"),
    };
    let credentials = Arc::new(credentials);
    let next = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, ok, failed, next, credentials) =
            (http.clone(), ok.clone(), failed.clone(), next.clone(), credentials.clone());
        let (token_url, client, secret, mode) = (token_url.clone(), client.clone(), secret.clone(), mode.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let mut req = http.post(&token_url);
                let form: Vec<(&str, &str)> = match mode.as_str() {
                    "private_key_jwt" => {
                        let Some(assertion) = credentials.get(i) else { break };
                        vec![
                            ("grant_type", "client_credentials"),
                            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                            ("client_assertion", assertion),
                        ]
                    }
                    "dpop" => {
                        let Some(proof) = credentials.get(i) else { break };
                        req = req.basic_auth(&client, Some(&secret)).header("DPoP", proof);
                        vec![("grant_type", "client_credentials")]
                    }
                    _ => {
                        req = req.basic_auth(&client, Some(&secret));
                        vec![("grant_type", "client_credentials")]
                    }
                };
                match req.form(&form).send().await {
                    Ok(res) if res.status() == 200 => {
                        let _ = res.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64().max(0.001);
    println!("cc {mode} {:.0} {}", ok.load(Ordering::Relaxed) as f64 / elapsed, failed.load(Ordering::Relaxed));
}
