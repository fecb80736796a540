//! The crmcore contract suite against `MemoryStore`.

use std::sync::Arc;

use crmcore::ports::Store;
use crmcore_memory::MemoryStore;

crmcore::contract_suite!(memory, async { Some(Arc::new(MemoryStore::new()) as Arc<dyn Store>) });

#[tokio::test]
async fn memory_blob_store_keeps_the_blob_contract() {
    crmcore::testing::blob_store_contract(Arc::new(crmcore_memory::MemoryBlobStore::new())).await;
}

/// An OCR engine that takes longer than a worker's lease.
#[derive(Debug)]
struct SlowOcr;

#[async_trait::async_trait]
impl crmcore::ports::Ocr for SlowOcr {
    async fn extract_text(&self, _image: &[u8], _mime: &str, _language: &str) -> crmcore::Result<String> {
        tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
        Ok("slow walrus".into())
    }
}

/// A job running longer than its lease keeps it (the worker extends it while the job runs): no
/// other worker claims it meanwhile, and it completes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_keeps_its_lease_while_it_runs() {
    use crmcore::document::{FileUpload, NewDocument, Source};
    use crmcore::jobs::WorkerConfig;

    let store = Arc::new(MemoryStore::new());
    let config = WorkerConfig { lease: chrono::Duration::seconds(2), ..WorkerConfig::default() };
    let crm = crmcore::Crm::builder()
        .shared_store(store.clone())
        .blobs(Arc::new(crmcore_memory::MemoryBlobStore::new()))
        .ocr(Arc::new(SlowOcr))
        .worker_config(config)
        .build()
        .unwrap();
    let owner = crmcore::tenant::NewOwner { email: "ada@acme.test".into(), display_name: None, handle: None };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await.unwrap();
    let ada = crmcore::Actor::member(tenant.id, ada.id, ada.role);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let file = FileUpload { filename: "scan.png".into(), declared_type: None, bytes: png.to_vec() };
    let (doc, _) =
        crm.documents().upload(&ada, NewDocument::default_with_title("Scan"), file, &Source::default()).await.unwrap();
    // Dispatch the upload's event, which queues the extraction.
    let worker = crm.worker();
    let running = tokio::spawn(async move { worker.run_until_idle().await.unwrap() });
    // While the OCR runs past the lease, nobody else can claim the job.
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = crm.clock().now();
        let stolen = store.jobs().claim(now, chrono::Duration::seconds(2), 10).await.unwrap();
        assert!(stolen.is_empty(), "a running job was claimed again: {stolen:?}");
    }
    let report = running.await.unwrap();
    assert_eq!(report.lease_lost, 0, "{report:?}");
    let version = &crm.documents().versions(&ada, doc.id).await.unwrap()[0];
    assert_eq!(version.text_status, crmcore::document::TextStatus::Done);
}
