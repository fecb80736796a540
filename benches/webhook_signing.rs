//! Standard Webhooks signing and verification throughput for 1 KiB bodies.
//!
//! `cargo bench --bench webhook_signing`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crmcore::webhook::{SigningSecret, sign, verify};

fn signing(c: &mut Criterion) {
    let secret = SigningSecret::generate().expect("secret");
    let body = vec![b'x'; 1024];
    let header = sign(&[&secret], "msg_bench", 1_700_000_000, &body);
    let mut group = c.benchmark_group("webhook");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign_1KiB", |b| b.iter(|| sign(&[&secret], "msg_bench", 1_700_000_000, &body)));
    group.bench_function("verify_1KiB", |b| {
        b.iter(|| verify(&secret, "msg_bench", "1700000000", &header, &body, 1_700_000_000).expect("valid"))
    });
    group.finish();
}

// criterion_group! generates an undocumented public function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, signing);
}
criterion_main!(group::benches);
