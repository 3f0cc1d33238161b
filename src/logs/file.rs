//! A log file with size rotation, count and age retention, gzip of rotated files,
//! and a write path that survives the file going away.
//!
//! Rotated files are named `NAME.YYYYmmddTHHMMSSZ.SEQ` (UTC time of the rotation,
//! `SEQ` counting up across restarts), `.gz` added once compressed. Retention reads the
//! time from the name, so tests can inject a clock ([`RotatingFile::with_clock`]).
//!
//! Only the thread that owns a [`FileSink`] touches it (the sink's writer thread, the
//! body log's worker): rotation and retention run there, gzip on a thread of its own,
//! so neither ever runs on a request thread.

use crate::config::log::{FileOutput, Rotate};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

pub type Clock = Box<dyn Fn() -> SystemTime + Send>;

const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// How rotated files get compressed.
pub enum Compressor {
    /// On a background thread (the gateway), started at the first rotation and again
    /// in a forked process (daemon mode: threads do not survive the fork).
    Thread {
        name: String,
        worker: Option<(u32, mpsc::Sender<PathBuf>)>,
    },
    /// At once, on the caller's thread (unit tests).
    Inline,
}

impl Compressor {
    pub fn thread(name: &str) -> Compressor {
        Compressor::Thread {
            name: name.to_string(),
            worker: None,
        }
    }

    fn submit(&mut self, path: PathBuf) {
        let Compressor::Thread { name, worker } = self else {
            return gzip_or_warn(&path);
        };
        let pid = std::process::id();
        if worker.as_ref().is_none_or(|(p, _)| *p != pid) {
            let (tx, rx) = mpsc::channel::<PathBuf>();
            let spawned = std::thread::Builder::new()
                .name(format!("switchyard-gzip-{name}"))
                .spawn(move || rx.into_iter().for_each(|p| gzip_or_warn(&p)));
            *worker = match spawned {
                Ok(_) => Some((pid, tx)),
                Err(e) => {
                    log::warn!("gzip thread failed to start ({e}); gzipping inline");
                    None
                }
            };
        }
        match worker {
            Some((_, tx)) => {
                if let Err(mpsc::SendError(path)) = tx.send(path) {
                    gzip_or_warn(&path);
                }
            }
            None => gzip_or_warn(&path),
        }
    }
}

fn gzip_or_warn(path: &Path) {
    if let Err(e) = gzip(path) {
        log::warn!("could not gzip rotated log {}: {e}", path.display());
    }
}

/// `path` -> `path.gz` (through a temporary name, so a reader never sees half a file),
/// then `path` is removed.
pub fn gzip(path: &Path) -> io::Result<()> {
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    let gz = PathBuf::from(gz_name);
    let mut tmp_name = gz.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let result = (|| {
        let mut input = File::open(path)?;
        let mut enc = flate2::write::GzEncoder::new(
            io::BufWriter::new(File::create(&tmp)?),
            flate2::Compression::default(),
        );
        io::copy(&mut input, &mut enc)?;
        enc.finish()?.into_inner().map_err(|e| e.into_error())?;
        fs::rename(&tmp, &gz)?;
        fs::remove_file(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// One rotated file found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub path: PathBuf,
    pub seq: u64,
    pub at: SystemTime,
    pub gzipped: bool,
}

/// The rotated siblings of `path` (`NAME.STAMP.SEQ[.gz]`), oldest first.
pub fn rotated_files(path: &Path) -> Vec<Rotated> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Rotated> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name();
            let file = file.to_str()?;
            let rest = file.strip_prefix(name)?.strip_prefix('.')?;
            let (rest, gzipped) = match rest.strip_suffix(".gz") {
                Some(r) => (r, true),
                None => (rest, false),
            };
            let (stamp, seq) = rest.split_once('.')?;
            let seq: u64 = seq.parse().ok()?;
            let at = parse_stamp(stamp)?;
            Some(Rotated {
                path: e.path(),
                seq,
                at,
                gzipped,
            })
        })
        .collect();
    out.sort_by_key(|r| r.seq);
    out
}

fn format_stamp(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime(STAMP)
        .to_string()
}

fn parse_stamp(s: &str) -> Option<SystemTime> {
    let dt = jiff::civil::DateTime::strptime(STAMP, s).ok()?;
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(SystemTime::from(ts))
}

/// The current file plus its rotation state.
pub struct RotatingFile {
    path: PathBuf,
    rotate: Rotate,
    file: Option<File>,
    /// Bytes in the current file.
    size: u64,
    /// `(dev, inode)` of the open file, to notice it was moved or removed.
    id: Option<(u64, u64)>,
    next_seq: u64,
    clock: Clock,
    compressor: Compressor,
}

