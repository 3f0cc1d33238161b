//! A non-blocking log sink: request threads append finished lines to a shared buffer
//! and a writer thread writes that buffer to stderr in batches.
//!
//! Why not a channel: waking the writer for every access-log line cost a futex wake and
//! a context switch per request (~10% of the gateway's CPU under load). Here, while
//! lines keep coming, the writer drains every [`BUSY_INTERVAL`] on its own and nobody
//! wakes it; only when it has gone idle (nothing to write) does the next line unpark it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

/// Bytes waiting for the writer thread; beyond this, lines are dropped (counted in
/// `switchyard_log_lines_dropped_total`) rather than slowing requests down.
const MAX_PENDING: usize = 8 * 1024 * 1024;
/// How long a busy writer waits between drains (lines appear this late at most).
const BUSY_INTERVAL: Duration = Duration::from_millis(10);

struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Set by the writer before it parks without a timeout; the next line unparks it.
    idle: AtomicBool,
    writer: OnceLock<Thread>,
}

static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();

/// The `Write` end handed to env_logger: each `write` is (part of) a formatted record.
pub struct Sink {
    shared: Arc<Shared>,
}

impl Sink {
    /// Starts the writer thread (once per process).
    pub fn start() -> Sink {
        let shared = SHARED
            .get_or_init(|| {
                let shared = Arc::new(Shared {
                    pending: Mutex::new(Vec::with_capacity(64 * 1024)),
                    idle: AtomicBool::new(false),
                    writer: OnceLock::new(),
                });
                let s = shared.clone();
                match std::thread::Builder::new()
                    .name("switchyard-log".into())
                    .spawn(move || writer(s))
                {
                    Ok(handle) => {
                        let _ = shared.writer.set(handle.thread().clone());
                    }
                    Err(e) => eprintln!("switchyard: log thread failed to start: {e}"),
                }
                shared
            })
            .clone();
        Sink { shared }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        append(&self.shared, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hands finished lines to the writer thread, or writes them to stderr at once when no
/// writer runs (daemon mode, `switchyard check`, tests).
pub fn write_lines(lines: &[u8]) {
    match SHARED.get() {
        Some(shared) => append(shared, lines),
        None => {
            let _ = std::io::stderr().write_all(lines);
        }
    }
}

fn append(shared: &Shared, buf: &[u8]) {
    let Some(writer) = shared.writer.get() else {
        let _ = std::io::stderr().write_all(buf);
        return;
    };
    {
        let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() + buf.len() > MAX_PENDING {
            drop(pending);
            crate::metrics::LOG_LINES_DROPPED.inc();
            return;
        }
        pending.extend_from_slice(buf);
    }
    if shared.idle.swap(false, Ordering::AcqRel) {
        writer.unpark();
    }
}

/// Writes whatever is pending now (used before the process exits).
pub fn flush() {
    if let Some(shared) = SHARED.get() {
        drain(shared, &mut Vec::new());
    }
}

/// Swaps the pending buffer out and writes it; returns whether there was anything.
fn drain(shared: &Shared, spare: &mut Vec<u8>) -> bool {
    {
        let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_empty() {
            return false;
        }
        std::mem::swap(&mut *pending, spare);
    }
    let _ = std::io::stderr().lock().write_all(spare);
    spare.clear();
    true
}

fn writer(shared: Arc<Shared>) {
    let mut spare = Vec::with_capacity(64 * 1024);
    loop {
        if drain(&shared, &mut spare) {
            std::thread::sleep(BUSY_INTERVAL);
            continue;
        }
        // Nothing came in a whole interval: go idle. Re-check after announcing it, so a
        // line appended just before the flag was set is not left waiting.
        shared.idle.store(true, Ordering::Release);
        if drain(&shared, &mut spare) {
            shared.idle.store(false, Ordering::Release);
            continue;
        }
        std::thread::park();
    }
}
