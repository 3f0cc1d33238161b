//! A non-blocking log sink: request threads hand finished lines to a writer thread,
//! which writes them to stderr in batches. env_logger's default target writes (and
//! makes a syscall) on the request thread for every access-log line.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// Lines waiting for the writer thread; beyond this, lines are dropped (counted in
/// `switchyard_log_lines_dropped_total`) rather than slowing requests down.
const QUEUE: usize = 64 * 1024;

/// The `Write` end handed to env_logger: one `write` call is one formatted record.
pub struct Sink {
    tx: SyncSender<Vec<u8>>,
    line: Vec<u8>,
}

impl Sink {
    /// Starts the writer thread.
    pub fn start() -> Sink {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("switchyard-log".into())
            .spawn(move || writer(rx))
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("switchyard: log thread failed to start: {e}"));
        Sink {
            tx,
            line: Vec::new(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => crate::metrics::LOG_LINES_DROPPED.inc(),
            // Writer gone (process ending): write directly.
            Err(TrySendError::Disconnected(line)) => {
                let _ = std::io::stderr().write_all(&line);
            }
        }
        Ok(())
    }
}

fn writer(rx: Receiver<Vec<u8>>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    while let Ok(line) = rx.recv() {
        let _ = out.write_all(&line);
        // Drain what is queued, then flush once: one syscall per batch.
        while let Ok(more) = rx.try_recv() {
            let _ = out.write_all(&more);
        }
        let _ = out.flush();
    }
}
