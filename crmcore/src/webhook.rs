//! Outgoing webhooks. This module holds the Standard Webhooks signature scheme: what the
//! delivery pipeline signs with, and what receivers verify with.

pub mod signature;

pub use signature::{SignatureError, SigningSecret, sign, verify};
