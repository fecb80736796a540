//! Prometheus metrics: request counts and latency by route and status, and job-queue depth.
//!
//! A small hand-written registry (a mutex-guarded map rendered in the text exposition format)
//! instead of a metrics framework: the server exports a handful of series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use crmcore::ports::QueueStats;

use crate::state::AppState;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone, Default)]
struct Series {
    /// Cumulative counts per bucket bound.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_secs: f64,
}

/// Request metrics, keyed by (method, route, status).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let series = requests.entry((method.to_owned(), route.to_owned(), status)).or_default();
        for (bound, count) in BUCKETS.iter().zip(series.buckets.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        series.count += 1;
        series.sum_secs += secs;
    }

    /// Renders every series, plus the queue stats when known, in the Prometheus text format.
    pub fn render(&self, queue: Option<QueueStats>) -> String {
        let mut out = String::new();
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone();
        out.push_str("# HELP crm_http_requests_total HTTP requests by method, matched route and status.\n");
        out.push_str("# TYPE crm_http_requests_total counter\n");
        for ((method, route, status), series) in &requests {
            let labels = labels(method, route, *status);
            let _ = writeln!(out, "crm_http_requests_total{{{labels}}} {}", series.count);
        }
        out.push_str("# HELP crm_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE crm_http_request_duration_seconds histogram\n");
        for ((method, route, status), series) in &requests {
            let labels = labels(method, route, *status);
            for (bound, count) in BUCKETS.iter().zip(series.buckets) {
                let _ = writeln!(out, "crm_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "crm_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", series.count);
            let _ = writeln!(out, "crm_http_request_duration_seconds_sum{{{labels}}} {}", series.sum_secs);
            let _ = writeln!(out, "crm_http_request_duration_seconds_count{{{labels}}} {}", series.count);
        }
        if let Some(q) = queue {
            let gauges = [
                ("crm_jobs_due", "Pending jobs whose time has come.", q.due),
                ("crm_jobs_scheduled", "Pending jobs scheduled for later.", q.scheduled),
                ("crm_jobs_running", "Jobs under a lease.", q.running),
                ("crm_jobs_dead", "Dead-lettered jobs.", q.dead),
                ("crm_jobs_oldest_due_age_seconds", "Seconds the oldest due job has waited.", q.oldest_due_age_secs),
            ];
            for (name, help, value) in gauges {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
            }
        }
        out
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(method: &str, route: &str, status: u16) -> String {
    format!("method=\"{}\",route=\"{}\",status=\"{status}\"", escape(method), escape(route))
}

/// Middleware timing each request under its matched route (`unmatched` for unknown paths, so
/// scanners cannot blow up the label set).
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let response = next.run(request).await;
    state.metrics().observe(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_histograms() {
        let metrics = Metrics::default();
        metrics.observe("GET", "/api/v1/contacts", 200, Duration::from_millis(20));
        metrics.observe("GET", "/api/v1/contacts", 200, Duration::from_millis(2));
        let text = metrics.render(Some(QueueStats { due: 3, ..QueueStats::default() }));
        assert!(text.contains("crm_http_requests_total{method=\"GET\",route=\"/api/v1/contacts\",status=\"200\"} 2"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("crm_jobs_due 3"));
    }
}
