//! The `crmcore-server` command line. Every flag also reads a `CRM_*` environment variable.
//! With no subcommand the binary serves with the embedded defaults: `crm.db` (SQLite) in the
//! working directory, bound to 127.0.0.1:8080, worker in-process.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::settings::{PasswordHashing, RateLimit, Secret, Settings};

/// `crmcore-server`: the crmcore reference server.
#[derive(Parser)]
#[command(name = "crmcore-server", version, about)]
pub struct Cli {
    /// Where the data lives: `sqlite://FILE?mode=rwc`, `postgres://…` or `memory:`.
    #[arg(long, env = "CRM_DATABASE_URL", default_value = "sqlite://crm.db?mode=rwc", global = true)]
    pub database_url: String,
    /// The SMTP server campaigns are sent through, e.g. `smtp://user:pass@host:587?tls=starttls`
    /// (`tls=starttls|implicit|none`; `smtps://` means implicit TLS). Without it no mail goes
    /// out: campaign sends wait and retry until one is configured.
    #[arg(long, env = "CRM_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,
    /// The address people reach this server at, for the links in campaign mail (unsubscribe,
    /// open pixel, click redirects), e.g. `https://crm.example.com`. Default for `serve`:
    /// `http://` + the bind address; the `worker` sends only `mailto:` unsubscribes without it.
    #[arg(long, env = "CRM_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Seconds a worker holds a claimed job (or webhook delivery) before another worker may take
    /// it over (after a crash, work resumes this long after the process died).
    #[arg(long, env = "CRM_JOB_LEASE_SECS", default_value_t = 60, global = true)]
    pub job_lease_secs: u32,
    /// Seconds a campaign recipient claimed for sending stays with its sender before another
    /// may send it (after a crash, the batches in flight are sent again this long after).
    #[arg(long, env = "CRM_CAMPAIGN_LEASE_SECS", default_value_t = 300, global = true)]
    pub campaign_lease_secs: u32,
    /// A directory for document content (files named by their SHA-256); by default content is
    /// kept in the database itself.
    #[arg(long, env = "CRM_BLOB_DIR", global = true)]
    pub blob_dir: Option<std::path::PathBuf>,
    /// Document content in an S3-compatible bucket (`CRM_S3_*`).
    #[cfg(feature = "object-store")]
    #[command(flatten)]
    pub s3: crate::s3_blobs::S3Args,
    /// Largest document upload, in bytes.
    #[arg(long, env = "CRM_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024, global = true)]
    pub max_upload_bytes: u64,
    /// Allow webhook endpoints with plain `http` URLs (default: https only).
    #[arg(long, env = "CRM_WEBHOOK_ALLOW_HTTP", global = true)]
    pub webhook_allow_http: bool,
    /// Addresses webhooks may reach although not public (comma-separated, e.g. `127.0.0.1` for a
    /// local receiver). Everything else private, loopback or link-local is refused.
    #[arg(long, env = "CRM_WEBHOOK_ALLOW_ADDRESSES", value_delimiter = ',', global = true)]
    pub webhook_allow_addresses: Vec<std::net::IpAddr>,
    /// Seconds a webhook request may take before it counts as a failed attempt.
    #[arg(long, env = "CRM_WEBHOOK_TIMEOUT_SECS", default_value_t = 15, global = true)]
    pub webhook_timeout_secs: u32,
    /// Days webhook delivery payloads are kept (attempt logs stay).
    #[arg(long, env = "CRM_WEBHOOK_RETENTION_DAYS", default_value_t = 30, global = true)]
    pub webhook_retention_days: u32,
    /// Seconds between webhook attempts after each failure (comma-separated); the default is
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. After the last, the delivery fails (replayable).
    #[arg(long, env = "CRM_WEBHOOK_RETRY_SCHEDULE", value_delimiter = ',', global = true)]
    pub webhook_retry_schedule: Vec<u64>,
    /// What to do (default: `serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the default `serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (and run the worker in-process unless `--no-worker`).
    Serve(ServeArgs),
    /// Run the job worker only.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Create a tenant with an owner, or make an existing member an owner, and set their password
    /// (from `CRM_ADMIN_PASSWORD`, else prompted on stdin).
    CreateAdmin(CreateAdminArgs),
}

/// `create-admin` options.
#[derive(Debug, Clone, Args)]
pub struct CreateAdminArgs {
    /// Tenant name (its slug identifies an existing tenant).
    #[arg(long, env = "CRM_ADMIN_TENANT")]
    pub tenant: String,
    /// The owner's e-mail address.
    #[arg(long, env = "CRM_ADMIN_EMAIL")]
    pub email: String,
    /// Argon2 memory cost in KiB.
    #[arg(long, env = "CRM_PASSWORD_HASH_MEMORY_KIB", default_value_t = 19_456)]
    pub password_hash_memory_kib: u32,
}

