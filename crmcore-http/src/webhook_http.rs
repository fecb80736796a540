//! [`HttpWebhookTransport`]: the `WebhookTransport` port over reqwest, behind an SSRF guard.
//!
//! Webhook URLs come from tenants, so a URL must never reach the server's own network: every
//! address a host name resolves to is checked (in the DNS resolver itself, so the checked address
//! is the one connected to — no rebinding window), IP literals are checked before sending, and
//! redirects are never followed. Private, loopback, link-local, CGNAT, multicast and other
//! special-purpose ranges are refused unless the policy explicitly allows private networks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use crmcore::ports::{TransportError, WebhookRequest, WebhookResponse, WebhookTransport};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Bytes of a response body kept in the delivery log.
pub const BODY_EXCERPT_BYTES: usize = 4096;
/// Response headers kept in the delivery log.
const MAX_HEADERS: usize = 32;
/// Longest header value kept.
const MAX_HEADER_VALUE: usize = 512;

/// Which destinations webhooks may reach: public addresses, plus what is explicitly allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsrfPolicy {
    /// Allow every private, loopback and link-local address (on-premises receivers). Off by default.
    pub allow_private_networks: bool,
    /// Individual addresses allowed although not public (e.g. `127.0.0.1` for a local receiver).
    pub allowlist: Vec<IpAddr>,
}

impl SsrfPolicy {
    /// A policy allowing public addresses and exactly `addresses` besides.
    pub fn allowing(addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        Self { allow_private_networks: false, allowlist: addresses.into_iter().collect() }
    }

    /// Whether the policy lets a request reach `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let canonical = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allow_private_networks || is_public(ip) || self.allowlist.contains(&canonical)
    }
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0];
            if nat64 {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..=127).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..=19).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// The error a blocked resolution carries, recognised in reqwest's error chain.
#[derive(Debug)]
struct Blocked(String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to addresses the SSRF policy forbids", self.0)
    }
}

impl std::error::Error for Blocked {}

/// Resolves names with the system resolver, keeping only the addresses the policy permits.
#[derive(Debug)]
struct GuardedResolver {
    policy: Arc<SsrfPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved.into_iter().filter(|a| policy.permits(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(Blocked(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Sends webhook POSTs over HTTP(S) with the SSRF guard, no redirects and a per-request timeout.
#[derive(Debug, Clone)]
pub struct HttpWebhookTransport {
    client: reqwest::Client,
    policy: Arc<SsrfPolicy>,
}

/// A reqwest client whose resolver enforces `policy`, following no redirects.
pub(crate) fn guarded_client(policy: Arc<SsrfPolicy>, user_agent: &str) -> Result<reqwest::Client, TransportError> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .map_err(|e| TransportError::Other(e.to_string()))
}

/// Parses `raw` and refuses other schemes than http(s) and IP literals the policy forbids (host
/// names are checked when resolved).
pub(crate) fn check_url(policy: &SsrfPolicy, raw: &str) -> Result<reqwest::Url, TransportError> {
    let url = reqwest::Url::parse(raw).map_err(|e| TransportError::Other(format!("invalid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TransportError::Blocked(format!("scheme `{}` is not allowed", url.scheme())));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(TransportError::Other("URL has no host".into())),
    };
    if let Some(ip) = literal.filter(|ip| !policy.permits(*ip)) {
        return Err(TransportError::Blocked(format!("{ip} is not a public address")));
    }
    Ok(url)
}

/// Whether reqwest's error chain holds a resolution the SSRF guard refused.
pub(crate) fn blocked_reason(error: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return Some(blocked.to_string());
        }
        source = e.source();
    }
    None
}

impl HttpWebhookTransport {
    /// A transport enforcing `policy`.
    pub fn new(policy: SsrfPolicy) -> Result<Self, TransportError> {
        let policy = Arc::new(policy);
        let client = guarded_client(policy.clone(), concat!("crmcore-webhooks/", env!("CARGO_PKG_VERSION")))?;
        Ok(Self { client, policy })
    }

    fn check_url(&self, raw: &str) -> Result<reqwest::Url, TransportError> {
        check_url(&self.policy, raw)
    }
}

fn classify(error: &reqwest::Error) -> TransportError {
    if let Some(reason) = blocked_reason(error) {
        return TransportError::Blocked(reason);
    }
    if error.is_timeout() {
        TransportError::Timeout
    } else if error.is_connect() {
        TransportError::Connect(error.to_string())
    } else {
        TransportError::Other(error.to_string())
    }
}

#[async_trait]
impl WebhookTransport for HttpWebhookTransport {
    async fn post(&self, request: &WebhookRequest) -> Result<WebhookResponse, TransportError> {
        let url = self.check_url(&request.url)?;
        let mut builder = self.client.post(url).timeout(request.timeout).body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let started = Instant::now();
        let send_and_read = async {
            let mut response = builder.send().await.map_err(|e| classify(&e))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .take(MAX_HEADERS)
                .map(|(k, v)| {
                    let value = String::from_utf8_lossy(v.as_bytes());
                    (k.as_str().to_owned(), value.chars().take(MAX_HEADER_VALUE).collect())
                })
                .collect();
            let latency = started.elapsed();
            let mut excerpt = Vec::new();
            while excerpt.len() < BODY_EXCERPT_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        excerpt.extend_from_slice(&chunk[..chunk.len().min(BODY_EXCERPT_BYTES - excerpt.len())])
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            Ok(WebhookResponse {
                status,
                latency,
                headers,
                body_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
            })
        };
        // The body read shares the request's deadline: a receiver trickling bytes cannot hold a worker.
        match tokio::time::timeout(request.timeout, send_and_read).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_addresses_are_not_public() {
        let blocked = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
            "::127.0.0.1",
        ];
        for ip in blocked {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must be blocked");
        }
        for ip in ["93.184.215.14", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
        assert!(SsrfPolicy { allow_private_networks: true, allowlist: vec![] }.permits("10.0.0.1".parse().unwrap()));
        let local = SsrfPolicy::allowing(["127.0.0.1".parse().unwrap()]);
        assert!(local.permits("127.0.0.1".parse().unwrap()));
        assert!(local.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!local.permits("127.0.0.2".parse().unwrap()));
        assert!(!local.permits("10.0.0.1".parse().unwrap()));
    }
}
