//! Pure helpers both backends share: column types, row structs and their conversion into domain
//! values, error mapping, search patterns and the migration bookkeeping. Nothing here issues SQL.

pub(crate) mod activity;
pub(crate) mod approval;
pub(crate) mod audit;
pub(crate) mod blob;
pub(crate) mod campaign;
pub(crate) mod credentials;
pub(crate) mod document;
pub(crate) mod error;
pub(crate) mod integration;
pub(crate) mod migrate;
pub(crate) mod rows;
pub(crate) mod search;
pub(crate) mod segment;
pub(crate) mod types;
pub(crate) mod webhook;
