//! The mailer's connection pool: lettre's SMTP client ([`AsyncSmtpConnection`]) over tokio
//! sockets of our own, with `TCP_NODELAY` set.
//!
//! lettre writes a message's body and the closing `.` of `DATA` separately; with Nagle's
//! algorithm on, the small second write waits for the server to acknowledge the first, which a
//! server with delayed ACKs does only after ~40 ms. Owning the sockets lets the pool turn Nagle
//! off (lettre's own pooled transport gives no way to).
//!
//! - At most `size` connections exist at once (a semaphore); each carries one message at a time.
//! - A used connection goes back to the idle list unless it broke; an idle one is checked with
//!   `NOOP` before reuse (as lettre's pool does) and closed with `QUIT` once idle longer than
//!   `idle_timeout` (on checkout, and by a background sweep).
//! - Connecting (TCP, TLS, greeting, `EHLO`, `STARTTLS`, login) and each message's transaction
//!   are each bounded by `timeout`; a connection that timed out is dropped.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crmcore::ports::MailError;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// How a new connection is secured.
pub(super) enum Security {
    /// Plain text throughout.
    None,
    /// `STARTTLS` after the greeting, through lettre.
    StartTls(TlsParameters),
    /// TLS from the first byte, through tokio-rustls.
    Implicit(TlsConnector, ServerName<'static>),
}

/// Everything needed to open and log in a connection.
pub(super) struct Connector {
    /// Server host name.
    pub(super) host: String,
    /// Server port.
    pub(super) port: u16,
    /// Connection security.
    pub(super) security: Security,
    /// Login, if any.
    pub(super) credentials: Option<Credentials>,
    /// The name sent with `EHLO`.
    pub(super) hello: ClientId,
    /// Bound on connecting, and on each message's transaction.
    pub(super) timeout: Duration,
    /// How long an idle connection is kept.
    pub(super) idle_timeout: Duration,
}

/// Mechanisms tried for login, as lettre's transport does.
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

impl Connector {
    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let unreachable = |e: io::Error| MailError::Transient(format!("connection error: {e}"));
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(unreachable)?;
        tcp.set_nodelay(true).map_err(unreachable)?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(connector, name) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| MailError::Transient(format!("TLS error: {e}")))?;
                Box::new(TlsTcpStream(tls))
            }
            Security::None | Security::StartTls(_) => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await.map_err(map_error)?;
        if let Security::StartTls(parameters) = &self.security {
            conn.starttls(parameters.clone(), &self.hello).await.map_err(map_error)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&MECHANISMS, credentials).await.map_err(map_error)?;
        }
        Ok(conn)
    }
}

/// Maps lettre's errors: 5xx replies are permanent; 4xx replies and everything that is not a
/// reply (connection refused or reset, TLS, a missing extension) are transient.
fn map_error(e: lettre::transport::smtp::Error) -> MailError {
    if e.is_permanent() { MailError::Permanent(e.to_string()) } else { MailError::Transient(e.to_string()) }
}

struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// A bounded pool of SMTP connections.
pub(super) struct Pool {
    connector: Connector,
    idle: Mutex<Vec<Idle>>,
    permits: Semaphore,
    sweeping: AtomicBool,
}

impl Pool {
    /// A pool of at most `size` connections; none opens before the first send.
    pub(super) fn new(connector: Connector, size: usize) -> Arc<Self> {
        Arc::new(Self {
            connector,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
            sweeping: AtomicBool::new(false),
        })
    }

    /// Sends `email` (already formatted) to `envelope`'s recipients over a pooled connection.
    pub(super) async fn send(self: &Arc<Self>, envelope: &Envelope, email: &[u8]) -> Result<Response, MailError> {
        let timeout = self.connector.timeout;
        let _permit = self.permits.acquire().await.map_err(|e| MailError::Transient(e.to_string()))?;
        let mut conn = match self.checkout().await {
            Some(conn) => conn,
            None => tokio::time::timeout(timeout, self.connector.connect())
                .await
                .map_err(|_| MailError::Transient(format!("connecting timed out after {timeout:?}")))??,
        };
        match tokio::time::timeout(timeout, conn.send(envelope, email)).await {
            Ok(result) => {
                // lettre closes the connection itself after a failed command (`has_broken`);
                // one that refused a message before writing anything stays usable.
                if !conn.has_broken() {
                    self.checkin(conn);
                }
                result.map_err(map_error)
            }
            // Mid-transaction: the connection is in an unknown state, so it is dropped.
            Err(_) => Err(MailError::Transient(format!("sending timed out after {timeout:?}"))),
        }
    }

    /// The most recently used idle connection that still answers `NOOP`, if any.
    async fn checkout(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let Idle { mut conn, since } = self.lock_idle().pop()?;
            if since.elapsed() > self.connector.idle_timeout {
                self.close(conn).await;
                continue;
            }
            if let Ok(true) = tokio::time::timeout(self.connector.timeout, conn.test_connected()).await {
                return Some(conn);
            }
            // Broken or unresponsive: dropped (closing its socket).
        }
    }

    fn checkin(self: &Arc<Self>, conn: AsyncSmtpConnection) {
        self.lock_idle().push(Idle { conn, since: Instant::now() });
        if !self.sweeping.swap(true, Ordering::AcqRel) {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
    }

    /// Says `QUIT` and closes, without waiting longer than the timeout.
    async fn close(&self, mut conn: AsyncSmtpConnection) {
        let _ = tokio::time::timeout(self.connector.timeout, conn.abort()).await;
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Closes connections idle longer than the idle timeout, until the pool is dropped.
async fn sweep(pool: Weak<Pool>) {
    let period = match pool.upgrade() {
        Some(pool) => pool.connector.idle_timeout.max(Duration::from_secs(1)),
        None => return,
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else { return };
        let expired: Vec<Idle> = {
            let mut idle = pool.lock_idle();
            let (expired, kept) =
                std::mem::take(&mut *idle).into_iter().partition(|i| i.since.elapsed() > pool.connector.idle_timeout);
            *idle = kept;
            expired
        };
        for Idle { conn, .. } in expired {
            pool.close(conn).await;
        }
    }
}

/// A TLS client stream over TCP, for lettre's [`AsyncTokioStream`].
#[derive(Debug)]
struct TlsTcpStream(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl AsyncTokioStream for TlsTcpStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}
