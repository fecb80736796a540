//! The facade: [`Crm`] holds the ports and hands out one service per capability.

use std::sync::Arc;

use crate::activity::{ActivityConfig, ActivityService};
use crate::analytics::AnalyticsService;
use crate::campaign::CampaignService;
use crate::campaign::send::{CampaignConfig, Pacer};
use crate::contact::ContactService;
use crate::deal::{DealService, Pipeline};
use crate::error::{CrmError, Port, Result};
use crate::jobs::{Worker, WorkerConfig};
use crate::member::MemberService;
use crate::ports::{
    BlobStore, Clock, InProcessLiveUpdates, LiveUpdates, Mailer, OAuthClient, Ocr, PdfReader, PdfWriter, Store,
    SystemClock, WebhookTransport,
};
use crate::tenant::TenantService;
use crate::webhook::{SecretSealer, WebhookConfig, WebhookService};

/// The embedded CRM. Cheap to clone: every clone shares the same ports.
#[derive(Debug, Clone)]
pub struct Crm {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mailer: Option<Arc<dyn Mailer>>,
    blobs: Option<Arc<dyn BlobStore>>,
    ocr: Option<Arc<dyn Ocr>>,
    pdf_reader: Option<Arc<dyn PdfReader>>,
    pdf_writer: Option<Arc<dyn PdfWriter>>,
    webhook_transport: Option<Arc<dyn WebhookTransport>>,
    oauth: Option<Arc<dyn OAuthClient>>,
    pipeline: Pipeline,
    worker: WorkerConfig,
    wakeup: tokio::sync::Notify,
    outbox_wakeup: tokio::sync::Notify,
    activity: ActivityConfig,
    live: Arc<dyn LiveUpdates>,
    campaign: CampaignConfig,
    transport_pacer: Option<Pacer>,
    webhook: WebhookConfig,
    documents: crate::document::DocumentConfig,
    webhook_sealer: SecretSealer,
    webhook_wakeup: tokio::sync::Notify,
}

impl Crm {
    /// Starts configuring a `Crm`; only the store is required.
    pub fn builder() -> CrmBuilder {
        CrmBuilder::default()
    }

