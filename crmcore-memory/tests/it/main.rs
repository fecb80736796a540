//! The crmcore contract suite against `MemoryStore`.

use std::sync::Arc;

use crmcore::ports::Store;
use crmcore_memory::MemoryStore;

crmcore::contract_suite!(memory, async { Some(Arc::new(MemoryStore::new()) as Arc<dyn Store>) });

#[tokio::test]
async fn memory_blob_store_keeps_the_blob_contract() {
    crmcore::testing::blob_store_contract(Arc::new(crmcore_memory::MemoryBlobStore::new())).await;
}
