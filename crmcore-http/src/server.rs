//! [`serve`]: runs the router (and, unless disabled, the crmcore worker) on a listener until a
//! shutdown future resolves, then drains in-flight requests and jobs.

use std::future::Future;
use std::net::SocketAddr;

use crmcore::Crm;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::routes::router;
use crate::settings::Settings;
use crate::state::AppState;

/// Serves the API on `listener` until `shutdown` resolves. In-flight requests finish; the
/// in-process worker (when `settings.run_worker`) finishes its jobs before this returns.
/// Tests bind port 0 and pass the listener in.
pub async fn serve(
    crm: Crm,
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let run_worker = settings.run_worker;
    let state = AppState::new(crm.clone(), settings).map_err(std::io::Error::other)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let worker = run_worker.then(|| {
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            let report = crm.worker().run(stop).await;
            tracing::info!(?report, "worker stopped");
        })
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, worker = run_worker, "crmcore server listening");
    }
    // Live streams (SSE) end when shutdown starts, so the graceful drain does not wait on them.
    let streams_stop = crate::routes::stream::StreamShutdown(stop_rx.clone());
    let app = router(state).layer(axum::Extension(streams_stop)).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(stopped(stop_rx)).await;
    if let Some(worker) = worker
        && let Err(error) = worker.await
    {
        tracing::error!(%error, "worker task failed");
    }
    tracing::info!("crmcore server stopped");
    served
}

/// Resolves once the stop flag is raised (or its sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining");
}
