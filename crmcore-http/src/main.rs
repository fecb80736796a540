//! `crmcore-server`: serve the crmcore API, run its worker, migrate, or create an admin.
//! Flags and `CRM_*` variables are described in `crmcore_http::config`.

use std::io::BufRead as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use crmcore::campaign::{CampaignConfig, LinkConfig};
use crmcore::document::DocumentConfig;
use crmcore::jobs::WorkerConfig;
use crmcore::ports::{Mailer, Ocr};
use crmcore::token::TokenSigner;
use crmcore::webhook::{RetrySchedule, SecretSealer, WebhookConfig};
use crmcore::{Crm, CrmBuilder};
use crmcore_http::auth::password::PasswordHasher;
use crmcore_http::config::{Cli, Command, CreateAdminArgs, ServeArgs};
use crmcore_http::settings::PasswordHashing;
use crmcore_http::{Secret, backend, secrets};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr (stdout carries command output such as create-admin's), coloured only
    // on a terminal.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "crmcore-server failed");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    match cli.command {
        None => serve(&cli, &cli.serve).await,
        Some(Command::Serve(ref args)) => serve(&cli, args).await,
        Some(Command::Worker) => {
            let (jwt, token_key) = resolve_secrets(&cli.database_url, &cli.serve)?;
            let links = campaign_links(&jwt, cli.public_url.clone())?;
            let sealer = webhook_sealer(&jwt, token_key.as_ref())?;
            let crm = open(&cli, mailer(cli.smtp_url.as_deref())?, ocr()?, links, sealer).await?;
            let report = crm.worker().run(crmcore_http::shutdown_signal()).await;
            tracing::info!(?report, "worker stopped");
            Ok(())
        }
        Some(Command::Migrate) => {
            backend::migrate(&cli.database_url).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Some(Command::CreateAdmin(ref args)) => create_admin(&cli, args).await,
    }
}

/// Campaign links: signed with a key derived from the JWT secret (so `serve` and `worker`
/// processes sharing it verify each other's links), pointing at the public URL.
fn campaign_links(jwt: &Secret, public_url: Option<String>) -> Result<LinkConfig, BoxError> {
    if public_url.is_none() {
        tracing::warn!("CRM_PUBLIC_URL is not set: campaign mail carries only mailto: unsubscribe links, no tracking");
    }
    Ok(LinkConfig {
        public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
        unsubscribe_mailbox: None,
        signer: TokenSigner::derived(jwt.expose(), "crmcore campaign links v1")?,
    })
}

/// Seals webhook secrets with a key derived from the token-encryption key (or, without one, the
/// JWT secret), so every process sharing the configuration opens them.
fn webhook_sealer(jwt: &Secret, token_key: Option<&Secret>) -> Result<SecretSealer, BoxError> {
    let material = token_key.unwrap_or(jwt).expose();
    Ok(SecretSealer::derived(material, "crmcore webhook secrets v1")?)
}

async fn open(
    cli: &Cli,
    mailer: Option<Arc<dyn Mailer>>,
    ocr: Option<Arc<dyn Ocr>>,
    links: LinkConfig,
    sealer: SecretSealer,
) -> Result<Crm, BoxError> {
    let config = CampaignConfig {
        links: Some(links),
        lease: chrono::Duration::seconds(i64::from(cli.campaign_lease_secs.max(1))),
        ..CampaignConfig::default()
    };
    let worker = WorkerConfig {
        lease: chrono::Duration::seconds(i64::from(cli.job_lease_secs.max(1))),
        ..WorkerConfig::default()
    };
    let mut schedule = RetrySchedule::default();
    if !cli.webhook_retry_schedule.is_empty() {
        schedule.delays = cli.webhook_retry_schedule.iter().map(|s| std::time::Duration::from_secs(*s)).collect();
    }
    let webhooks = WebhookConfig {
        schedule,
        lease: chrono::Duration::seconds(i64::from(cli.job_lease_secs.max(1))),
        allow_http: cli.webhook_allow_http,
        timeout: std::time::Duration::from_secs(u64::from(cli.webhook_timeout_secs.max(1))),
        retention: chrono::Duration::days(i64::from(cli.webhook_retention_days.max(1))),
        sealer: Some(sealer),
        ..WebhookConfig::default()
    };
    let builder = backend::open(&cli.database_url)
        .await?
        .crm_builder()
        .campaign_config(config)
        .worker_config(worker)
        .webhook_config(webhooks)
        .document_config(DocumentConfig { max_upload_bytes: cli.max_upload_bytes, ..DocumentConfig::default() });
    let builder = match &cli.blob_dir {
        Some(dir) => builder.blobs(Arc::new(crmcore_http::fs_blobs::FsBlobStore::open(dir)?)),
        None => builder,
    };
    #[cfg(feature = "object-store")]
    let builder = s3_blobs(builder, cli)?;
    #[cfg(feature = "pdf-writer")]
    let builder = builder.pdf_writer(Arc::new(crmcore_http::pdf_write::HtmlPdfWriter::new()));
    let builder = match ocr {
        Some(ocr) => builder.ocr(ocr),
        None => builder,
    };
    let builder = pdf_reader(builder);
    let builder = webhook_transport(builder, &cli.webhook_allow_addresses)?;
    Ok(match mailer {
        Some(mailer) => builder.mailer(mailer),
        None => builder,
    }
    .build()?)
}

