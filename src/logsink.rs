//! A non-blocking log sink: request threads append finished lines to a shared buffer
//! and a writer thread writes that buffer out in batches, to stderr, stdout or a
//! rotating file ([`crate::logs::file`]).
//!
//! Why not a channel: waking the writer for every access-log line cost a futex wake and
//! a context switch per request (~10% of the gateway's CPU under load). Here, while
//! lines keep coming, the writer drains every [`BUSY_INTERVAL`] on its own and nobody
//! wakes it; only when it has gone idle (nothing to write) does the next line unpark it.
//!
//! Two streams: [`Stream::App`] (env_logger's records: start-up, warnings, Pingora's
//! own) always goes to stderr; [`Stream::Access`] goes where `log.access.to` says.
//! Rotation, retention, reopening after SIGHUP and recovering from write errors all
//! happen on the writer thread, which also wakes every [`IDLE_TICK`] for that upkeep.

use crate::logs::file::FileSink;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

/// Bytes waiting for the writer thread, per stream; beyond this, lines are dropped
/// (counted in `switchyard_log_lines_dropped_total`) rather than slowing requests down.
const MAX_PENDING: usize = 8 * 1024 * 1024;
/// How long a busy writer waits between drains (lines appear this late at most).
const BUSY_INTERVAL: Duration = Duration::from_millis(10);
/// Longest sleep of an idle writer: SIGHUP reopens and file checks happen this late
/// at most.
const IDLE_TICK: Duration = Duration::from_millis(500);

/// Which log a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    App = 0,
    Access = 1,
}

/// Where a stream's lines go.
pub enum Output {
    Stderr,
    Stdout,
    File(Box<FileSink>),
}

impl Output {
    fn write(&mut self, buf: &[u8]) {
        match self {
            Output::Stderr => {
                let _ = std::io::stderr().lock().write_all(buf);
            }
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(buf);
                let _ = out.flush();
            }
            Output::File(f) => f.write(buf),
        }
    }

    fn tick(&mut self) {
        if let Output::File(f) = self {
            f.tick();
        }
    }

    fn reopen(&mut self) {
        if let Output::File(f) = self {
            f.reopen();
        }
    }

    fn flush(&mut self) {
        match self {
            Output::File(f) => f.flush(),
            Output::Stdout => {
                let _ = std::io::stdout().flush();
            }
            Output::Stderr => {}
        }
    }
}

struct Shared {
    pending: [Mutex<Vec<u8>>; 2],
    /// Set by the writer before it parks; the next line unparks it.
    idle: AtomicBool,
    writer: OnceLock<Thread>,
    /// Held by whoever writes (the writer thread, `flush`, direct writes) for the
    /// whole drain, so `flush` at exit waits for a batch the writer has taken out.
    outputs: Mutex<[Output; 2]>,
    /// Daemon mode: the writer starts in the first process other than this one (after
    /// Pingora's fork; threads do not survive a fork). Until then lines are written
    /// directly.
    start_after_fork_of: Option<u32>,
}

static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();
/// Set by SIGHUP ([`crate::logs`]); the writer reopens its files.
pub(crate) static REOPEN: AtomicBool = AtomicBool::new(false);

/// Sets where access lines go and starts the writer thread, now or (`after_fork`,
/// daemon mode) in the forked process at its first line. Once per process.
pub fn install(access: Output, after_fork: bool) {
    let shared = SHARED.get_or_init(|| {
        Arc::new(Shared {
            pending: [
                Mutex::new(Vec::with_capacity(64 * 1024)),
                Mutex::new(Vec::with_capacity(64 * 1024)),
            ],
            idle: AtomicBool::new(false),
            writer: OnceLock::new(),
            outputs: Mutex::new([Output::Stderr, access]),
            start_after_fork_of: after_fork.then(std::process::id),
        })
    });
    if !after_fork {
        start_writer(shared);
    }
}