/// `serve` options.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CRM_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Do not run the job worker in this process.
    #[arg(long, env = "CRM_NO_WORKER")]
    pub no_worker: bool,
    /// HS256 key for access tokens (≥ 32 bytes). Default: generated and kept beside the SQLite file.
    #[arg(long, env = "CRM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Key sealing stored third-party tokens. Default: generated like the JWT secret.
    #[arg(long, env = "CRM_TOKEN_ENCRYPTION_KEY", hide_env_values = true)]
    pub token_encryption_key: Option<String>,
    /// Access token lifetime in seconds.
    #[arg(long, env = "CRM_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, env = "CRM_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// Largest request body in bytes.
    #[arg(long, env = "CRM_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Origins allowed by CORS, comma-separated (default: none).
    #[arg(long, env = "CRM_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Requests per minute per principal (0 disables the limit).
    #[arg(long, env = "CRM_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,
    /// Burst of requests per principal.
    #[arg(long, env = "CRM_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
    /// Sign-in attempts per minute per client IP (0 disables the limit).
    #[arg(long, env = "CRM_LOGIN_RATE_LIMIT_PER_MINUTE", default_value_t = 20)]
    pub login_rate_limit_per_minute: u32,
    /// Argon2 memory cost in KiB.
    #[arg(long, env = "CRM_PASSWORD_HASH_MEMORY_KIB", default_value_t = 19_456)]
    pub password_hash_memory_kib: u32,
    /// Web console session lifetime in seconds.
    #[arg(long, env = "CRM_CONSOLE_SESSION_TTL_SECS", default_value_t = 12 * 3600)]
    pub console_session_ttl_secs: u64,
    /// Send the console's session cookie without `Secure`: only for plain-HTTP deployments on a
    /// host other than localhost.
    #[arg(long, env = "CRM_INSECURE_COOKIES")]
    pub insecure_cookies: bool,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Both URLs may carry a password.
        f.debug_struct("Cli")
            .field("database_url", &redact_url(&self.database_url))
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("public_url", &self.public_url)
            .field("job_lease_secs", &self.job_lease_secs)
            .field("campaign_lease_secs", &self.campaign_lease_secs)
            .field("blob_dir", &self.blob_dir)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("webhook_allow_http", &self.webhook_allow_http)
            .field("webhook_allow_addresses", &self.webhook_allow_addresses)
            .field("webhook_timeout_secs", &self.webhook_timeout_secs)
            .field("webhook_retention_days", &self.webhook_retention_days)
            .field("webhook_retry_schedule", &self.webhook_retry_schedule)
            .field("command", &self.command)
            .field("serve", &self.serve)
            .finish()
    }
}

/// A URL with its password, if any, replaced by `[redacted]`.
fn redact_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@').and_then(|at| Some((at, rest[..at].split_once(':')?.0))) {
        Some((at, user)) => format!("{scheme}://{user}:[redacted]{}", &rest[at..]),
        None => raw.to_owned(),
    }
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("ServeArgs")
            .field("bind", &self.bind)
            .field("no_worker", &self.no_worker)
            .field("jwt_secret", &redacted(&self.jwt_secret))
            .field("token_encryption_key", &redacted(&self.token_encryption_key))
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("cors_origins", &self.cors_origins)
            .finish_non_exhaustive()
    }
}

fn limit(per_minute: u32, burst: u32) -> Option<RateLimit> {
    (per_minute > 0).then_some(RateLimit { per_minute, burst: burst.max(1) })
}

impl ServeArgs {
    /// Settings for these options with the given secrets (resolved by the caller).
    pub fn settings(&self, jwt_secret: Secret, token_encryption_key: Option<Secret>) -> Settings {
        let mut settings = Settings::new(jwt_secret);
        settings.token_encryption_key = token_encryption_key;
        settings.access_token_ttl = Duration::from_secs(self.access_token_ttl_secs.max(1));
        settings.refresh_token_ttl = Duration::from_secs(self.refresh_token_ttl_secs.max(1));
        settings.max_body_bytes = self.max_body_bytes;
        settings.cors_allowed_origins = self.cors_origins.iter().filter(|o| !o.is_empty()).cloned().collect();
        settings.rate_limit = limit(self.rate_limit_per_minute, self.rate_limit_burst);
        settings.auth_rate_limit = limit(self.login_rate_limit_per_minute, self.login_rate_limit_per_minute.min(10));
        settings.password_hashing =
            PasswordHashing { memory_kib: self.password_hash_memory_kib, ..PasswordHashing::default() };
        settings.run_worker = !self.no_worker;
        settings.console_session_ttl = Duration::from_secs(self.console_session_ttl_secs.max(60));
        settings.secure_cookies = !self.insecure_cookies;
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subcommand_means_serve_with_defaults() {
        let cli = Cli::try_parse_from(["crmcore-server"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.bind.to_string(), "127.0.0.1:8080");
        let cli = Cli::try_parse_from([
            "crmcore-server",
            "--database-url",
            "memory:",
            "create-admin",
            "--tenant",
            "Acme",
            "--email",
            "a@b.co",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::CreateAdmin(_))));
        assert_eq!(cli.database_url, "memory:");
    }

    #[test]
    fn debug_hides_secrets() {
        let cli =
            Cli::try_parse_from(["crmcore-server", "--jwt-secret", "0123456789abcdef0123456789abcdef-secret"]).unwrap();
        assert!(!format!("{cli:?}").contains("-secret"));
    }

    #[test]
    fn the_smtp_url_is_global_and_its_password_never_shown() {
        let url = "smtp://mailer:hunter2@mail.example.com:587?tls=starttls";
        let cli = Cli::try_parse_from(["crmcore-server", "worker", "--smtp-url", url]).unwrap();
        assert_eq!(cli.smtp_url.as_deref(), Some(url));
        let shown = format!("{cli:?}");
        assert!(!shown.contains("hunter2") && shown.contains("mailer:[redacted]@mail.example.com:587"), "{shown}");
        let pg = Cli::try_parse_from(["crmcore-server", "--database-url", "postgres://crm:s3cret@db/crm"]).unwrap();
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert_eq!(redact_url("sqlite://crm.db?mode=rwc"), "sqlite://crm.db?mode=rwc");
        assert_eq!(redact_url("memory:"), "memory:");
        assert_eq!(redact_url("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
    }
}
