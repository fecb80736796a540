//! The SMTP [`Mailer`]: lettre's SMTP client behind crmcore's mail port, over a small pool of
//! connections whose sockets have `TCP_NODELAY` set (see `pool`).
//!
//! - [`SmtpSettings`] name the server (host, port, [`TlsMode`], credentials, timeouts, pool
//!   size); [`SmtpSettings::from_url`] reads `smtp://user:pass@host:587?tls=starttls`.
//! - [`SmtpMailer::send`] builds `multipart/alternative` (text + HTML) with the message's own
//!   `Message-ID` and extra headers. A header, subject or address carrying CR or LF (header
//!   injection), or an extra header that would replace a structural one (`From`, `Bcc`, …), is
//!   refused as [`MailError::Permanent`] before anything is sent.
//! - Replies map onto the port's errors: 4xx → [`MailError::Transient`], 5xx →
//!   [`MailError::Permanent`], connection, TLS and timeout failures → transient. The receipt
//!   carries the server's final reply (`250 2.0.0 Ok: queued as …`).
//! - `sink` (feature `smtp-sink`): a small loopback SMTP server for tests and benchmarks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use crmcore::CrmError;
use crmcore::ports::{EmailMessage, MailError, Mailer, SendReceipt};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::TlsParameters;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use self::pool::{Connector, Pool, Security};
use crate::settings::Secret;

mod pool;
#[cfg(feature = "smtp-sink")]
pub mod sink;

/// How the connection to the server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain connection, then `STARTTLS`, which the server MUST offer (port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No encryption: only for a relay on the same host or a trusted network.
    None,
}

impl TlsMode {
    /// Parses `starttls`, `implicit` (or `tls`, `smtps`) and `none` (or `plain`).
    pub fn parse(raw: &str) -> Result<Self, CrmError> {
        match raw.to_ascii_lowercase().as_str() {
            "starttls" | "required" => Ok(TlsMode::StartTls),
            "implicit" | "tls" | "smtps" | "wrapper" => Ok(TlsMode::Implicit),
            "none" | "plain" | "off" => Ok(TlsMode::None),
            other => Err(CrmError::invalid("smtp.tls", "invalid", format!("unknown TLS mode `{other}`"))),
        }
    }

    /// The usual port of the mode: 587, 465 or 25.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::StartTls => 587,
            TlsMode::Implicit => 465,
            TlsMode::None => 25,
        }
    }
}

