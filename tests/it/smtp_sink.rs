//! A mail server for tests: enough of RFC 5321 (no TLS, no AUTH) for lettre
//! to deliver to it, keeping every message it receives.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-stuffing undone.
    pub data: String,
}

pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
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

async fn session(stream: tokio::net::TcpStream, messages: Arc<Mutex<Vec<Received>>>) -> std::io::Result<()> {
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
            "EHLO" => write.write_all(b"250-sink.test\r\n250 8BITMIME\r\n").await?,
            "HELO" => write.write_all(b"250 sink.test\r\n").await?,
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
                messages.lock().unwrap().push(Received {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
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
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(stream, store).await;
                });
            }
        });
        Self { port, messages, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) for at least `n` messages.
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
    latchkey::install_crypto_provider();
    let sink = SmtpSink::start().await;
    let mailer = latchkey::email::Mailer::new(&latchkey::email::EmailConfig {
        smtp_url: Some(latchkey::crypto::Secret::new(sink.url())),
        from: "Latchkey <no-reply@latchkey.test>".into(),
        outbox_dir: std::env::temp_dir(),
    })
    .unwrap();
    assert!(mailer.describe().contains("plain"));
    mailer
        .send(&latchkey::email::Email {
            to: "ada@example.com".into(),
            subject: "Sink test".into(),
            text: "Hello from the test.\n.leading dot\n".into(),
        })
        .await
        .unwrap();
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].from, "no-reply@latchkey.test");
    assert_eq!(got[0].to, ["ada@example.com"]);
    assert!(got[0].data.contains("Subject: Sink test"), "{}", got[0].data);
    assert!(got[0].data.contains("Hello from the test."));
    assert!(got[0].data.contains("\n.leading dot"), "dot-stuffing undone");
}
