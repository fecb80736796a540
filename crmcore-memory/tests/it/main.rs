//! The crmcore contract suite against `MemoryStore`.

use std::sync::Arc;

use crmcore::ports::Store;
use crmcore_memory::MemoryStore;

crmcore::contract_suite!(memory, async { Some(Arc::new(MemoryStore::new()) as Arc<dyn Store>) });
