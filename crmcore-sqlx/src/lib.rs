//! SQL adapters.
