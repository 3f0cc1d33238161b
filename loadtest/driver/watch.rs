//! Process sampling from /proc: RSS (VmRSS), open fds, CPU time (utime + stime), and
//! the open-files limit check. Linux only; no libc.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Target {
    pub label: String,
    pub pid: u32,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Seconds since the load started.
    pub t: f64,
    pub rss_kb: u64,
    pub fds: u64,
    pub cpu_s: f64,
}

/// `PID` or `LABEL=PID`.
pub fn parse_target(s: &str) -> Result<Target, String> {
    let (label, pid) = match s.split_once('=') {
        Some((l, p)) => (l.to_string(), p),
        None => (format!("pid{s}"), s),
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| format!("--watch-pid {s}: expected PID or LABEL=PID"))?;
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(format!("--watch-pid {s}: no process {pid}"));
    }
    Ok(Target { label, pid })
}

/// Clock ticks per second, from the auxiliary vector (AT_CLKTCK = 17); 100 otherwise.
pub fn clk_tck() -> f64 {
    if let Ok(b) = fs::read("/proc/self/auxv") {
        for pair in b.chunks_exact(16) {
            let k = u64::from_ne_bytes(pair[..8].try_into().expect("8 bytes"));
            let v = u64::from_ne_bytes(pair[8..].try_into().expect("8 bytes"));
            if k == 17 && v > 0 {
                return v as f64;
            }
            if k == 0 {
                break;
            }
        }
    }
    100.0
}

pub fn rss_kb(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn fd_count(pid: u32) -> Option<u64> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// utime + stime in seconds.
pub fn cpu_s(pid: u32, tck: f64) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name (which may contain spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / tck)
}

pub fn sample(pid: u32, tck: f64, t: f64) -> Option<Sample> {
    Some(Sample {
        t,
        rss_kb: rss_kb(pid)?,
        fds: fd_count(pid).unwrap_or(0),
        cpu_s: cpu_s(pid, tck)?,
    })
}

/// Busy CPU seconds of the whole machine (all CPUs, from /proc/stat: everything but
/// idle and iowait), to tell how much other processes competed during a run.
pub fn machine_busy_s(tck: f64) -> Option<f64> {
    let s = fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is included in user)
    if v.len() < 8 {
        return None;
    }
    Some((v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tck)
}

/// Soft and hard `Max open files` of this process.
pub fn nofile_limits() -> Option<(u64, u64)> {
    let s = fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    let mut it = line["Max open files".len()..].split_whitespace();
    let parse = |v: Option<&str>| -> Option<u64> {
        match v? {
            "unlimited" => Some(u64::MAX),
            n => n.parse().ok(),
        }
    };
    Some((parse(it.next())?, parse(it.next())?))
}

/// Called after each sampling round with that round's samples (one per target).
pub type Progress = Box<dyn Fn(&[Option<Sample>]) + Send>;

/// Background sampler thread (a plain thread, so a busy runtime cannot delay it).
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    pub samples: Arc<Mutex<Vec<Vec<Sample>>>>,
}

impl Sampler {
    /// Samples every target every `period` until stopped; `t` is measured from `t0`.
    /// `progress` is called after each round (for status lines).
    pub fn start(
        targets: Vec<Target>,
        period: Duration,
        t0: Instant,
        progress: Progress,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(vec![Vec::new(); targets.len()]));
        let (stop2, samples2) = (stop.clone(), samples.clone());
        let tck = clk_tck();
        let handle = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                let mut next = Instant::now();
                loop {
                    let t = t0.elapsed().as_secs_f64();
                    let round: Vec<Option<Sample>> =
                        targets.iter().map(|x| sample(x.pid, tck, t)).collect();
                    {
                        let mut all = samples2.lock().expect("sampler lock");
                        for (i, s) in round.iter().enumerate() {
                            if let Some(s) = s {
                                all[i].push(*s);
                            }
                        }
                    }
                    progress(&round);
                    next += period;
                    // Sleep in short steps so stopping is quick.
                    while Instant::now() < next {
                        if stop2.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::sleep(
                            next.saturating_duration_since(Instant::now())
                                .min(Duration::from_millis(50)),
                        );
                    }
                    if stop2.load(Ordering::Relaxed) {
                        return;
                    }
                }
            })
            .expect("sampler thread");
        Sampler {
            stop,
            handle: Some(handle),
            samples,
        }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_self() {
        let pid = std::process::id();
        let tck = clk_tck();
        assert!(tck >= 1.0);
        let s = sample(pid, tck, 0.0).unwrap();
        assert!(s.rss_kb > 0 && s.fds > 0 && s.cpu_s >= 0.0);
        let (soft, hard) = nofile_limits().unwrap();
        assert!(soft <= hard);
        assert!(parse_target("x=notanumber").is_err());
        assert_eq!(parse_target(&format!("me={pid}")).unwrap().label, "me");
    }
}