impl RotatingFile {
    /// Opens (creates) the file for appending; gzip (when on) runs on a thread.
    pub fn open(out: &FileOutput) -> io::Result<RotatingFile> {
        let name = out
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("log")
            .to_string();
        let compressor = if out.rotate.gzip {
            Compressor::thread(&name)
        } else {
            Compressor::Inline
        };
        Self::with_clock(out, Box::new(SystemTime::now), compressor)
    }

    pub fn with_clock(
        out: &FileOutput,
        clock: Clock,
        compressor: Compressor,
    ) -> io::Result<RotatingFile> {
        let existing = rotated_files(&out.path);
        let next_seq = existing.last().map_or(1, |r| r.seq + 1);
        let mut f = RotatingFile {
            path: out.path.clone(),
            rotate: out.rotate,
            file: None,
            size: 0,
            id: None,
            next_seq,
            clock,
            compressor,
        };
        f.reopen()?;
        // Left uncompressed by a previous run that exited before its gzip finished.
        if f.rotate.gzip {
            for r in existing.into_iter().filter(|r| !r.gzipped) {
                f.compressor.submit(r.path);
            }
        }
        f.retain();
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// (Re)opens the path for appending: after SIGHUP, or when the file went away.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = None;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let meta = file.metadata()?;
        self.size = meta.len();
        self.id = Some((meta.dev(), meta.ino()));
        self.file = Some(file);
        Ok(())
    }

    /// Whether the path still names the file that is open (not moved, removed, or
    /// replaced).
    pub fn still_there(&self) -> bool {
        match fs::metadata(&self.path) {
            Ok(m) => self.id == Some((m.dev(), m.ino())),
            Err(_) => false,
        }
    }

