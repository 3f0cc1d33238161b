//! Socket tuning on the hot path.
//!
//! Pingora writes a response (or request) header and its body in separate `send`s when
//! the body does not fit its write buffer, and always flushes a request header before
//! the body. On loopback and LAN every `send` runs the whole transmit path (and the
//! peer's receive path in softirq) — profiled as ~40% of gateway CPU at 1 KB requests.
//! Holding `TCP_CORK` while header and body are written makes them leave as one
//! segment: the syscalls stay, the per-segment network work halves.

use std::os::fd::{BorrowedFd, RawFd};

/// Corks a TCP socket until dropped. Must not outlive the socket it was made for.
pub struct Cork(RawFd);

impl Cork {
    pub fn new(fd: RawFd) -> Cork {
        set_cork(fd, true);
        Cork(fd)
    }
}

impl Drop for Cork {
    fn drop(&mut self) {
        set_cork(self.0, false);
    }
}

fn set_cork(fd: RawFd, on: bool) {
    // SAFETY: `fd` belongs to a stream the caller holds for the lifetime of the
    // `Cork`; it is only borrowed for this one setsockopt call.
    let sock = unsafe { BorrowedFd::borrow_raw(fd) };
    // Best effort: on a non-TCP socket this fails and nothing changes.
    let _ = socket2::SockRef::from(&sock).set_tcp_cork(on);
}
