//! A small ESMTP server on loopback for tests and benchmarks: it speaks `EHLO`/`HELO`, `AUTH
//! PLAIN`/`LOGIN`, `MAIL`, `RCPT`, `DATA`, `RSET`, `NOOP` and `QUIT`, keeps (or just counts)
//! what it receives, and answers chosen recipients with a chosen 4xx/5xx reply. It stops when
//! dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Largest message accepted, in bytes.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// A reply given to `RCPT TO` for recipients whose address contains `recipient_contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Substring of the recipient address that triggers the reply.
    pub recipient_contains: String,
    /// Reply code, e.g. 450 or 550.
    pub code: u16,
    /// Reply text, e.g. `5.1.1 No such user`.
    pub text: String,
}

/// How the sink behaves.
#[derive(Debug, Clone, Default)]
pub struct SinkConfig {
    /// Keep every message's bytes (tests); otherwise only count them (benchmarks).
    pub keep_messages: bool,
    /// Replies for chosen recipients; others are accepted.
    pub rejections: Vec<Rejection>,
}

/// One message as the sink received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The accepted envelope recipients (`RCPT TO`).
    pub recipients: Vec<String>,
    /// The message, dot-unstuffed, lines ending in CRLF.
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMessage>>,
    accepted: AtomicU64,
    connections: AtomicU64,
    open: AtomicU64,
    most_open: AtomicU64,
    logins: Mutex<Vec<String>>,
}

/// A running sink; dropping it stops the server and every open connection.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink on `127.0.0.1`, on a free port, with `TCP_NODELAY` on its sockets.
    pub async fn start(config: SinkConfig) -> std::io::Result<Self> {
        Self::start_with_nodelay(config, true).await
    }

    /// Starts a sink whose accepted sockets have `TCP_NODELAY` set or not (the kernel default,
    /// as most mail servers run): benchmarks measure the client both ways.
    pub async fn start_with_nodelay(config: SinkConfig, nodelay: bool) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let config = Arc::new(config);
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                let mut connections = JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    let open = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                    shared.most_open.fetch_max(open, Ordering::SeqCst);
                    if nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    let (config, shared) = (config.clone(), shared.clone());
                    connections.spawn(async move {
                        serve(stream, config, shared.clone()).await;
                        shared.open.fetch_sub(1, Ordering::SeqCst);
                    });
                    while connections.try_join_next().is_some() {}
                }
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Messages received so far (empty unless `keep_messages`).
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.shared.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections opened so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The most connections that were open at the same time.
    pub fn most_open_connections(&self) -> u64 {
        self.shared.most_open.load(Ordering::SeqCst)
    }

    /// User names that authenticated.
    pub fn logins(&self) -> Vec<String> {
        self.shared.logins.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The address inside `<…>` of a `MAIL FROM:`/`RCPT TO:` argument.
fn path_of(arg: &str) -> Option<String> {
    let start = arg.find('<')?;
    let end = arg[start..].find('>')? + start;
    Some(arg[start + 1..end].to_owned())
}

/// The user name of an `AUTH PLAIN` response (`authzid \0 user \0 password`).
fn plain_user(encoded: &str) -> Option<String> {
    let raw = STANDARD.decode(encoded.trim()).ok()?;
    let mut parts = raw.split(|&b| b == 0);
    let _authzid = parts.next()?;
    let user = parts.next()?;
    parts.next()?;
    String::from_utf8(user.to_vec()).ok()
}

async fn serve(stream: TcpStream, config: Arc<SinkConfig>, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let mut mail_from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    macro_rules! reply {
        ($($arg:tt)*) => {
            if write.write_all(format!($($arg)*).as_bytes()).await.is_err() {
                return;
            }
        };
    }
    reply!("220 sink.test ESMTP ready\r\n");
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                reply!("250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE 10485760\r\n250 AUTH PLAIN LOGIN\r\n")
            }
            "HELO" => reply!("250 sink.test\r\n"),
            "AUTH" => {
                let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
                let user = match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" if !initial.is_empty() => plain_user(initial),
                    "PLAIN" => {
                        reply!("334 \r\n");
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        plain_user(&line)
                    }
                    "LOGIN" => {
                        reply!("334 VXNlcm5hbWU6\r\n");
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let user = STANDARD.decode(line.trim()).ok().and_then(|u| String::from_utf8(u).ok());
                        reply!("334 UGFzc3dvcmQ6\r\n");
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        user
                    }
                    _ => None,
                };
                match user {
                    Some(user) => {
                        if let Ok(mut logins) = shared.logins.lock() {
                            logins.push(user);
                        }
                        reply!("235 2.7.0 Authentication successful\r\n");
                    }
                    None => reply!("535 5.7.8 Authentication credentials invalid\r\n"),
                }
            }
            "MAIL" => match path_of(arg) {
                Some(from) => {
                    mail_from = Some(from);
                    recipients.clear();
                    reply!("250 2.1.0 Ok\r\n");
                }
                None => reply!("501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
            },
            "RCPT" => {
                let Some(to) = path_of(arg) else {
                    reply!("501 5.5.4 Syntax: RCPT TO:<address>\r\n");
                    continue;
                };
                if mail_from.is_none() {
                    reply!("503 5.5.1 Need MAIL first\r\n");
                    continue;
                }
                match config.rejections.iter().find(|r| to.contains(&r.recipient_contains)) {
                    Some(r) => reply!("{} {}\r\n", r.code, r.text),
                    None => {
                        recipients.push(to);
                        reply!("250 2.1.5 Ok\r\n");
                    }
                }
            }
            "DATA" => {
                if mail_from.is_none() || recipients.is_empty() {
                    reply!("503 5.5.1 Need RCPT first\r\n");
                    continue;
                }
                reply!("354 End data with <CR><LF>.<CR><LF>\r\n");
                let mut data = Vec::new();
                let mut size = 0usize;
                let mut raw = Vec::new();
                loop {
                    raw.clear();
                    match reader.read_until(b'\n', &mut raw).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if raw == b".\r\n" || raw == b".\n" {
                        break;
                    }
                    let content = raw.strip_prefix(b".").unwrap_or(&raw);
                    size += content.len();
                    if config.keep_messages && size <= MAX_MESSAGE_BYTES {
                        data.extend_from_slice(content);
                    }
                }
                let too_big = size > MAX_MESSAGE_BYTES;
                if too_big {
                    reply!("552 5.3.4 Message too big\r\n");
                } else {
                    let n = shared.accepted.fetch_add(1, Ordering::Relaxed) + 1;
                    if config.keep_messages {
                        let message = ReceivedMessage {
                            mail_from: mail_from.take().unwrap_or_default(),
                            recipients: std::mem::take(&mut recipients),
                            data,
                        };
                        if let Ok(mut messages) = shared.messages.lock() {
                            messages.push(message);
                        }
                    }
                    reply!("250 2.0.0 Ok: queued as {n}\r\n");
                }
                mail_from = None;
                recipients.clear();
            }
            "RSET" => {
                mail_from = None;
                recipients.clear();
                reply!("250 2.0.0 Ok\r\n");
            }
            "NOOP" => reply!("250 2.0.0 Ok\r\n"),
            "QUIT" => {
                reply!("221 2.0.0 Bye\r\n");
                return;
            }
            _ => reply!("502 5.5.2 Command not recognized\r\n"),
        }
    }
}