    /// Tenants (creation with a first owner).
    pub fn tenants(&self) -> TenantService<'_> {
        TenantService::new(self)
    }

    /// Members of a tenant.
    pub fn members(&self) -> MemberService<'_> {
        MemberService::new(self)
    }

    /// Contacts.
    pub fn contacts(&self) -> ContactService<'_> {
        ContactService::new(self)
    }

    /// Deals and the pipeline.
    pub fn deals(&self) -> DealService<'_> {
        DealService::new(self)
    }

    /// E-mail campaigns: templates, segments, sending, suppressions.
    pub fn campaigns(&self) -> CampaignService<'_> {
        CampaignService::new(self)
    }

    /// Campaign sending settings.
    pub fn campaign_config(&self) -> &CampaignConfig {
        &self.inner.campaign
    }

    pub(crate) fn transport_pacer(&self) -> Option<&Pacer> {
        self.inner.transport_pacer.as_ref()
    }

    /// Webhooks: endpoints, secrets, the delivery log, replay.
    pub fn webhooks(&self) -> WebhookService<'_> {
        WebhookService::new(self)
    }

    /// Documents: uploads, versions, trash, downloads and the audit trail.
    pub fn documents(&self) -> crate::document::DocumentService<'_> {
        crate::document::DocumentService::new(self)
    }

    /// Document settings.
    pub fn document_config(&self) -> &crate::document::DocumentConfig {
        &self.inner.documents
    }

    /// Integrations: OAuth 2.0 providers and connections, syncs and their logs.
    pub fn integrations(&self) -> crate::integration::IntegrationService<'_> {
        crate::integration::IntegrationService::new(self)
    }

    /// Webhook delivery settings.
    pub fn webhook_config(&self) -> &WebhookConfig {
        &self.inner.webhook
    }

    pub(crate) fn webhook_sealer(&self) -> &SecretSealer {
        &self.inner.webhook_sealer
    }

    /// Wakes an idle in-process webhook sender (new deliveries are due).
    pub(crate) fn wake_webhooks(&self) {
        self.inner.webhook_wakeup.notify_one();
    }

    pub(crate) fn webhook_wakeup(&self) -> &tokio::sync::Notify {
        &self.inner.webhook_wakeup
    }

    /// Pipeline analytics: stage metrics, funnel, velocity, forecast, health, insights.
    pub fn analytics(&self) -> AnalyticsService<'_> {
        AnalyticsService::new(self)
    }

    /// Activities, comments, follows, feeds and the notification inbox.
    pub fn activity(&self) -> ActivityService<'_> {
        ActivityService::new(self)
    }

    /// Activity tracking settings.
    pub fn activity_config(&self) -> &ActivityConfig {
        &self.inner.activity
    }

    /// The live-update fan-out (notifications for Server-Sent Events).
    pub fn live_updates(&self) -> &Arc<dyn LiveUpdates> {
        &self.inner.live
    }

    /// A worker running this CRM's jobs.
    pub fn worker(&self) -> Worker {
        Worker::new(self.clone(), self.inner.worker.clone())
    }

    /// Wakes an idle in-process worker: called after every committed mutation so events are
    /// dispatched at once instead of at the next poll.
    pub fn wake_worker(&self) {
        self.inner.wakeup.notify_one();
        self.inner.outbox_wakeup.notify_one();
    }

    pub(crate) fn outbox_wakeup(&self) -> &tokio::sync::Notify {
        &self.inner.outbox_wakeup
    }

    pub(crate) fn worker_poll_interval(&self) -> std::time::Duration {
        self.inner.worker.poll_interval
    }

    pub(crate) fn worker_wakeup(&self) -> &tokio::sync::Notify {
        &self.inner.wakeup
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The deal pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// The mailer, or `Unavailable` when none was configured.
    pub fn mailer(&self) -> Result<&dyn Mailer> {
        self.inner.mailer.as_deref().ok_or_else(|| unavailable(Port::Mailer))
    }

    /// The blob store, or `Unavailable` when none was configured.
    pub fn blobs(&self) -> Result<&dyn BlobStore> {
        self.inner.blobs.as_deref().ok_or_else(|| unavailable(Port::Blobs))
    }

    /// The blob store as a shared handle (for readers that outlive a call).
    pub(crate) fn shared_blobs(&self) -> Result<Arc<dyn BlobStore>> {
        self.inner.blobs.clone().ok_or_else(|| unavailable(Port::Blobs))
    }

    /// The OCR engine, or `Unavailable` when none was configured.
    pub fn ocr(&self) -> Result<&dyn Ocr> {
        self.inner.ocr.as_deref().ok_or_else(|| unavailable(Port::Ocr))
    }

    /// The PDF reader (`Unavailable` when none was configured).
    pub fn pdf_reader(&self) -> Result<&dyn PdfReader> {
        self.inner.pdf_reader.as_deref().ok_or_else(|| unavailable(Port::PdfReader))
    }

    /// The PDF writer (`Unavailable` when none was configured).
    pub fn pdf_writer(&self) -> Result<&dyn PdfWriter> {
        self.inner.pdf_writer.as_deref().ok_or_else(|| unavailable(Port::PdfWriter))
    }

    /// The webhook transport, or `Unavailable` when none was configured.
    pub fn webhook_transport(&self) -> Result<&dyn WebhookTransport> {
        self.inner.webhook_transport.as_deref().ok_or_else(|| unavailable(Port::WebhookTransport))
    }

    /// The OAuth client, or `Unavailable` when none was configured.
    pub fn oauth(&self) -> Result<&dyn OAuthClient> {
        self.inner.oauth.as_deref().ok_or_else(|| unavailable(Port::OAuth))
    }
}

fn unavailable(port: Port) -> CrmError {
    CrmError::Unavailable { port, message: "not configured".into() }
}

/// Configures a [`Crm`].
#[derive(Debug, Default)]
pub struct CrmBuilder {
    store: Option<Arc<dyn Store>>,
    clock: Option<Arc<dyn Clock>>,
    mailer: Option<Arc<dyn Mailer>>,
    blobs: Option<Arc<dyn BlobStore>>,
    ocr: Option<Arc<dyn Ocr>>,
    pdf_reader: Option<Arc<dyn PdfReader>>,
    pdf_writer: Option<Arc<dyn PdfWriter>>,
    webhook_transport: Option<Arc<dyn WebhookTransport>>,
    oauth: Option<Arc<dyn OAuthClient>>,
    pipeline: Option<Pipeline>,
    worker: WorkerConfig,
    activity: ActivityConfig,
    live: Option<Arc<dyn LiveUpdates>>,
    campaign: CampaignConfig,
    webhook: WebhookConfig,
    documents: crate::document::DocumentConfig,
}

