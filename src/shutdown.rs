//! SIGTERM drains instead of sleeping.
//!
//! Pingora's SIGTERM handling stops the listeners and then always sleeps the whole
//! `grace_period_seconds` (300 s by default), even with nothing in flight: `systemctl
//! stop` and `docker stop` then end in SIGKILL. Here SIGTERM makes `/readyz` answer 503
//! (so a load balancer stops sending new requests), keeps serving, and exits as soon
//! as no request is in flight and the shutdown delay has passed, at the latest when the
//! grace period ends, closing client connections after their response meanwhile. The
//! delay covers the time a load balancer takes to notice: without it an idle gateway
//! would exit at once and refuse the requests still routed to it. Any second signal
//! exits at once. SIGQUIT (binary upgrade) keeps Pingora's own
//! behaviour: the listeners go to the new process and in-flight requests get the
//! grace period.

use async_trait::async_trait;
use log::{info, warn};
use pingora_core::server::{ShutdownSignal, ShutdownSignalWatch};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

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

/// How long a SIGTERM drain may and must last.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// Longest drain: the configured grace period.
    pub grace: Duration,
    /// Shortest drain, idle or not: `server.shutdown_delay_seconds`.
    pub delay: Duration,
}

/// The shutdown watcher given to Pingora's `Server::run`.
pub struct DrainThenExit {
    drain: Drain,
    /// Signals forwarded by the handler thread; `None` until the first `recv` when
    /// made with [`DrainThenExit::lazy`].
    signals: tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<Sig>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sig {
    Term,
    Int,
    Quit,
}

impl DrainThenExit {
    /// Installs the signal handlers now, on a thread of their own, so a signal that
    /// arrives while the services start is queued rather than lost (or fatal).
    pub fn install(drain: Drain) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return drop(ready_tx.send(Err(e))),
                };
                rt.block_on(async move {
                    match handlers() {
                        Ok(h) => {
                            let _ = ready_tx.send(Ok(()));
                            forward(h, tx).await;
                        }
                        Err(e) => drop(ready_tx.send(Err(e))),
                    }
                });
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("signal thread ended"))??;
        Ok(DrainThenExit {
            drain,
            signals: tokio::sync::Mutex::new(Some(rx)),
        })
    }

    /// Installs the handlers at the first `recv`, in Pingora's own runtime. For daemon
    /// mode: Pingora forks after `main` starts, and threads do not survive a fork.
    pub fn lazy(drain: Drain) -> Self {
        DrainThenExit {
            drain,
            signals: tokio::sync::Mutex::new(None),
        }
    }
}

type Handlers = (
    tokio::signal::unix::Signal,
    tokio::signal::unix::Signal,
    tokio::signal::unix::Signal,
);

fn handlers() -> std::io::Result<Handlers> {
    Ok((
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
        signal(SignalKind::quit())?,
    ))
}

async fn forward((mut term, mut int, mut quit): Handlers, tx: mpsc::UnboundedSender<Sig>) {
    loop {
        let sig = tokio::select! {
            _ = term.recv() => Sig::Term,
            _ = int.recv() => Sig::Int,
            _ = quit.recv() => Sig::Quit,
        };
        if tx.send(sig).is_err() {
            return;
        }
    }
}

/// How often the in-flight count is checked while draining.
const POLL: Duration = Duration::from_millis(100);

#[async_trait]
impl ShutdownSignalWatch for DrainThenExit {
    async fn recv(&self) -> ShutdownSignal {
        let mut slot = self.signals.lock().await;
        if slot.is_none() {
            let Ok(h) = handlers() else {
                warn!("cannot install signal handlers; falling back to Pingora's");
                return pingora_core::server::UnixShutdownSignalWatch.recv().await;
            };
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(forward(h, tx));
            *slot = Some(rx);
        }
        let Some(signals) = slot.as_mut() else {
            return ShutdownSignal::FastShutdown;
        };
        match signals.recv().await {
            Some(Sig::Quit) => return ShutdownSignal::GracefulUpgrade,
            Some(Sig::Int) | None => return ShutdownSignal::FastShutdown,
            Some(Sig::Term) => {}
        }
        DRAINING.store(true, Ordering::Relaxed);
        let Drain { grace, delay } = self.drain;
        info!(
            "SIGTERM: draining; /readyz now answers 503; exiting when no request is in flight \
             ({} now) and {} s have passed, at the latest after {} s",
            in_flight(),
            delay.as_secs(),
            grace.as_secs()
        );
        let start = Instant::now();
        // A grace period too large to add means: no limit.
        let deadline = start.checked_add(grace);
        loop {
            if in_flight() <= 0 && start.elapsed() >= delay {
                info!("drained: no request in flight; exiting");
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                warn!(
                    "grace period over with {} requests still in flight; exiting",
                    in_flight()
                );
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                sig = signals.recv() => {
                    info!("{sig:?} during the drain: exiting now");
                    break;
                }
            }
        }
        // Nothing is left to wait for, so Pingora's own grace sleep is skipped.
        ShutdownSignal::FastShutdown
    }
}