/// Document content in the S3-compatible bucket of `CRM_S3_BUCKET`, when set.
#[cfg(feature = "object-store")]
fn s3_blobs(builder: CrmBuilder, cli: &Cli) -> Result<CrmBuilder, BoxError> {
    let Some(settings) = cli.s3.settings() else {
        return Ok(builder);
    };
    if cli.blob_dir.is_some() {
        return Err("CRM_BLOB_DIR and CRM_S3_BUCKET are both set: document content goes to one place".into());
    }
    // The settings' `Debug` hides the secret access key.
    tracing::info!(s3 = ?settings, "document content in S3");
    Ok(builder.blobs(Arc::new(crmcore_http::s3_blobs::ObjectStoreBlobs::s3(&settings)?)))
}

/// Outgoing webhooks and OAuth 2.0 provider calls over HTTP behind the SSRF guard, reaching
/// public addresses and `allowed`.
#[cfg(feature = "webhook-http")]
fn webhook_transport(builder: CrmBuilder, allowed: &[std::net::IpAddr]) -> Result<CrmBuilder, BoxError> {
    use crmcore_http::oauth_http::HttpOAuthClient;
    use crmcore_http::webhook_http::{HttpWebhookTransport, SsrfPolicy};
    let transport = HttpWebhookTransport::new(SsrfPolicy::allowing(allowed.iter().copied()))?;
    let oauth =
        HttpOAuthClient::new(SsrfPolicy::allowing(allowed.iter().copied()), std::time::Duration::from_secs(30))?;
    Ok(builder.webhook_transport(Arc::new(transport)).oauth(Arc::new(oauth)))
}

/// Without the `webhook-http` feature deliveries wait (and retry) until a transport exists.
#[cfg(not(feature = "webhook-http"))]
fn webhook_transport(builder: CrmBuilder, _allowed: &[std::net::IpAddr]) -> Result<CrmBuilder, BoxError> {
    tracing::warn!("built without `webhook-http`: webhook deliveries are not sent");
    Ok(builder)
}

/// The SMTP mailer for `CRM_SMTP_URL`; none without it (campaign sends then wait and retry).
#[cfg(feature = "smtp")]
fn mailer(smtp_url: Option<&str>) -> Result<Option<Arc<dyn Mailer>>, BoxError> {
    use crmcore_http::smtp::{SmtpMailer, SmtpSettings};
    let Some(url) = smtp_url.filter(|u| !u.is_empty()) else {
        tracing::warn!("CRM_SMTP_URL is not set: campaign mail waits and retries until a mailer is configured");
        return Ok(None);
    };
    let settings = SmtpSettings::from_url(url)?;
    // The settings' `Debug` hides the password.
    tracing::info!(smtp = ?settings, "sending mail through SMTP");
    Ok(Some(Arc::new(SmtpMailer::new(&settings)?)))
}

/// Without the `smtp` feature there is no mailer to configure.
#[cfg(not(feature = "smtp"))]
fn mailer(smtp_url: Option<&str>) -> Result<Option<Arc<dyn Mailer>>, BoxError> {
    match smtp_url.filter(|u| !u.is_empty()) {
        Some(_) => Err("CRM_SMTP_URL is set but this server was built without the `smtp` feature".into()),
        None => Ok(None),
    }
}

/// PDF text layers and page images, in pure Rust.
#[cfg(feature = "pdf")]
fn pdf_reader(builder: CrmBuilder) -> CrmBuilder {
    builder.pdf_reader(Arc::new(crmcore_http::pdf_read::PureRustPdfReader::new()))
}

/// Without the `pdf` feature PDFs keep no text and scanned pages are not recognised.
#[cfg(not(feature = "pdf"))]
fn pdf_reader(builder: CrmBuilder) -> CrmBuilder {
    builder
}

