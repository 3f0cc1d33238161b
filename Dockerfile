# Switchyard container image.
#   docker build -t switchyard .
#   docker run -e OPENAI_API_KEY -e ANTHROPIC_API_KEY -p 8080:8080 switchyard
# With a config file: mount it and pass -c (its `listen` must be 0.0.0.0:PORT):
#   docker run -v $PWD/my.yaml:/etc/switchyard/switchyard.yaml:ro -e OPENAI_API_KEY \
#     -p 8080:8080 switchyard -c /etc/switchyard/switchyard.yaml

FROM rust:1-bookworm AS builder
# cmake builds zlib-ng; the image already has a C compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole tree: Cargo.toml names the mock and bench targets, which must exist.
COPY . .
RUN cargo build --release --bin switchyard

FROM debian:bookworm-slim
# rustls loads the system's root certificates for https:// providers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system switchyard \
 && useradd --system --gid switchyard --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin switchyard
COPY --from=builder /src/target/release/switchyard /usr/local/bin/switchyard
# The file-log directory (see VOLUME below), owned by the gateway's user.
RUN mkdir -p /var/log/switchyard && chown switchyard:switchyard /var/log/switchyard
USER switchyard
# These two apply to the embedded default (no -c); a config file sets its own.
# The admin listener (/healthz /readyz /metrics) has NO authentication. It is bound to
# all interfaces so that health checks and Prometheus can reach it from outside the
# container: publish 9091 only on a private network, or set
# SWITCHYARD_ADMIN_LISTEN=127.0.0.1:9091 to keep it inside.
ENV SWITCHYARD_LISTEN=0.0.0.0:8080 \
    SWITCHYARD_ADMIN_LISTEN=0.0.0.0:9091
EXPOSE 8080 9091
# Logs go to stdout/stderr by default (`docker logs`, the log driver rotates). For
# file logs (log.access.to: file, log.bodies), mount a volume, e.g.
#   docker run -v switchyard-logs:/var/log/switchyard ...
# with log.access.path: /var/log/switchyard/access.log; the directory must be
# writable by the `switchyard` user (a new named volume copies the image directory's ownership).
VOLUME ["/var/log/switchyard"]
# `docker stop` sends SIGTERM: the gateway exits as soon as no request is in flight
# and server.shutdown_delay_seconds (default 0) have passed, at the latest after
# server.grace_period_seconds (default 300). Docker kills it after 10 s unless
# --stop-timeout is raised: long streams, and any shutdown delay, need a longer one.
ENTRYPOINT ["/usr/local/bin/switchyard"]
