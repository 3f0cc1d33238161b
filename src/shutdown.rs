//! SIGTERM drains instead of sleeping.
//!
//! Pingora's SIGTERM handling stops the listeners and then always sleeps the whole
//! `grace_period_seconds` (300 s by default), even with nothing in flight: `systemctl
//! stop` and `docker stop` then end in SIGKILL. Here SIGTERM makes `/readyz` answer 503
//! (so a load balancer stops sending new requests), keeps serving, and exits as soon
//! as no request is in flight, at the latest when the grace period ends. A second
//! SIGTERM or a SIGINT exits at once. SIGQUIT (binary upgrade) keeps Pingora's own
//! behaviour: the listeners go to the new process and in-flight requests get the
//! grace period.

use async_trait::async_trait;
use log::{info, warn};
use pingora_core::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};

static DRAINING: AtomicBool = AtomicBool::new(false);

/// Whether SIGTERM was received: the gateway still serves, but is not ready.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Counts a client request as in flight while it lives (kept in the request context).
#[derive(Debug)]
pub struct InFlight(());

impl InFlight {
    pub fn start() -> Self {
        crate::metrics::IN_FLIGHT.inc();
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        crate::metrics::IN_FLIGHT.dec();
    }
}

fn in_flight() -> i64 {
    crate::metrics::IN_FLIGHT.get()
}

/// The shutdown watcher given to Pingora's `Server::run`.
pub struct DrainThenExit {
    /// Longest drain: the configured grace period.
    pub grace: Duration,
}

/// How often the in-flight count is checked while draining.
const POLL: Duration = Duration::from_millis(100);

#[async_trait]
impl ShutdownSignalWatch for DrainThenExit {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            warn!("cannot install signal handlers; SIGTERM falls back to Pingora's behaviour");
            return pingora_core::server::UnixShutdownSignalWatch.recv().await;
        };
        tokio::select! {
            _ = quit.recv() => return ShutdownSignal::GracefulUpgrade,
            _ = int.recv() => return ShutdownSignal::FastShutdown,
            _ = term.recv() => {}
        }
        DRAINING.store(true, Ordering::Relaxed);
        info!(
            "SIGTERM: draining; /readyz now answers 503; exiting when no request is in flight \
             ({} now) or after {} s",
            in_flight(),
            self.grace.as_secs()
        );
        let deadline = Instant::now() + self.grace;
        loop {
            if in_flight() <= 0 {
                info!("drained: no request in flight; exiting");
                break;
            }
            if Instant::now() >= deadline {
                warn!(
                    "grace period over with {} requests still in flight; exiting",
                    in_flight()
                );
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = term.recv() => { info!("second SIGTERM: exiting now"); break; }
                _ = int.recv() => { info!("SIGINT: exiting now"); break; }
            }
        }
        // Nothing is left to wait for, so Pingora's own grace sleep is skipped.
        ShutdownSignal::FastShutdown
    }
}