fn start_writer(shared: &Arc<Shared>) -> Option<&Thread> {
    if let Some(t) = shared.writer.get() {
        return Some(t);
    }
    // Two threads may race here: the loser's thread finds the slot taken and exits.
    let s = shared.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("switchyard-log".into())
        .spawn(move || {
            let me = std::thread::current();
            let won = s.writer.set(me).is_ok();
            let _ = tx.send(());
            if won {
                writer(s);
            }
        });
    match spawned {
        Ok(_) => {
            let _ = rx.recv();
        }
        Err(e) => eprintln!("switchyard: log thread failed to start: {e}"),
    }
    shared.writer.get()
}

/// The `Write` end handed to env_logger: each `write` is (part of) a formatted record.
pub struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write(Stream::App, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hands finished access lines to the writer thread.
pub fn write_lines(lines: &[u8]) {
    write(Stream::Access, lines);
}

/// Hands lines of `stream` to the writer, or writes them at once when none runs
/// (before [`install`]: `switchyard check`, tests; daemon mode before the fork).
pub fn write(stream: Stream, buf: &[u8]) {
    let Some(shared) = SHARED.get() else {
        let _ = std::io::stderr().write_all(buf);
        return;
    };
    let writer = match shared.writer.get() {
        Some(w) => Some(w),
        None => match shared.start_after_fork_of {
            Some(pid) if pid != std::process::id() => start_writer(shared),
            _ => None,
        },
    };
    let Some(writer) = writer else {
        if stream == Stream::App {
            // Always stderr; and without the lock, which a file sink holds while it
            // logs a write error.
            let _ = std::io::stderr().write_all(buf);
        } else {
            let mut outputs = shared.outputs.lock().unwrap_or_else(|e| e.into_inner());
            outputs[stream as usize].write(buf);
        }
        return;
    };
    {
        let mut pending = shared.pending[stream as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
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

/// Writes whatever is pending now and flushes the files (used before the process
/// exits: SIGTERM, SIGINT).
pub fn flush() {
    if let Some(shared) = SHARED.get() {
        let mut spare = [Vec::new(), Vec::new()];
        let mut outputs = shared.outputs.lock().unwrap_or_else(|e| e.into_inner());
        drain(shared, &mut outputs, &mut spare);
        outputs.iter_mut().for_each(Output::flush);
    }
}

/// Swaps each pending buffer out and writes it; returns whether there was anything.
fn drain(shared: &Shared, outputs: &mut [Output; 2], spare: &mut [Vec<u8>; 2]) -> bool {
    let mut wrote = false;
    for (i, out) in outputs.iter_mut().enumerate() {
        {
            let mut pending = shared.pending[i].lock().unwrap_or_else(|e| e.into_inner());
            if pending.is_empty() {
                continue;
            }
            std::mem::swap(&mut *pending, &mut spare[i]);
        }
        out.write(&spare[i]);
        spare[i].clear();
        wrote = true;
    }
    wrote
}

fn writer(shared: Arc<Shared>) {
    let mut spare = [Vec::with_capacity(64 * 1024), Vec::with_capacity(64 * 1024)];
    let drain_now = |spare: &mut [Vec<u8>; 2]| {
        let mut outputs = shared.outputs.lock().unwrap_or_else(|e| e.into_inner());
        if REOPEN.swap(false, Ordering::AcqRel) {
            outputs.iter_mut().for_each(Output::reopen);
        }
        let wrote = drain(&shared, &mut outputs, spare);
        outputs.iter_mut().for_each(Output::tick);
        wrote
    };
    loop {
        if drain_now(&mut spare) {
            std::thread::sleep(BUSY_INTERVAL);
            continue;
        }
        // Nothing came in a whole interval: go idle. Re-check after announcing it, so a
        // line appended just before the flag was set is not left waiting.
        shared.idle.store(true, Ordering::Release);
        if drain_now(&mut spare) {
            shared.idle.store(false, Ordering::Release);
            continue;
        }
        std::thread::park_timeout(IDLE_TICK);
        shared.idle.store(false, Ordering::Release);
    }
}
