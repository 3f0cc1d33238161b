//! Response body made of pre-built frames, written one frame per flush, with optional
//! delays and injected faults (abrupt drop, stall).
//!
//! No task or channel per stream: the body itself is a small state machine polled by
//! hyper, which keeps thousands of concurrent streams cheap.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How long `stall_after` keeps the connection open before giving up.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// Error returned from the body to make hyper abort the connection.
#[derive(Debug)]
pub struct Abort(&'static str);

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mock abort: {}", self.0)
    }
}

impl std::error::Error for Abort {}

/// Fault to inject once `n` frames have been sent (only if frames remain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    DropAfter(usize),
    StallAfter(usize),
}

/// Response bodies alive right now (hyper drops a body when its connection closes),
/// so tests can see that a gateway cancelled an upstream stream.
pub static OPEN_BODIES: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

pub struct MockBody {
    frames: VecDeque<Bytes>,
    /// Bytes left to send, reported as exact size (`content-length`) when `exact`.
    remaining: u64,
    exact: bool,
    delay: Duration,
    fault: Fault,
    sent: usize,
    timer: Option<Pin<Box<Sleep>>>,
    timer_armed: bool,
    stalled: bool,
    /// Return `Pending` once before the next frame so hyper flushes each frame separately.
    yield_next: bool,
}

impl MockBody {
    /// A body sent as `frames`. `exact` makes hyper send `content-length` (JSON); otherwise
    /// the response is chunked (SSE).
    pub fn new(frames: Vec<Bytes>, exact: bool, delay: Duration, fault: Fault) -> Self {
        let remaining = frames.iter().map(|f| f.len() as u64).sum();
        OPEN_BODIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        MockBody {
            frames: frames.into_iter().filter(|f| !f.is_empty()).collect(),
            remaining,
            exact,
            delay,
            fault,
            sent: 0,
            timer: None,
            timer_armed: false,
            stalled: false,
            // With a fault, flush the response head before the first frame.
            yield_next: fault != Fault::None,
        }
    }

    /// A complete body in one frame, with `content-length`.
    pub fn full(data: impl Into<Bytes>) -> Self {
        Self::new(vec![data.into()], true, Duration::ZERO, Fault::None)
    }

    fn arm(&mut self, after: Duration) {
        let deadline = Instant::now() + after;
        match &mut self.timer {
            Some(t) => t.as_mut().reset(deadline),
            None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.timer_armed = true;
    }
}

impl Drop for MockBody {
    fn drop(&mut self) {
        OPEN_BODIES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Abort;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Abort>>> {
        let this = self.get_mut();
        loop {
            if this.timer_armed {
                if let Some(t) = this.timer.as_mut() {
                    if t.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                this.timer_armed = false;
                if this.stalled {
                    return Poll::Ready(Some(Err(Abort("stall limit reached"))));
                }
            }
            if this.yield_next {
                // Let hyper flush what it has buffered (also before an injected fault, so
                // the frames before it really reach the client).
                this.yield_next = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if !this.frames.is_empty() {
                match this.fault {
                    Fault::DropAfter(n) if this.sent >= n => {
                        this.frames.clear();
                        return Poll::Ready(Some(Err(Abort("drop_after"))));
                    }
                    Fault::StallAfter(n) if this.sent >= n && !this.stalled => {
                        this.stalled = true;
                        this.arm(STALL_LIMIT);
                        continue;
                    }
                    _ => {}
                }
            }
            let Some(frame) = this.frames.pop_front() else {
                return Poll::Ready(None);
            };
            this.sent += 1;
            this.remaining = this.remaining.saturating_sub(frame.len() as u64);
            if !this.frames.is_empty() {
                if this.delay.is_zero() {
                    this.yield_next = true;
                } else {
                    this.arm(this.delay);
                }
            }
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && !self.timer_armed
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.remaining)
        } else {
            SizeHint::default()
        }
    }
}
