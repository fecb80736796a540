//! Background work: the [`Job`] catalogue and the [`Worker`] that runs jobs from any `JobQueue`.

mod job;
mod outbox_dispatcher;
mod worker;

pub use job::Job;
pub use worker::{RetryPolicy, Worker, WorkerConfig, WorkerReport};
