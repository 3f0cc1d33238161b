//! `pingora-minimal`: the smallest Pingora `ProxyHttp` reverse proxy, as a floor for
//! Switchyard's measurements (`loadtest/run --only r`): every request goes to one
//! upstream over pooled keep-alive connections, with no routing, no translation, no
//! body handling and no logging. What it costs per request is what Pingora's proxy
//! layer itself costs; what Switchyard costs above it is ours.
//!
//! `pingora-minimal --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT [--threads N]`

use async_trait::async_trait;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_proxy::{ProxyHttp, Session};
use std::net::SocketAddr;

struct Minimal {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Minimal {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora_error::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
    }
    None
}

fn main() {
    let (Some(listen), Some(upstream)) = (arg("--listen"), arg("--upstream")) else {
        eprintln!("usage: pingora-minimal --listen ADDR --upstream ADDR [--threads N]");
        std::process::exit(2);
    };
    let upstream: SocketAddr = match upstream.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pingora-minimal: --upstream {upstream}: {e}");
            std::process::exit(2);
        }
    };
    let threads = arg("--threads").and_then(|t| t.parse().ok()).unwrap_or(1);
    let conf = ServerConf {
        threads,
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: false,
        daemon: false,
        nocapture: false,
        test: false,
        conf: None,
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(&server.configuration, Minimal { upstream });
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    println!("listening on {listen}");
    server.run_forever();
}
