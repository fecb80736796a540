//! The blob contract against the stores' embedded blob store (blobs in the database).

use std::sync::Arc;

use crmcore::ports::BlobStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_blob_store_contract() {
    let store = crmcore_sqlx::SqliteStore::open_in_memory().await.expect("sqlite store opens");
    crmcore::testing::blob_store_contract(Arc::new(store) as Arc<dyn BlobStore>).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_blob_store_contract() {
    let Some(url) = std::env::var("CRM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped postgres_blob_store_contract: store not configured");
        return;
    };
    let schema = format!("crm_test_{}", uuid::Uuid::now_v7().simple());
    let store = crmcore_sqlx::PgStore::connect_with_schema(&url, &schema).await.expect("postgres store connects");
    crmcore::testing::blob_store_contract(Arc::new(store) as Arc<dyn BlobStore>).await;
}
