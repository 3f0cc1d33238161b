//! The start-up check of every log file's directory: it exists or can be created, the
//! gateway may create files in it (rotation does) and write the file, and its file
//! system has `log.min_free_bytes` free. A failure names the path and the fix; `main`
//! exits with status 2.

use crate::config::log::FileOutput;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// Checks `out` (named `what` in the config, e.g. `log.access.path`).
pub fn check_file(what: &str, out: &FileOutput, min_free_bytes: u64) -> Result<(), String> {
    let path = &out.path;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let d = dir.display();
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Err(format!(
            "{what}: cannot create the log directory {d}: {e}. Fix: create it \
             (mkdir -p {d}) and give the gateway's user write access (under systemd, \
             LogsDirectory=switchyard provides /var/log/switchyard), choose another \
             path, or log to stderr"
        ));
    }
    if !dir.is_dir() {
        return Err(format!(
            "{what}: {d} is not a directory. Fix: choose a path inside a directory"
        ));
    }
    if !access_writable(dir) {
        return Err(format!(
            "{what}: the gateway's user may not create files in {d} (rotation needs \
             to). Fix: chown or chmod {d} (under systemd, LogsDirectory=switchyard), \
             or choose another path"
        ));
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        return Err(format!(
            "{what}: cannot write {}: {e}. Fix: give the gateway's user write access \
             to it, or choose another path",
            path.display()
        ));
    }
    match free_bytes(dir) {
        Some(free) if free < min_free_bytes => Err(format!(
            "{what}: only {} MiB free on the file system of {d}, below \
             log.min_free_bytes ({} MiB). Fix: free space there, log to another \
             file system, or lower log.min_free_bytes",
            free / MIB,
            min_free_bytes / MIB
        )),
        _ => Ok(()),
    }
}

fn c_path(p: &Path) -> Option<CString> {
    CString::new(p.as_os_str().as_bytes()).ok()
}

fn access_writable(dir: &Path) -> bool {
    let Some(c) = c_path(dir) else { return false };
    // SAFETY: a valid NUL-terminated path; access(2) only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Bytes an unprivileged user may still write on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let c = c_path(dir)?;
    // SAFETY: statvfs(3) fills the zeroed struct we own from a valid path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| (st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::log::Rotate;

    fn out(p: &Path) -> FileOutput {
        FileOutput {
            path: p.to_path_buf(),
            rotate: Rotate::default(),
        }
    }

    #[test]
    fn creates_the_directory_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/access.log");
        check_file("log.access.path", &out(&p), 0).unwrap();
        assert!(p.is_file());
    }

    #[test]
    fn names_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let p = file.join("logs/access.log");
        let e = check_file("log.access.path", &out(&p), 0).unwrap_err();
        assert!(
            e.starts_with("log.access.path: cannot create the log directory"),
            "{e}"
        );
        assert!(
            e.contains(&file.join("logs").display().to_string()) && e.contains("Fix:"),
            "{e}"
        );
        let e =
            check_file("log.bodies.path", &out(&dir.path().join("b.log")), u64::MAX).unwrap_err();
        assert!(
            e.contains("log.min_free_bytes") && e.contains("MiB free"),
            "{e}"
        );
        assert!(free_bytes(dir.path()).unwrap() > 0);
    }
}
