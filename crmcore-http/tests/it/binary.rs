//! The `crmcore-server` binary, run as a process.

use std::process::{Command, Stdio};
use std::time::Duration;

/// A free local port (bound and released; racy in theory, fine in practice).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

async fn wait_healthy(base: &str) -> bool {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn serves_until_sigterm() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crmcore-server"))
        .args(["serve", "--database-url", "memory:", "--bind", &format!("127.0.0.1:{port}")])
        .env("CRM_JWT_SECRET", "binary-test-signing-key-0123456789abcdef")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn crmcore-server");
    let base = format!("http://127.0.0.1:{port}");
    let healthy = wait_healthy(&base).await;
    #[cfg(unix)]
    {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    }
    #[cfg(not(unix))]
    let _ = child.kill();
    let status = child.wait().expect("wait");
    assert!(healthy, "the server never became healthy");
    #[cfg(unix)]
    assert!(status.success(), "graceful shutdown exits 0: {status}");
}
