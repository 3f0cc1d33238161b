//! Logs: the access log (text or JSON, to stderr, stdout or a rotating file), the
//! application log (env_logger, always stderr), and the request/response body log.
//!
//! - [`init`] runs once at start-up: the directory check of every log file
//!   ([`check`]), the outputs, env_logger (level from `log.level`, replaced by
//!   `RUST_LOG` when set), the writer threads, and the SIGHUP handler.
//! - [`crate::logsink`]: access and app lines, batched to a writer thread.
//! - [`file`]: rotation, retention, gzip, and surviving write errors.
//! - [`body`] and [`redact`]: the body log (`log.bodies`), off the request path.
//! - [`cli`]: `switchyard logs show|tail|stats`.
//!
//! Signals: SIGHUP reopens every log file (for an external logrotate that moved
//! them); SIGTERM and SIGINT end in [`flush`] before the process exits.

pub mod body;
pub mod check;
pub mod cli;
pub mod file;
pub mod json;
pub mod redact;

use crate::config::log::{Destination, LogFormat};
use crate::config::Config;
use crate::logsink::{self, Output};
use std::sync::atomic::Ordering;

/// Sets up every log from the config. `daemon`: Pingora forks later, so threads start
/// in the forked process. An `Err` is the message for the operator (exit status 2).
pub fn init(config: &Config, daemon: bool) -> Result<(), String> {
    let log = &config.log;
    for (what, f) in log.files() {
        check::check_file(what, f, log.min_free_bytes)?;
    }
    let access = match &log.access {
        Destination::Stderr => Output::Stderr,
        Destination::Stdout => Output::Stdout,
        Destination::File(f) => {
            let file = file::RotatingFile::open(f)
                .map_err(|e| format!("log.access.path: cannot open {}: {e}", f.path.display()))?;
            Output::File(Box::new(file::FileSink::new(
                file,
                f.clone(),
                file::Fallback::Stderr,
            )))
        }
    };
    crate::proxy::access::set_format(log.format);
    logsink::install(access, daemon);
    let mut logger = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(log.level.as_str()),
    );
    if log.format == LogFormat::Json {
        logger.format(json::app_record);
    }
    logger.target(env_logger::Target::Pipe(Box::new(logsink::Sink)));
    // Already set (a test harness, a second call): keep that one.
    let _ = logger.try_init();
    if let Some(b) = &log.bodies {
        body::install(b, &config.secrets(), daemon)?;
    }
    install_sighup();
    Ok(())
}

/// A plain stderr logger for the commands that do not serve (`check`, `keys`, `logs`).
pub fn init_cli() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .try_init();
}

/// SIGHUP sets the reopen flags; the writer threads reopen within their idle tick.
/// Installed in every serving process: SIGHUP's default action would end it.
fn install_sighup() {
    // SAFETY: the handler only stores to atomics, which is async-signal-safe.
    let r = unsafe {
        signal_hook_registry::register(libc::SIGHUP, || {
            logsink::REOPEN.store(true, Ordering::Release);
            body::REOPEN.store(true, Ordering::Release);
        })
    };
    if let Err(e) = r {
        log::warn!("cannot install the SIGHUP handler ({e}); log files are not reopened on SIGHUP");
    }
}

/// Writes every buffered line and record (before the process exits).
pub fn flush() {
    body::flush();
    logsink::flush();
}
