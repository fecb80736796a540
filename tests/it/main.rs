//! Cross-crate tests of crmcore's services over the memory store: authorization, validation,
//! and the worker's lifecycle. Storage semantics live in the contract suite.

mod campaigns;
mod services;
mod worker;
