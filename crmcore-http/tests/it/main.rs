//! End-to-end tests: the real server on port 0, spoken to over HTTP with reqwest.

mod api_keys;
mod auth;
mod binary;
mod contacts;
mod deals;
mod errors;
mod ops;
mod support;
mod tenancy;
