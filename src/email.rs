//! Sending email: SMTP through `lettre` when `LATCHKEY_SMTP_URL` is set;
//! otherwise a dev outbox (one `.eml` file per message, and a log line with
//! the text), so a newcomer without a mail server can still follow a reset
//! or verification link.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::crypto::{Secret, random_token};

#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// `smtp://[user:pass@]host[:port]` (STARTTLS required unless the host is
    /// loopback), `smtps://…` (TLS from the start), or
    /// `smtp://host:port?tls=none` (plain, loopback hosts only, for a local
    /// relay or a test sink). None: the dev outbox.
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
    /// Never carries the URL itself: it may hold the password.
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
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, described: String },
    Outbox(PathBuf),
}

/// Send + Sync (checked in the tests): one per process, shared in an `Arc`.
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
    password: Option<Secret>,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Tls {
    /// The server must offer STARTTLS; a downgrade by a network attacker
    /// who strips the extension then fails instead of sending in clear.
    Starttls,
    /// `smtp://` to a loopback host: upgrade if offered, else plain. The
    /// connection never leaves the machine, so there is nothing to strip.
    Opportunistic,
    Implicit,
    None,
}

fn parse_smtp_url(raw: &str) -> Result<SmtpTarget, EmailError> {
    let url = url::Url::parse(raw).map_err(|e| EmailError::Url(e.to_string()))?;
    let host = url.host_str().ok_or_else(|| EmailError::Url("no host".into()))?.trim_matches(['[', ']']).to_string();
    // smtp: is not a special scheme, so the url crate keeps its host as text.
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let plain_asked = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
    let tls = match (url.scheme(), plain_asked) {
        ("smtps", false) => Tls::Implicit,
        ("smtp", false) if loopback => Tls::Opportunistic,
        ("smtp", false) => Tls::Starttls,
        ("smtp", true) => Tls::None,
        ("smtps", true) => return Err(EmailError::Url("smtps:// cannot be combined with tls=none".into())),
        (other, _) => return Err(EmailError::Url(format!("scheme `{other}`: expected smtp or smtps"))),
    };
    // Plain SMTP over a network would expose the password and every reset
    // link to anyone on the path; only a relay on this machine may skip TLS.
    if tls == Tls::None && !loopback {
        return Err(EmailError::Url("tls=none is only allowed for a relay on this machine (a loopback host)".into()));
    }
    let decode = |s: &str| {
        percent_decode(s).map_err(|_| EmailError::Url("credentials are not valid percent-encoded UTF-8".into()))
    };
    let user = match url.username() {
        "" => None,
        u => Some(decode(u)?),
    };
    let password = url.password().map(decode).transpose()?.map(Secret::new);
    // RFC 8314 §3.3: 465 for implicit TLS; RFC 6409 §3.1: 587 for submission.
    let port = url.port().unwrap_or(match tls {
        Tls::Implicit => 465,
        Tls::Starttls | Tls::Opportunistic => 587,
        Tls::None => 25,
    });
    Ok(SmtpTarget { host, port, tls, user, password })
}