/// Where and how to deliver mail. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Server host name (also the name its TLS certificate must carry).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub tls: TlsMode,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<Secret>,
    /// Limit on connecting (TCP, TLS, greeting, `EHLO`, login), and on each message's SMTP
    /// transaction (`NOOP` check, `MAIL`, `RCPT`, `DATA`).
    pub timeout: Duration,
    /// Most connections open at once; each carries one message at a time.
    pub pool_size: u32,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl SmtpSettings {
    /// Settings for `host` with `tls`, on its usual port, no login, 30 s timeouts, 8 connections.
    pub fn new(host: impl Into<String>, tls: TlsMode) -> Self {
        Self {
            host: host.into(),
            port: tls.default_port(),
            tls,
            username: None,
            password: None,
            timeout: Duration::from_secs(30),
            pool_size: 8,
            idle_timeout: Duration::from_secs(60),
        }
    }

    /// Reads `smtp://[user[:password]@]host[:port][?tls=starttls|implicit|none]`; the scheme
    /// `smtps://` means implicit TLS. User and password are percent-decoded.
    pub fn from_url(raw: &str) -> Result<Self, CrmError> {
        let invalid = |why: String| CrmError::invalid("smtp_url", "invalid", why);
        let url = url::Url::parse(raw).map_err(|e| invalid(format!("not a URL: {e}")))?;
        let mut tls = match url.scheme() {
            "smtp" => TlsMode::StartTls,
            "smtps" => TlsMode::Implicit,
            other => return Err(invalid(format!("unsupported scheme `{other}` (use smtp or smtps)"))),
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" => tls = TlsMode::parse(&value)?,
                other => return Err(invalid(format!("unknown option `{other}`"))),
            }
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| invalid("no host".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut settings = Self::new(host, tls);
        if let Some(port) = url.port() {
            settings.port = port;
        }
        let decode = |s: &str| percent_decode(s).ok_or_else(|| invalid("bad percent-encoding".into()));
        if !url.username().is_empty() {
            settings.username = Some(decode(url.username())?);
            settings.password = url.password().map(decode).transpose()?.map(Secret::new);
        }
        Ok(settings)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8(bytes).ok()
}

/// Sends crmcore's mail over SMTP through a pool of connections.
#[derive(Clone)]
pub struct SmtpMailer {
    pool: Arc<Pool>,
    server: String,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").field("server", &self.server).finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `settings`. Connections open lazily, on the first send.
    pub fn new(settings: &SmtpSettings) -> Result<Self, CrmError> {
        let tls_error =
            |e: &dyn fmt::Display| CrmError::invalid("smtp.tls", "invalid", format!("TLS setup failed: {e}"));
        let security = match settings.tls {
            TlsMode::StartTls => {
                Security::StartTls(TlsParameters::new(settings.host.clone()).map_err(|e| tls_error(&e))?)
            }
            TlsMode::Implicit => {
                // As lettre's rustls setup: the ring provider, the web PKI roots.
                let mut roots = RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
                let config = ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| tls_error(&e))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let name = ServerName::try_from(settings.host.clone()).map_err(|e| tls_error(&e))?;
                Security::Implicit(TlsConnector::from(Arc::new(config)), name)
            }
            TlsMode::None => Security::None,
        };
        let credentials = settings.username.as_ref().map(|user| {
            let password = settings.password.as_ref().map(|p| String::from_utf8_lossy(p.expose()).into_owned());
            Credentials::new(user.clone(), password.unwrap_or_default())
        });
        let connector = Connector {
            host: settings.host.clone(),
            port: settings.port,
            security,
            credentials,
            hello: ClientId::default(),
            timeout: settings.timeout,
            idle_timeout: settings.idle_timeout,
        };
        Ok(Self {
            pool: Pool::new(connector, settings.pool_size.max(1) as usize),
            server: format!("{}:{}", settings.host, settings.port),
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &EmailMessage) -> Result<SendReceipt, MailError> {
        // Refused here, before any network I/O.
        let email = build_message(message)?;
        let response = self.pool.send(email.envelope(), &email.formatted()).await?;
        Ok(SendReceipt { message_id: message.message_id.clone(), response: describe(&response) })
    }
}

/// The reply as the server wrote it: `250 2.0.0 Ok: queued as 12`.
fn describe(response: &Response) -> String {
    let lines: Vec<&str> = response.message().collect();
    format!("{} {}", response.code(), lines.join(" "))
}

/// Headers the mailer writes itself; an extra header may not replace them.
const RESERVED_HEADERS: [&str; 14] = [
    "from",
    "to",
    "cc",
    "bcc",
    "sender",
    "reply-to",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "return-path",
    "received",
];

fn refuse(why: impl fmt::Display) -> MailError {
    MailError::Permanent(format!("message refused before sending: {why}"))
}

fn no_line_breaks(what: &str, value: &str) -> Result<(), MailError> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(refuse(format!("{what} contains a line break")));
    }
    Ok(())
}

/// The MIME message for `m`, or a permanent error when it could smuggle headers or lacks a body.
fn build_message(m: &EmailMessage) -> Result<Message, MailError> {
    no_line_breaks("From", &m.from)?;
    no_line_breaks("To", &m.to)?;
    no_line_breaks("Subject", &m.subject)?;
    no_line_breaks("Message-ID", &m.message_id)?;
    if m.message_id.is_empty() || m.message_id.contains(['<', '>', ' ', '\t']) || !m.message_id.contains('@') {
        return Err(refuse("Message-ID must look like `local@domain`, without angle brackets"));
    }
    let mailbox = |what: &str, raw: &str| raw.parse::<Mailbox>().map_err(|e| refuse(format!("invalid {what}: {e}")));
    let mut builder = Message::builder()
        .from(mailbox("From", &m.from)?)
        .to(mailbox("To", &m.to)?)
        .subject(m.subject.clone())
        .message_id(Some(format!("<{}>", m.message_id)));
    if let Some(reply_to) = &m.reply_to {
        no_line_breaks("Reply-To", reply_to)?;
        builder = builder.reply_to(mailbox("Reply-To", reply_to)?);
    }
    for (name, value) in &m.headers {
        no_line_breaks(&format!("header {name:?}"), name)?;
        no_line_breaks(&format!("header {name}"), value)?;
        if !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
            return Err(refuse(format!("invalid header name {name:?}")));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(refuse(format!("header {name} is set by the mailer")));
        }
        let header_name = HeaderName::new_from_ascii(name.clone()).map_err(|_| refuse("invalid header name"))?;
        builder = builder.raw_header(HeaderValue::new(header_name, value.clone()));
    }
    let built = match (&m.text, &m.html) {
        (Some(text), Some(html)) => builder.multipart(MultiPart::alternative_plain_html(text.clone(), html.clone())),
        (Some(text), None) => builder.singlepart(SinglePart::plain(text.clone())),
        (None, Some(html)) => {
            builder.singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html.clone()))
        }
        (None, None) => return Err(refuse("no text or HTML body")),
    };
    built.map_err(refuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> EmailMessage {
        EmailMessage {
            from: "Acme <news@acme.test>".into(),
            to: "bob@example.com".into(),
            reply_to: None,
            subject: "Hello".into(),
            html: Some("<p>Hi</p>".into()),
            text: Some("Hi".into()),
            message_id: "c1.r1@acme.test".into(),
            headers: vec![("List-Unsubscribe".into(), "<https://acme.test/u/x>".into())],
        }
    }

    #[test]
    fn settings_from_urls() {
        let s = SmtpSettings::from_url("smtp://ada%40acme.test:p%20w@mail.acme.test:2525?tls=none").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("mail.acme.test", 2525, TlsMode::None));
        assert_eq!(s.username.as_deref(), Some("ada@acme.test"));
        assert_eq!(s.password.as_ref().map(|p| p.expose().to_vec()), Some(b"p w".to_vec()));
        assert!(!format!("{s:?}").contains("p w"));
        let s = SmtpSettings::from_url("smtps://mail.acme.test").unwrap();
        assert_eq!((s.port, s.tls), (465, TlsMode::Implicit));
        assert_eq!(SmtpSettings::from_url("smtp://mail.acme.test").unwrap().port, 587);
        assert!(SmtpSettings::from_url("http://mail.acme.test").is_err());
        assert!(SmtpSettings::from_url("smtp://mail.acme.test?tls=maybe").is_err());
    }

    #[test]
    fn injection_attempts_are_permanent_errors() {
        type Edit = Box<dyn Fn(&mut EmailMessage)>;
        let cases: Vec<Edit> = vec![
            Box::new(|m| m.headers.push(("X-Campaign".into(), "1\r\nBcc: victim@example.com".into()))),
            Box::new(|m| m.headers.push(("X-Evil\nBcc".into(), "x".into()))),
            Box::new(|m| m.headers.push(("Bcc".into(), "victim@example.com".into()))),
            Box::new(|m| m.headers.push(("Bad Name".into(), "x".into()))),
            Box::new(|m| m.subject = "Hi\r\nBcc: victim@example.com".into()),
            Box::new(|m| m.to = "bob@example.com\r\nBcc: victim@example.com".into()),
            Box::new(|m| m.message_id = "x@y>\r\nBcc: v@e.com".into()),
            Box::new(|m| m.message_id = "<x@y>".into()),
            Box::new(|m| {
                m.html = None;
                m.text = None
            }),
        ];
        for (i, case) in cases.iter().enumerate() {
            let mut m = message();
            case(&mut m);
            assert!(matches!(build_message(&m), Err(MailError::Permanent(_))), "case {i}");
        }
        assert!(build_message(&message()).is_ok());
    }
}
