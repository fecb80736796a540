//! Campaigns: e-mail sends to segments, with A/B variants, tracking and bounce handling.

pub mod ab_test;
pub mod bounce;