/// `CRM_OCR`: `1`/`true`/`on`/`yes` or `0`/`false`/`off`/`no`; `None` when unset or empty.
fn ocr_requested() -> Result<Option<bool>, BoxError> {
    let value = std::env::var("CRM_OCR").unwrap_or_default();
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "1" | "true" | "on" | "yes" => Ok(Some(true)),
        "0" | "false" | "off" | "no" => Ok(Some(false)),
        _ => Err(format!("CRM_OCR must be 1 or 0, not {value:?}").into()),
    }
}

/// Tesseract for `CRM_OCR_LANGUAGE` (default `eng`), on unless `CRM_OCR=0`. Start-up fails
/// when tesseract cannot run well: without `OMP_THREAD_LIMIT=1` or the language's data.
#[cfg(feature = "ocr")]
fn ocr() -> Result<Option<Arc<dyn Ocr>>, BoxError> {
    if ocr_requested()? == Some(false) {
        tracing::info!("CRM_OCR=0: images and scanned pages are not recognised");
        return Ok(None);
    }
    let language = std::env::var("CRM_OCR_LANGUAGE").ok().filter(|l| !l.trim().is_empty());
    let language = language.as_deref().unwrap_or("eng");
    let ocr = crmcore_http::ocr_tesseract::TesseractOcr::new(language)
        .map_err(|e| format!("{e} (CRM_OCR=0 starts the server without OCR)"))?;
    tracing::info!(language, "recognising text with tesseract");
    Ok(Some(Arc::new(ocr)))
}

/// Without the `ocr` feature there is no engine to turn on.
#[cfg(not(feature = "ocr"))]
fn ocr() -> Result<Option<Arc<dyn Ocr>>, BoxError> {
    match ocr_requested()? {
        Some(true) => Err("CRM_OCR is on but this server was built without the `ocr` feature".into()),
        _ => Ok(None),
    }
}

async fn serve(cli: &Cli, args: &ServeArgs) -> Result<(), BoxError> {
    let database_url = &cli.database_url;
    let (jwt, token_key) = resolve_secrets(database_url, args)?;
    let public_url = cli.public_url.clone().or_else(|| Some(format!("http://{}", args.bind)));
    let links = campaign_links(&jwt, public_url)?;
    let sealer = webhook_sealer(&jwt, token_key.as_ref())?;
    let settings = args.settings(jwt, token_key);
    let crm = open(cli, mailer(cli.smtp_url.as_deref())?, ocr()?, links, sealer).await?;
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    crmcore_http::serve(crm, settings, listener, crmcore_http::shutdown_signal()).await?;
    Ok(())
}

/// Configured secrets win; otherwise they come from (or go to) the file beside the SQLite
/// database; a volatile store gets throwaway ones; any other store must be configured.
fn resolve_secrets(database_url: &str, args: &ServeArgs) -> Result<(Secret, Option<Secret>), BoxError> {
    let configured = |s: &Option<String>| s.as_ref().map(|s| Secret::new(s.as_bytes().to_vec()));
    if let (Some(jwt), key) = (configured(&args.jwt_secret), configured(&args.token_encryption_key)) {
        return Ok((jwt, key));
    }
    if let Some(path) = secrets::secrets_path_for(database_url) {
        let stored = secrets::load_or_create(&path)?;
        let key = configured(&args.token_encryption_key).unwrap_or(stored.token_encryption_key);
        return Ok((stored.jwt_secret, Some(key)));
    }
    if backend::is_memory(database_url) || database_url.contains(":memory:") {
        tracing::warn!("using throwaway secrets for a volatile store; tokens die with the process");
        return Ok((Secret::new(crmcore::secret::random_bytes(32)?), None));
    }
    Err("CRM_JWT_SECRET is required for this database".into())
}

async fn create_admin(cli: &Cli, args: &CreateAdminArgs) -> Result<(), BoxError> {
    let password = match std::env::var("CRM_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => prompt_password()?,
    };
    let crm = open(cli, None, None, LinkConfig::ephemeral()?, SecretSealer::ephemeral()?).await?;
    let hasher = PasswordHasher::new(PasswordHashing {
        memory_kib: args.password_hash_memory_kib,
        ..PasswordHashing::default()
    })?;
    let (tenant, member) =
        crmcore_http::admin::create_admin(&crm, &hasher, &args.tenant, &args.email, &password).await?;
    println!("owner {} of tenant {} (slug `{}`) can sign in", member.email, tenant.name, tenant.slug);
    Ok(())
}

fn prompt_password() -> Result<String, BoxError> {
    eprint!("password for the new admin: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("no password given (set CRM_ADMIN_PASSWORD or type one)".into());
    }
    Ok(password)
}
