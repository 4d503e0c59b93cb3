//! Sending email: SMTP through `lettre` when `LATCHKEY_SMTP_URL` is set;
//! otherwise a dev outbox (one `.eml` file per message, and a log line with
//! the text), so a newcomer without a mail server can still follow a reset
//! or verification link.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::crypto::{Secret, random_token};

#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// `smtp://[user:pass@]host[:port]` (STARTTLS required),
    /// `smtps://…` (TLS from the start), or `smtp://host:port?tls=none`
    /// (plain, loopback hosts only). None: the dev outbox.
    pub smtp_url: Option<Secret>,
    pub from: String,
    pub outbox_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("invalid address `{0}`")]
    Address(String),
    #[error("LATCHKEY_SMTP_URL: {0}")]
    Url(String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("outbox: {0}")]
    Io(#[from] std::io::Error),
}

enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        described: String,
    },
    Outbox(PathBuf),
}

pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

/// What an SMTP URL asks for, checked before anything is sent.
#[derive(Debug, PartialEq, Eq)]
struct SmtpTarget {
    host: String,
    port: u16,
    tls: Tls,
    user: Option<String>,
    password: Option<String>,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Tls {
    Starttls,
    Implicit,
    None,
}

fn parse_smtp_url(raw: &str) -> Result<SmtpTarget, EmailError> {
    let url = url::Url::parse(raw).map_err(|e| EmailError::Url(e.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| EmailError::Url("no host".into()))?
        .trim_matches(['[', ']'])
        .to_string();
    let plain_asked = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
    let tls = match (url.scheme(), plain_asked) {
        ("smtps", false) => Tls::Implicit,
        ("smtp", false) => Tls::Starttls,
        ("smtp", true) => Tls::None,
        ("smtps", true) => return Err(EmailError::Url("smtps:// cannot be combined with tls=none".into())),
        (other, _) => return Err(EmailError::Url(format!("scheme `{other}`: expected smtp or smtps"))),
    };
    // smtp: is not a special scheme, so the url crate keeps its host as text.
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if tls == Tls::None && !loopback {
        return Err(EmailError::Url(
            "tls=none is only allowed for a relay on this machine (a loopback host)".into(),
        ));
    }
    let decode = |s: &str| {
        percent_decode(s).map_err(|_| EmailError::Url("credentials are not valid percent-encoded UTF-8".into()))
    };
    let user = match url.username() {
        "" => None,
        u => Some(decode(u)?),
    };
    let password = url.password().map(decode).transpose()?;
    let port = url.port().unwrap_or(match tls {
        Tls::Implicit => 465,
        Tls::Starttls => 587,
        Tls::None => 25,
    });
    Ok(SmtpTarget {
        host,
        port,
        tls,
        user,
        password,
    })
}

fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out)
}

impl Mailer {
    pub fn new(config: &EmailConfig) -> Result<Self, EmailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| EmailError::Address(config.from.clone()))?;
        let transport = match &config.smtp_url {
            None => Transport::Outbox(config.outbox_dir.clone()),
            Some(url) => {
                let t = parse_smtp_url(url.expose())?;
                let builder = match t.tls {
                    Tls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&t.host),
                    Tls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&t.host),
                    Tls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&t.host)),
                }
                .map_err(|e| EmailError::Url(e.to_string()))?;
                let mut builder = builder.port(t.port).timeout(Some(Duration::from_secs(10)));
                if let Some(user) = &t.user {
                    builder =
                        builder.credentials(Credentials::new(user.clone(), t.password.clone().unwrap_or_default()));
                }
                let tls = match t.tls {
                    Tls::Implicit => "TLS",
                    Tls::Starttls => "STARTTLS",
                    Tls::None => "plain",
                };
                Transport::Smtp {
                    transport: builder.build(),
                    described: format!("smtp {}:{} ({tls})", t.host, t.port),
                }
            }
        };
        Ok(Self { from, transport })
    }

    /// For the start-up log line; never shows credentials.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp { described, .. } => described.clone(),
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
        }
    }

    fn message(&self, email: &Email) -> Result<Message, EmailError> {
        let to: Mailbox = email.to.parse().map_err(|_| EmailError::Address(email.to.clone()))?;
        let domain = self.from.email.domain().to_string();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(format!("<{}@{domain}>", random_token(16))))
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone())
            .map_err(|e| EmailError::Build(e.to_string()))
    }

    pub async fn send(&self, email: &Email) -> Result<(), EmailError> {
        let message = self.message(email)?;
        match &self.transport {
            Transport::Smtp { transport, described } => {
                transport.send(message).await.map_err(|e| {
                    tracing::warn!(server = %described, error = %e, "sending email failed");
                    EmailError::Smtp(e.to_string())
                })?;
                tracing::info!(to = %email.to, subject = %email.subject, "email sent");
                Ok(())
            }
            Transport::Outbox(dir) => {
                std::fs::create_dir_all(dir)?;
                let millis = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                let path = dir.join(format!("{millis}-{}.eml", random_token(6)));
                std::fs::write(&path, message.formatted())?;
                // Development mode: the text, links included, goes to the log
                // so the person at the terminal can follow it.
                tracing::info!(
                    to = %email.to,
                    subject = %email.subject,
                    file = %path.display(),
                    "email written to the outbox (no SMTP configured):\n{}",
                    email.text
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let t = parse_smtp_url("smtp://ada%40x:p%3Ass@mail.example.com").unwrap();
        assert_eq!(
            t,
            SmtpTarget {
                host: "mail.example.com".into(),
                port: 587,
                tls: Tls::Starttls,
                user: Some("ada@x".into()),
                password: Some("p:ss".into()),
            }
        );
        assert_eq!(parse_smtp_url("smtps://mail.example.com").unwrap().port, 465);
        assert_eq!(parse_smtp_url("smtp://127.0.0.1:2525?tls=none").unwrap().tls, Tls::None);
        assert!(
            parse_smtp_url("smtp://mail.example.com?tls=none").is_err(),
            "plain only on loopback"
        );
        assert!(parse_smtp_url("http://mail.example.com").is_err());
        assert!(parse_smtp_url("not a url").is_err());
    }

    #[tokio::test]
    async fn the_outbox_keeps_each_message() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(&EmailConfig {
            smtp_url: None,
            from: "Latchkey <no-reply@localhost>".into(),
            outbox_dir: dir.path().join("outbox"),
        })
        .unwrap();
        assert!(mailer.describe().starts_with("outbox "));
        mailer
            .send(&Email {
                to: "ada@example.com".into(),
                subject: "Hello there".into(),
                text: "Open https://id.example/x?token=abc".into(),
            })
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox")).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(text.contains("To: ada@example.com"), "{text}");
        assert!(text.contains("Subject: Hello there"));
        assert!(text.contains("token=abc"));
        assert!(
            Mailer::new(&EmailConfig {
                smtp_url: None,
                from: "not an address".into(),
                outbox_dir: dir.path().into(),
            })
            .is_err()
        );
    }
}