impl CrmBuilder {
    /// The store (required).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A store already shared elsewhere.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The mailer.
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// The blob store.
    pub fn blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// The OCR engine.
    pub fn ocr(mut self, ocr: Arc<dyn Ocr>) -> Self {
        self.ocr = Some(ocr);
        self
    }

    /// Reads PDF text layers and renders scanned pages for OCR.
    pub fn pdf_reader(mut self, reader: Arc<dyn PdfReader>) -> Self {
        self.pdf_reader = Some(reader);
        self
    }

    /// Generates PDFs from rendered document templates.
    pub fn pdf_writer(mut self, writer: Arc<dyn PdfWriter>) -> Self {
        self.pdf_writer = Some(writer);
        self
    }

    /// The webhook transport.
    pub fn webhook_transport(mut self, transport: Arc<dyn WebhookTransport>) -> Self {
        self.webhook_transport = Some(transport);
        self
    }

    /// The OAuth client.
    pub fn oauth(mut self, oauth: Arc<dyn OAuthClient>) -> Self {
        self.oauth = Some(oauth);
        self
    }

    /// The deal pipeline (default: [`Pipeline::default`]).
    pub fn pipeline(mut self, pipeline: Pipeline) -> Self {
        self.pipeline = Some(pipeline);
        self
    }

    /// Worker settings.
    pub fn worker_config(mut self, config: WorkerConfig) -> Self {
        self.worker = config;
        self
    }

    /// Activity tracking settings (default: [`ActivityConfig::default`]).
    pub fn activity_config(mut self, config: ActivityConfig) -> Self {
        self.activity = config;
        self
    }

    /// Campaign sending settings (default: [`CampaignConfig::default`]).
    pub fn campaign_config(mut self, config: CampaignConfig) -> Self {
        self.campaign = config;
        self
    }

    /// Document settings (default: [`crate::document::DocumentConfig::default`]).
    pub fn document_config(mut self, config: crate::document::DocumentConfig) -> Self {
        self.documents = config;
        self
    }

    /// Webhook delivery settings (default: [`WebhookConfig::default`]).
    pub fn webhook_config(mut self, config: WebhookConfig) -> Self {
        self.webhook = config;
        self
    }

    /// The live-update fan-out (default: in-process only, [`InProcessLiveUpdates`]).
    pub fn live_updates(mut self, live: Arc<dyn LiveUpdates>) -> Self {
        self.live = Some(live);
        self
    }

    /// Builds the `Crm`; `Validation` when no store was given.
    pub fn build(mut self) -> Result<Crm> {
        if self.campaign.links.is_none() {
            self.campaign.links = Some(crate::campaign::LinkConfig::ephemeral()?);
        }
        let store = self.store.ok_or_else(|| CrmError::invalid("store", "required", "a store is required"))?;
        Ok(Crm {
            inner: Arc::new(Inner {
                store,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                mailer: self.mailer,
                blobs: self.blobs,
                ocr: self.ocr,
                pdf_reader: self.pdf_reader,
                pdf_writer: self.pdf_writer,
                webhook_transport: self.webhook_transport,
                oauth: self.oauth,
                pipeline: self.pipeline.unwrap_or_default(),
                worker: self.worker,
                wakeup: tokio::sync::Notify::new(),
                outbox_wakeup: tokio::sync::Notify::new(),
                activity: self.activity,
                live: self.live.unwrap_or_else(|| Arc::new(InProcessLiveUpdates::default())),
                transport_pacer: self.campaign.transport_rate_per_second.map(Pacer::new),
                campaign: self.campaign,
                webhook_sealer: match &self.webhook.sealer {
                    Some(sealer) => sealer.clone(),
                    None => SecretSealer::ephemeral()?,
                },
                webhook: self.webhook,
                documents: self.documents,
                webhook_wakeup: tokio::sync::Notify::new(),
            }),
        })
    }
}