    /// Appends whole lines, rotating first whenever the next line would not fit.
    /// A single line larger than `max_bytes` gets a file of its own.
    pub fn write_lines(&mut self, mut buf: &[u8]) -> io::Result<()> {
        let max = self.rotate.max_bytes;
        while !buf.is_empty() {
            let room = max.saturating_sub(self.size) as usize;
            if buf.len() <= room {
                return self.append(buf);
            }
            // The longest run of whole lines that fits.
            let cut = match memchr::memrchr(b'\n', &buf[..room]) {
                Some(i) => i + 1,
                None if self.size == 0 => memchr::memchr(b'\n', buf).map_or(buf.len(), |i| i + 1),
                None => 0,
            };
            if cut > 0 {
                self.append(&buf[..cut])?;
                buf = &buf[cut..];
            }
            if !buf.is_empty() {
                self.rotate_now()?;
            }
        }
        Ok(())
    }

    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "log file not open"));
        };
        f.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Renames the current file to its rotated name, opens a fresh one, hands the old
    /// one to gzip and applies retention.
    pub fn rotate_now(&mut self) -> io::Result<()> {
        if self.size == 0 {
            return Ok(());
        }
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(
            ".{}.{}",
            format_stamp((self.clock)()),
            self.next_seq
        ));
        let rotated = PathBuf::from(name);
        self.next_seq += 1;
        self.file = None;
        fs::rename(&self.path, &rotated)?;
        self.reopen()?;
        if self.rotate.gzip {
            self.compressor.submit(rotated);
        }
        self.retain();
        Ok(())
    }

    /// Deletes rotated files beyond `max_files` (oldest first) and older than `max_age`.
    pub fn retain(&self) {
        let files = rotated_files(&self.path);
        let now = (self.clock)();
        let excess = files.len().saturating_sub(self.rotate.max_files);
        for (i, r) in files.iter().enumerate() {
            let too_old = self
                .rotate
                .max_age
                .is_some_and(|age| now.duration_since(r.at).is_ok_and(|d| d > age));
            if i < excess || too_old {
                // Gone already (a concurrent gzip renamed it): nothing to do.
                let _ = fs::remove_file(&r.path);
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// What a sink does with lines while its file cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Access lines: to stderr, so nothing is lost.
    Stderr,
    /// Body records: dropped (and counted); conversation text does not belong in the
    /// process's stderr, which often goes to another system with other access rules.
    Drop,
}

/// First and longest wait between attempts to reopen a file that failed.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the path is checked for being the open file still.
const CHECK_EVERY: Duration = Duration::from_secs(1);

struct Broken {
    retry_at: Instant,
    backoff: Duration,
    failures: u64,
    since: Instant,
}

/// A [`RotatingFile`] that never fails its caller: a write error counts in
/// `switchyard_log_write_errors_total`, the lines go to the fallback, and the file is
/// reopened with backoff; the recovery is logged.
pub struct FileSink {
    /// `None` while the file could not even be opened.
    file: Option<RotatingFile>,
    out: FileOutput,
    fallback: Fallback,
    broken: Option<Broken>,
    last_check: Instant,
}

impl FileSink {
    /// Starts on an opened file (the start-up check opened it already once).
    pub fn new(file: RotatingFile, out: FileOutput, fallback: Fallback) -> FileSink {
        FileSink {
            file: Some(file),
            out,
            fallback,
            broken: None,
            last_check: Instant::now(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.out.path
    }

    pub fn write(&mut self, buf: &[u8]) {
        self.maybe_recover();
        if self.broken.is_none() {
            let r = match self.file.as_mut() {
                Some(f) => f.write_lines(buf),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "not open")),
            };
            match r {
                Ok(()) => return,
                Err(e) => self.fail(&e),
            }
        }
        self.fall_back(buf);
    }

    fn fall_back(&self, buf: &[u8]) {
        match self.fallback {
            Fallback::Stderr => {
                let _ = io::stderr().lock().write_all(buf);
            }
            Fallback::Drop => {
                let lines = memchr::memchr_iter(b'\n', buf).count().max(1);
                crate::metrics::BODY_LOG_DROPPED.inc_by(lines as u64);
            }
        }
    }

    fn fail(&mut self, e: &io::Error) {
        crate::metrics::LOG_WRITE_ERRORS.inc();
        let now = Instant::now();
        match &mut self.broken {
            Some(b) => {
                b.failures += 1;
                b.backoff = (b.backoff * 2).min(BACKOFF_MAX);
                b.retry_at = now + b.backoff;
            }
            None => {
                log::error!(
                    "cannot write log file {}: {e}; {} until it can be written again (retrying with backoff)",
                    self.out.path.display(),
                    match self.fallback {
                        Fallback::Stderr => "writing its lines to stderr",
                        Fallback::Drop => "dropping its records",
                    }
                );
                self.broken = Some(Broken {
                    retry_at: now + BACKOFF_FIRST,
                    backoff: BACKOFF_FIRST,
                    failures: 1,
                    since: now,
                });
            }
        }
    }

    fn maybe_recover(&mut self) {
        let Some(b) = &self.broken else { return };
        if Instant::now() < b.retry_at {
            return;
        }
        let reopened = match self.file.as_mut() {
            Some(f) => f.reopen(),
            None => RotatingFile::open(&self.out).map(|f| self.file = Some(f)),
        };
        match reopened {
            Ok(()) => {
                if let Some(b) = self.broken.take() {
                    log::info!(
                        "log file {} is writable again after {:.1} s and {} failed attempts",
                        self.out.path.display(),
                        b.since.elapsed().as_secs_f64(),
                        b.failures
                    );
                }
            }
            Err(e) => self.fail(&e),
        }
    }

    /// Periodic upkeep, called by the owning thread at least every second or so:
    /// a file that was moved, removed or replaced is reopened, a broken one retried.
    pub fn tick(&mut self) {
        if self.broken.is_some() {
            self.maybe_recover();
            return;
        }
        if self.last_check.elapsed() < CHECK_EVERY {
            return;
        }
        self.last_check = Instant::now();
        if let Some(f) = self.file.as_mut() {
            if !f.still_there() {
                if let Err(e) = f.reopen() {
                    self.fail(&e);
                }
            }
        }
    }

    /// Reopens the path now (SIGHUP: an external logrotate moved the file).
    pub fn reopen(&mut self) {
        let r = match self.file.as_mut() {
            Some(f) => f.reopen(),
            None => RotatingFile::open(&self.out).map(|f| self.file = Some(f)),
        };
        match r {
            Ok(()) => {
                self.broken = None;
            }
            Err(e) => self.fail(&e),
        }
    }

    pub fn flush(&mut self) {
        if let Some(f) = self.file.as_mut() {
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    fn output(dir: &Path, rotate: Rotate) -> FileOutput {
        FileOutput {
            path: dir.join("access.log"),
            rotate,
        }
    }

    fn clock(t: &Arc<Mutex<SystemTime>>) -> Clock {
        let t = t.clone();
        Box::new(move || *t.lock().unwrap())
    }

    fn gunzip(p: &Path) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn rotates_by_size_keeps_max_files_and_gzips() {
        let dir = tempfile::tempdir().unwrap();
        let rotate = Rotate {
            max_bytes: 1024,
            max_files: 3,
            max_age: None,
            gzip: true,
        };
        let now = Arc::new(Mutex::new(SystemTime::now()));
        let mut f =
            RotatingFile::with_clock(&output(dir.path(), rotate), clock(&now), Compressor::Inline)
                .unwrap();
        // 500 lines of 100 bytes: ~50 files' worth, written one line at a time.
        let mut all = String::new();
        for i in 0..500 {
            let line = format!("{i:05} {}\n", "x".repeat(93));
            assert_eq!(line.len(), 100);
            all.push_str(&line);
            f.write_lines(line.as_bytes()).unwrap();
        }
        let rotated = rotated_files(&dir.path().join("access.log"));
        assert_eq!(rotated.len(), 3, "{rotated:?}");
        assert!(rotated.iter().all(|r| r.gzipped));
        // Whole lines only, each file within max_bytes, and the newest files hold the
        // last lines in order.
        let mut kept = String::new();
        for r in &rotated {
            let text = gunzip(&r.path);
            assert!(text.len() <= 1024 && text.ends_with('\n'), "{}", text.len());
            assert_eq!(text.len(), 1000);
            kept.push_str(&text);
        }
        let current = fs::read_to_string(dir.path().join("access.log")).unwrap();
        kept.push_str(&current);
        assert!(all.ends_with(&kept));
        assert_eq!(
            rotated.windows(2).filter(|w| w[0].seq >= w[1].seq).count(),
            0
        );
        // Nothing else was left behind (no .tmp, no uncompressed rotated file).
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn a_batch_is_split_at_line_ends_and_a_huge_line_gets_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let rotate = Rotate {
            max_bytes: 1024,
            max_files: 10,
            max_age: None,
            gzip: false,
        };
        let out = output(dir.path(), rotate);
        let mut f =
            RotatingFile::with_clock(&out, Box::new(SystemTime::now), Compressor::Inline).unwrap();
        let batch: String = (0..25)
            .map(|i| format!("{i:03}{}\n", "y".repeat(96)))
            .collect();
        f.write_lines(batch.as_bytes()).unwrap();
        let big = format!("{}\n", "z".repeat(3000));
        f.write_lines(big.as_bytes()).unwrap();
        f.write_lines(b"after\n").unwrap();
        let rotated = rotated_files(&out.path);
        let sizes: Vec<u64> = rotated
            .iter()
            .map(|r| fs::metadata(&r.path).unwrap().len())
            .collect();
        assert_eq!(sizes, vec![1000, 1000, 500, 3001], "{rotated:?}");
        assert_eq!(fs::read_to_string(&out.path).unwrap(), "after\n");
    }

    #[test]
    fn old_files_go_by_age_with_an_injected_clock() {
        let dir = tempfile::tempdir().unwrap();
        let rotate = Rotate {
            max_bytes: 1024,
            max_files: 100,
            max_age: Some(Duration::from_secs(14 * 86_400)),
            gzip: true,
        };
        let out = output(dir.path(), rotate);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        let now = Arc::new(Mutex::new(start));
        let mut f = RotatingFile::with_clock(&out, clock(&now), Compressor::Inline).unwrap();
        let line = format!("{}\n", "a".repeat(99));
        // One rotation per simulated day for 20 days.
        for day in 0..20u64 {
            *now.lock().unwrap() = start + Duration::from_secs(day * 86_400);
            for _ in 0..10 {
                f.write_lines(line.as_bytes()).unwrap();
            }
            f.rotate_now().unwrap();
        }
        let kept = rotated_files(&out.path);
        let newest = start + Duration::from_secs(19 * 86_400);
        assert!(kept
            .iter()
            .all(|r| newest.duration_since(r.at).unwrap() <= Duration::from_secs(14 * 86_400)));
        assert_eq!(kept.len(), 15, "{kept:?}");
        // A restart continues the sequence and keeps the rule.
        drop(f);
        *now.lock().unwrap() = newest + Duration::from_secs(3 * 86_400);
        let f = RotatingFile::with_clock(&out, clock(&now), Compressor::Inline).unwrap();
        assert_eq!(rotated_files(&out.path).len(), 12);
        assert_eq!(f.next_seq, 21);
    }

    #[test]
    fn stamps_round_trip() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_123);
        let s = format_stamp(t);
        assert_eq!(s.len(), 16, "{s}");
        assert_eq!(parse_stamp(&s), Some(t));
    }

    #[test]
    fn a_file_replaced_by_a_directory_fails_then_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let out = output(dir.path(), Rotate::default());
        let f =
            RotatingFile::with_clock(&out, Box::new(SystemTime::now), Compressor::Inline).unwrap();
        let mut sink = FileSink::new(f, out.clone(), Fallback::Drop);
        sink.write(b"one\n");
        fs::remove_file(&out.path).unwrap();
        fs::create_dir(&out.path).unwrap();
        sink.last_check = Instant::now() - CHECK_EVERY;
        let before = crate::metrics::LOG_WRITE_ERRORS.get();
        sink.tick();
        assert!(sink.broken.is_some());
        assert!(crate::metrics::LOG_WRITE_ERRORS.get() > before);
        sink.write(b"lost\n");
        fs::remove_dir(&out.path).unwrap();
        if let Some(b) = &mut sink.broken {
            b.retry_at = Instant::now();
        }
        sink.write(b"two\n");
        assert!(sink.broken.is_none());
        assert_eq!(fs::read_to_string(&out.path).unwrap(), "two\n");
    }
}
