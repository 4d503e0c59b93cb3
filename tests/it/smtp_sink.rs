//! A mail server for tests: enough of RFC 5321 (no TLS; AUTH PLAIN only, so
//! a test can see the credentials the mailer took from its URL) for lettre to
//! deliver to it, keeping every message it receives.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-stuffing undone.
    pub data: String,
}

#[derive(Default)]
struct Mailbag {
    messages: Vec<Received>,
    /// (user, password) of each successful AUTH, in order.
    logins: Vec<(String, String)>,
}

pub struct SmtpSink {
    pub port: u16,
    bag: Arc<Mutex<Mailbag>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn address(arg: &str) -> String {
    let a = arg.split_once(':').map(|(_, v)| v).unwrap_or(arg).trim();
    a.trim_start_matches('<').split('>').next().unwrap_or("").to_string()
}

/// RFC 4616: base64 of `authzid NUL authcid NUL passwd`.
fn plain_login(response: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(response.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split('\0');
    let (_authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    Some((user.to_string(), password.to_string()))
}

async fn session(stream: tokio::net::TcpStream, bag: Arc<Mutex<Mailbag>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            // No STARTTLS: lettre then sends in clear, which it only does for
            // `?tls=none` or a loopback host.
            "EHLO" => write.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n").await?,
            "HELO" => write.write_all(b"250 sink.test\r\n").await?,
            "AUTH" => {
                let mut args = command.split_whitespace().skip(1);
                if !args.next().is_some_and(|m| m.eq_ignore_ascii_case("PLAIN")) {
                    write.write_all(b"504 Unrecognized authentication type\r\n").await?;
                    continue;
                }
                // The credentials come with the command or after an empty challenge.
                let response = match args.next() {
                    Some(initial) => initial.to_string(),
                    None => {
                        write.write_all(b"334 \r\n").await?;
                        line.clear();
                        lines.read_line(&mut line).await?;
                        line.clone()
                    }
                };
                match plain_login(&response) {
                    Some(login) => {
                        bag.lock().unwrap().logins.push(login);
                        write.write_all(b"235 Authentication successful\r\n").await?;
                    }
                    None => write.write_all(b"501 Malformed AUTH PLAIN response\r\n").await?,
                }
            }
            "MAIL" => {
                from = address(&command[4..]);
                to.clear();
                write.write_all(b"250 OK\r\n").await?;
            }
            "RCPT" => {
                to.push(address(&command[4..]));
                write.write_all(b"250 OK\r\n").await?;
            }
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line.trim_end_matches(['\r', '\n']) == "." {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                bag.lock().unwrap().messages.push(Received { from: from.clone(), to: std::mem::take(&mut to), data });
                write.write_all(b"250 OK: queued\r\n").await?;
            }
            "RSET" => {
                from.clear();
                to.clear();
                write.write_all(b"250 OK\r\n").await?;
            }
            "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 Command not implemented\r\n").await?,
        }
    }
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let bag = Arc::new(Mutex::new(Mailbag::default()));
        let store = bag.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(stream, store).await;
                });
            }
        });
        Self { port, bag, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.bag.lock().unwrap().messages.clone()
    }

    /// The (user, password) of every successful AUTH so far.
    pub fn logins(&self) -> Vec<(String, String)> {
        self.bag.lock().unwrap().logins.clone()
    }

    /// Waits (up to 5 s) until at least `n` messages arrived, then returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..100 {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} messages, got {:?}", self.messages());
    }
}

#[tokio::test]
async fn mailer_delivers_to_the_smtp_sink() {
    use latchkey::email::{Email, EmailConfig, Mailer};

    latchkey::install_crypto_provider();
    let sink = SmtpSink::start().await;
    let config = EmailConfig {
        smtp_url: Some(latchkey::crypto::Secret::new(sink.url())),
        from: "Latchkey <no-reply@latchkey.test>".into(),
        outbox_dir: std::env::temp_dir(),
    };
    let mailer = Mailer::new(&config).unwrap();
    assert_eq!(mailer.describe(), format!("smtp 127.0.0.1:{} (plain)", sink.port));
    mailer
        .send(&Email {
            to: "ada@example.com".into(),
            subject: "Sink test".into(),
            text: "Hello from the test.\n.leading dot\n".into(),
        })
        .await
        .unwrap();
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].from, "no-reply@latchkey.test");
    assert_eq!(got[0].to, ["ada@example.com"]);
    let data = &got[0].data;
    let (head, body) = data.split_once("\r\n\r\n").expect("headers, a blank line, the body");
    for field in [
        "From: Latchkey <no-reply@latchkey.test>",
        "To: ada@example.com",
        "Subject: Sink test",
        "Content-Type: text/plain; charset=utf-8",
    ] {
        assert!(head.split("\r\n").any(|l| l == field), "{field} missing in {data}");
    }
    assert!(head.contains("\r\nDate: ") || head.starts_with("Date: "), "{data}");
    assert!(head.contains("Message-ID: <") && head.contains("@latchkey.test>"), "{data}");
    assert!(body.contains("Hello from the test."), "{body}");
    assert!(body.contains("\n.leading dot"), "dot-stuffing undone: {body}");
    assert!(sink.logins().is_empty(), "no credentials in the URL, no AUTH");

    // Loopback without `tls=none`: STARTTLS is not offered, so lettre goes on
    // in clear; the credentials come from the URL, percent-decoded.
    let mailer = Mailer::new(&EmailConfig {
        smtp_url: Some(latchkey::crypto::Secret::new(format!(
            "smtp://relay%40latchkey.test:p%40ss%3Aword@127.0.0.1:{}",
            sink.port
        ))),
        ..config
    })
    .unwrap();
    assert!(!mailer.describe().contains("p%40ss"), "{}", mailer.describe());
    mailer
        .send(&Email { to: "grace@example.com".into(), subject: "Second".into(), text: "Again.".into() })
        .await
        .unwrap();
    let got = sink.wait_for(2).await;
    assert_eq!(got[1].to, ["grace@example.com"]);
    assert_eq!(sink.logins(), [("relay@latchkey.test".to_string(), "p@ss:word".to_string())]);
}
