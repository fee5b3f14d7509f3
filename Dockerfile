# Multi-stage build: compile in the Rust image, run in a slim Debian as a non-root user.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Build dependencies first so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY migrations/Cargo.toml migrations/Cargo.toml
RUN mkdir -p src migrations/src \
    && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && echo 'pub struct Migrator;' > migrations/src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src migrations/src
COPY . .
RUN touch src/main.rs src/lib.rs migrations/src/lib.rs && cargo build --release --locked --bin mychat

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mychat \
    && mkdir -p /data/uploads /srv/mychat/user /srv/mychat/admin && chown -R mychat /data
COPY --from=build /src/target/release/mychat /usr/local/bin/mychat
USER mychat
WORKDIR /data
ENV MYCHAT_ENV=production \
    MYCHAT_DATA_DIR=/data \
    MYCHAT_BIND=0.0.0.0
# Built web apps are mounted read-only at /srv/mychat/user and /srv/mychat/admin and served when
# MYCHAT__SERVER__STATIC_DIR_USER / MYCHAT__SERVER__STATIC_DIR_ADMIN point there (see README.md).
VOLUME ["/data"]
EXPOSE 8080 8081 8082
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/usr/local/bin/mychat"]
CMD ["serve"]