/// The url crate leaves userinfo percent-encoded, and a password often holds
/// `@`, `:` or `/`, which must be encoded to sit in a URL at all.
/// A `%` not followed by two hex digits is kept as it is.
fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            (b'%', Some(hi), Some(lo)) => Some(hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

impl Mailer {
    pub fn new(config: &EmailConfig) -> Result<Self, EmailError> {
        let from: Mailbox = config.from.parse().map_err(|_| EmailError::Address(config.from.clone()))?;
        let transport = match &config.smtp_url {
            None => Transport::Outbox(config.outbox_dir.clone()),
            Some(url) => {
                let t = parse_smtp_url(url.expose())?;
                let builder = match t.tls {
                    Tls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&t.host),
                    Tls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&t.host),
                    Tls::Opportunistic => TlsParameters::new(t.host.clone()).map(|params| {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&t.host)
                            .tls(LettreTls::Opportunistic(params))
                    }),
                    Tls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&t.host)),
                }
                .map_err(|e| EmailError::Url(e.to_string()))?;
                // A relay that accepts the connection and then stalls must not
                // hold a sign-up or reset request open for minutes.
                let mut builder = builder.port(t.port).timeout(Some(Duration::from_secs(10)));
                if let Some(user) = &t.user {
                    let password = t.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                let tls = match t.tls {
                    Tls::Implicit => "TLS",
                    Tls::Starttls => "STARTTLS",
                    Tls::Opportunistic => "STARTTLS if offered",
                    Tls::None => "plain",
                };
                Transport::Smtp { transport: builder.build(), described: format!("smtp {}:{} ({tls})", t.host, t.port) }
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

    /// Plain text, UTF-8. lettre adds `Date` when the builder has none; the
    /// `Message-ID` is ours so it names our domain (RFC 5322 §3.6.4).
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
                    // `described` and lettre's error name the server and its
                    // reply, never the credentials.
                    tracing::warn!(server = %described, to = %email.to, error = %e, "sending email failed");
                    EmailError::Smtp(e.to_string())
                })?;
                tracing::info!(to = %email.to, subject = %email.subject, "email sent");
                Ok(())
            }
            Transport::Outbox(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let millis = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                // The random part keeps two messages in the same millisecond apart.
                let path = dir.join(format!("{millis}-{}.eml", random_token(6)));
                tokio::fs::write(&path, message.formatted()).await?;
                // The dev outbox exists so that someone trying Latchkey on a
                // laptop without a mail server can still click the reset or
                // verification link: so the text, links included, goes to the
                // log. With SMTP configured this never runs and bodies are
                // never logged.
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

    // The state holds one Mailer behind an Arc and handlers run on many threads.
    const _: () = {
        const fn shared<T: Send + Sync>() {}
        shared::<Mailer>();
    };

    #[test]
    fn smtp_urls() {
        let t = parse_smtp_url("smtp://ada%40x:p%3Ass%2F@mail.example.com").unwrap();
        assert_eq!(
            t,
            SmtpTarget {
                host: "mail.example.com".into(),
                port: 587,
                tls: Tls::Starttls,
                user: Some("ada@x".into()),
                password: Some(Secret::new("p:ss/")),
            }
        );
        let t = parse_smtp_url("smtps://mail.example.com").unwrap();
        assert_eq!((t.tls, t.port), (Tls::Implicit, 465));
        assert_eq!(parse_smtp_url("smtps://mail.example.com:2465").unwrap().port, 2465);
        let t = parse_smtp_url("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((t.tls, t.port, t.user), (Tls::None, 2525, None));
        assert_eq!(parse_smtp_url("smtp://[::1]:2525?tls=none").unwrap().host, "::1");
        assert_eq!(parse_smtp_url("smtp://LocalHost?tls=none").unwrap().port, 25);
        // Loopback without tls=none: STARTTLS when offered, not demanded.
        assert_eq!(parse_smtp_url("smtp://localhost:25").unwrap().tls, Tls::Opportunistic);
        assert_eq!(parse_smtp_url("smtp://10.0.0.1").unwrap().tls, Tls::Starttls);
        assert!(parse_smtp_url("smtp://mail.example.com?tls=none").is_err(), "plain only on loopback");
        assert!(parse_smtp_url("smtp://192.168.1.5:25?tls=none").is_err());
        assert!(parse_smtp_url("smtps://127.0.0.1?tls=none").is_err());
        assert!(parse_smtp_url("http://mail.example.com").is_err());
        assert!(parse_smtp_url("not a url").is_err());
        assert!(parse_smtp_url("smtp://u:%FF@mail.example.com").is_err(), "not UTF-8");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2fc").unwrap(), "a b/c");
        assert_eq!(percent_decode("%C3%A9").unwrap(), "é");
        // Not an escape: kept as written.
        assert_eq!(percent_decode("100%").unwrap(), "100%");
        assert_eq!(percent_decode("%+1%zz%4").unwrap(), "%+1%zz%4");
    }

    #[test]
    fn describe_and_errors_never_show_the_password() {
        let config = EmailConfig {
            smtp_url: Some(Secret::new("smtps://ada:hunter2@mail.example.com")),
            from: "Latchkey <no-reply@example.com>".into(),
            outbox_dir: PathBuf::from("unused"),
        };
        let mailer = Mailer::new(&config).unwrap();
        assert_eq!(mailer.describe(), "smtp mail.example.com:465 (TLS)");
        assert!(!format!("{config:?}").contains("hunter2"));
        let bad = EmailConfig { smtp_url: Some(Secret::new("smtp://ada:hunter2@mail.example.com?tls=none")), ..config };
        let error = Mailer::new(&bad).err().unwrap().to_string();
        assert!(!error.contains("hunter2"), "{error}");
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
        assert_eq!(mailer.describe(), format!("outbox {}", dir.path().join("outbox").display()));
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
        let path = files[0].as_ref().unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        let (millis, rest) = name.split_once('-').unwrap();
        assert!(millis.parse::<u128>().is_ok() && rest.ends_with(".eml"), "{name}");

        // RFC 5322 §2.1: header fields, an empty line, then the body.
        let text = std::fs::read_to_string(&path).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut headers = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                continue; // a folded continuation of the previous field
            }
            let (name, value) = line.split_once(": ").unwrap_or_else(|| panic!("not a header field: {line:?}"));
            headers.push((name.to_ascii_lowercase(), value.to_string()));
        }
        let header = |n: &str| {
            headers
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {n} in {text}"))
        };
        assert_eq!(header("to"), "ada@example.com");
        assert_eq!(header("subject"), "Hello there");
        assert_eq!(header("from"), "Latchkey <no-reply@localhost>");
        assert!(header("message-id").ends_with("@localhost>"));
        assert!(!header("date").is_empty());
        assert_eq!(header("content-type"), "text/plain; charset=utf-8");
        assert!(body.contains("token=abc"), "{body}");

        assert!(
            Mailer::new(&EmailConfig { smtp_url: None, from: "not an address".into(), outbox_dir: dir.path().into() })
                .is_err()
        );
        let to_nobody = mailer.send(&Email { to: "nobody".into(), subject: "x".into(), text: "x".into() }).await;
        assert!(matches!(to_nobody, Err(EmailError::Address(_))));
    }
}
