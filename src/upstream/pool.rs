//! Idle provider connections, kept per peer, most recently used first.
//!
//! Why not Pingora's connection pool: it spawns a task per released connection that
//! watches the idle socket, and a reuse has to wake and stop that task again; at
//! 10k+ requests/s that was ~8% of the gateway's CPU. Here a released connection is
//! pushed onto a list under a short lock, and liveness is checked when it is taken
//! (a non-blocking read: a closed or chatty socket is dropped). A sweeper drops
//! connections idle past their timeout or closed by the provider, every few seconds.
//! A connection that dies between the check and the request is still caught by
//! `Upstreams::send`, which retries once on a fresh connection.

use pingora_core::protocols::Stream;
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Idle connections kept per peer; beyond this, released connections are closed.
const MAX_IDLE_PER_PEER: usize = 1024;

pub struct Pool {
    idle: Mutex<HashMap<u64, Vec<Idle>>>,
    idle_timeout: Duration,
}

struct Idle {
    stream: Stream,
    since: Instant,
}

impl Pool {
    pub fn new(idle_timeout: Duration) -> Self {
        Pool {
            idle: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    /// The most recently released live connection to `key`, if any.
    pub fn take(&self, key: u64) -> Option<Stream> {
        loop {
            let idle = {
                let mut map = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                map.get_mut(&key)?.pop()?
            };
            let mut stream = idle.stream;
            if idle.since.elapsed() < self.idle_timeout && reusable(&mut stream) {
                return Some(stream);
            }
            // Expired or closed: dropping it closes the socket; try the next one.
        }
    }

    /// Keeps `stream` for reuse (its response must have been read to the end).
    pub fn put(&self, key: u64, mut stream: Stream) {
        if !reusable(&mut stream) {
            return;
        }
        let mut map = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(key).or_default();
        if list.len() < MAX_IDLE_PER_PEER {
            list.push(Idle {
                stream,
                since: Instant::now(),
            });
        }
    }

    /// Closes connections idle past the timeout or closed by the provider.
    pub fn sweep(&self) {
        let mut closed = Vec::new();
        {
            let mut map = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            for list in map.values_mut() {
                // Rebuilt in order, so the most recent stays last for `take`.
                for mut c in std::mem::take(list) {
                    if c.since.elapsed() < self.idle_timeout && reusable(&mut c.stream) {
                        list.push(c);
                    } else {
                        closed.push(c);
                    }
                }
            }
            map.retain(|_, list| !list.is_empty());
        }
        // Sockets are closed outside the lock.
        drop(closed);
    }

    /// Idle connections held.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        let map = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        map.values().map(Vec::len).sum()
    }
}

/// An idle connection is reusable when a read would block: no EOF (closed by the
/// provider), no error, and no unexpected bytes (a server never speaks first on an
/// idle HTTP/1 connection).
fn reusable(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    // Polled once, never awaited. `unconstrained`: tokio's coop budget must not turn
    // a ready read into "pending".
    let read = pin!(tokio::task::unconstrained(stream.read(&mut byte)));
    match read.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Pending => true,
        Poll::Ready(Ok(0)) => false,
        Poll::Ready(Ok(_)) => {
            log::warn!("provider sent data on an idle connection; closing it");
            false
        }
        Poll::Ready(Err(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A connected pair over loopback: (pooled client side as a Pingora stream, server side).
    async fn pair() -> (Stream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, server) = tokio::join!(client, listener.accept());
        let l4: pingora_core::protocols::l4::stream::Stream = client.unwrap().into();
        (Box::new(l4), server.unwrap().0)
    }

    #[tokio::test]
    async fn takes_back_live_connections_most_recent_first() {
        let pool = Pool::new(Duration::from_secs(60));
        let (a, _sa) = pair().await;
        let (b, _sb) = pair().await;
        let (a_id, b_id) = (a.id(), b.id());
        pool.put(7, a);
        pool.put(7, b);
        assert_eq!(pool.idle_count(), 2);
        assert!(pool.take(8).is_none(), "other peer");
        assert_eq!(pool.take(7).map(|s| s.id()), Some(b_id));
        assert_eq!(pool.take(7).map(|s| s.id()), Some(a_id));
        assert!(pool.take(7).is_none());
    }

    #[tokio::test]
    async fn drops_connections_the_provider_closed_or_spoke_on() {
        let pool = Pool::new(Duration::from_secs(60));
        let (closed, server) = pair().await;
        let (chatty, mut server2) = pair().await;
        let (live, _s3) = pair().await;
        let live_id = live.id();
        pool.put(1, live);
        pool.put(1, closed);
        pool.put(1, chatty);
        drop(server);
        server2
            .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .await
            .unwrap();
        // Let the FIN and the bytes arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.take(1).map(|s| s.id()), Some(live_id));
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn sweep_closes_expired_and_closed_connections() {
        // Generous margins: only `old` may be past the timeout when the sweep runs.
        let pool = Pool::new(Duration::from_secs(2));
        let (old, _s1) = pair().await;
        pool.put(1, old);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let (fresh, _s2) = pair().await;
        let (closed, s3) = pair().await;
        pool.put(1, fresh);
        pool.put(2, closed);
        drop(s3);
        tokio::time::sleep(Duration::from_millis(10)).await;
        pool.sweep();
        assert_eq!(pool.idle_count(), 1);
        assert!(pool.take(1).is_some());
    }
}
