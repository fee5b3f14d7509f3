//! Builds the application state, binds the three listeners (port 0 picks a free one), runs the servers and
//! background jobs, and stops everything gracefully.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{HttpServer, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bus::EventBus;
use crate::config::Settings;
use crate::infra::{Infra, connect_redis};
use crate::modules::auth::{self, PasswordHasher, TokenService};
use crate::modules::{rbac, system};
use crate::servers;
use crate::state::AppState;

pub struct Application {
    user_port: u16,
    admin_port: u16,
    ws_port: u16,
    state: web::Data<AppState>,
    servers: Vec<Server>,
}

/// A running application: its ports, its state, and how to stop it.
pub struct RunningApp {
    pub user_port: u16,
    pub admin_port: u16,
    pub ws_port: u16,
    pub state: web::Data<AppState>,
    handles: Vec<ServerHandle>,
    server_tasks: Vec<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

/// Builds the shared state: database (migrated), Redis or in-memory infrastructure, secrets, the bus,
/// and the seeds.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    crate::modules::payments::install_tls_provider();
    crate::modules::payments::log_configuration_problems(&settings.payments);
    let uploads = settings.uploads_dir();
    std::fs::create_dir_all(&uploads)
        .with_context(|| format!("cannot create {}", uploads.display()))?;
    let db = crate::db::connect(&settings).await?;
    crate::db::migrate(&db).await?;
    let infra = match settings.redis_url() {
        Some(url) => Infra::redis(connect_redis(url, &settings.redis.key_prefix).await?),
        None => Infra::in_memory(),
    };
    let secrets = auth::secrets::load_or_generate(&settings)?;
    let tokens = TokenService::new(
        &secrets.user,
        &secrets.admin,
        settings.auth.access_token_ttl_hours,
    );
    let passwords = PasswordHasher::new(&settings.auth)?;
    let bus = EventBus::new(db.clone(), infra.pubsub.clone());
    let realtime = crate::modules::chat::hub::Hub::new(
        infra.pubsub.clone(),
        infra.presence.clone(),
        infra.revocation.clone(),
    );
    let state = AppState {
        settings: Arc::new(settings),
        db: db.clone(),
        infra,
        bus,
        tokens,
        passwords,
        realtime,
        rbac: rbac::enforcer::RbacEnforcer::new(db.clone()),
        counselor_pages: Default::default(),
    };
    rbac::seed::seed(&state.db, &state.settings, &state.passwords)
        .await
        .context("seeding RBAC failed")?;
    system::seed::seed(&state.db, &state.settings)
        .await
        .context("seeding system configs failed")?;
    rbac::register_subscribers(&state);
    system::register_subscribers(&state);
    if state.infra.redis.is_none() {
        auth::service::restore_revocations(&state).await?;
    }
    crate::modules::counselors::register_subscribers(&state);
    crate::modules::notifications::register_subscribers(&state);
    crate::modules::chat::register_subscribers(&state);
    Ok(state)
}

fn bind(settings: &Settings, port: u16) -> anyhow::Result<TcpListener> {
    let addr = format!("{}:{}", settings.server.bind, port);
    TcpListener::bind(&addr).with_context(|| format!("cannot listen on {addr}"))
}

fn metrics(
    registry: &prometheus::Registry,
    namespace: &str,
    endpoint: bool,
) -> anyhow::Result<PrometheusMetrics> {
    let mut builder = PrometheusMetricsBuilder::new(namespace)
        .registry(registry.clone())
        .mask_unmatched_patterns("UNKNOWN");
    if endpoint {
        builder = builder.endpoint("/metrics");
    }
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build metrics: {e}"))
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = web::Data::new(build_state(settings).await?);
        let settings = state.settings.clone();
        let user_listener = bind(&settings, settings.server.user_port)?;
        let admin_listener = bind(&settings, settings.server.admin_port)?;
        let ws_listener = bind(&settings, settings.server.ws_port)?;
        let user_port = user_listener.local_addr()?.port();
        let admin_port = admin_listener.local_addr()?.port();
        let ws_port = ws_listener.local_addr()?.port();

        // One registry, one namespace per server; only the admin port exposes /metrics.
        let registry = prometheus::Registry::new();
        let user_metrics = metrics(&registry, "mychat_user_api", false)?;
        let admin_metrics = metrics(&registry, "mychat_admin_api", true)?;
        let ws_metrics = metrics(&registry, "mychat_ws", false)?;

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = if settings.server.workers == 0 {
            cores
        } else {
            settings.server.workers
        };

        let s = state.clone();
        let user = HttpServer::new(move || {
            servers::app(
                s.clone(),
                user_metrics.clone(),
                servers::user_api::routes(&s),
            )
        })
        // Small writes (a chat frame, a short JSON reply) go out at once instead of waiting up to
        // 40 ms for the peer's delayed ACK of the previous one (Nagle).
        .tcp_nodelay(true)
        .listen(user_listener)?
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(10)
        .run();
        let s = state.clone();
        let admin = HttpServer::new(move || {
            servers::app(
                s.clone(),
                admin_metrics.clone(),
                servers::admin_api::routes(&s),
            )
        })
        .tcp_nodelay(true)
        .listen(admin_listener)?
        .workers(workers.div_ceil(2))
        .disable_signals()
        .shutdown_timeout(10)
        .run();
        let ws = servers::ws::server(state.clone(), ws_metrics, ws_listener, workers)?;

        Ok(Self {
            user_port,
            admin_port,
            ws_port,
            state,
            servers: vec![user, admin, ws],
        })
    }

    pub fn user_port(&self) -> u16 {
        self.user_port
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    pub fn ws_port(&self) -> u16 {
        self.ws_port
    }

    /// Starts the servers and background jobs and returns at once.
    pub fn start(self) -> RunningApp {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let bus = self.state.bus.clone();
        let mut background = vec![tokio::spawn(
            bus.clone().run_dispatcher(shutdown_rx.clone()),
        )];
        let listener_rx = shutdown_rx.clone();
        background.push(tokio::spawn(async move {
            if let Err(e) = bus.run_broadcast_listener(listener_rx).await {
                tracing::error!(error.cause_chain = ?e, "event broadcast listener stopped");
            }
        }));
        let hub = self.state.realtime.clone();
        let hub_rx = shutdown_rx.clone();
        background.push(tokio::spawn(async move {
            if let Err(e) = hub.run_listener(hub_rx).await {
                tracing::error!(error.cause_chain = ?e, "websocket delivery listener stopped");
            }
        }));
        background.push(tokio::spawn(session_watchdog(
            self.state.clone(),
            shutdown_rx.clone(),
        )));
        background.push(tokio::spawn(housekeeping(
            self.state.clone(),
            shutdown_rx.clone(),
        )));
        background.push(tokio::spawn(
            crate::modules::payments::refunds::run_refund_queries(
                self.state.clone(),
                shutdown_rx.clone(),
            ),
        ));
        background.push(tokio::spawn(
            crate::modules::orders::service::run_auto_cancel(self.state.clone(), shutdown_rx),
        ));
        let handles = self.servers.iter().map(Server::handle).collect();
        let server_tasks = self.servers.into_iter().map(tokio::spawn).collect();
        RunningApp {
            user_port: self.user_port,
            admin_port: self.admin_port,
            ws_port: self.ws_port,
            state: self.state,
            handles,
            server_tasks,
            background,
            shutdown,
        }
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let settings = self.state.settings.clone();
        let host = if settings.server.bind == "0.0.0.0" {
            "127.0.0.1".to_owned()
        } else {
            settings.server.bind.clone()
        };
        tracing::info!(
            user_api = %format!("http://{host}:{}", self.user_port),
            admin_api = %format!("http://{host}:{}", self.admin_port),
            websocket = %format!("ws://{host}:{}", self.ws_port),
            swagger_user = %format!("http://{host}:{}/swagger/", self.user_port),
            swagger_admin = %format!("http://{host}:{}/swagger/", self.admin_port),
            database = %crate::db::redact(&settings.database_url()),
            redis = settings.redis_url().map(crate::db::redact).unwrap_or_else(|| "in-memory".into()),
            "MyChat is serving"
        );
        let running = self.start();
        wait_for_signal().await;
        tracing::info!("shutdown signal received; stopping gracefully");
        running.stop().await;
        tracing::info!("stopped");
        Ok(())
    }
}

impl RunningApp {
    /// Stops the three servers (finishing in-flight requests), then drains the event bus.
    pub async fn stop(self) {
        // WebSocket connections would hold a graceful stop open: send them a close frame first.
        self.state.realtime.close_all("server shutting down");
        for handle in &self.handles {
            handle.stop(true).await;
        }
        for task in self.server_tasks {
            let _ = task.await;
        }
        let _ = self.shutdown.send(true);
        for task in self.background {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Ends sessions whose booked time is used up or that went idle, and sends the five-minute warnings.
/// Several instances may run it: every step is a conditional update.
async fn session_watchdog(state: web::Data<AppState>, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.settings.chat.watchdog_interval_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                match crate::modules::chat::service::watchdog_pass(&state).await {
                    Ok(n) if n > 0 => tracing::info!(ended = n, "session watchdog ended sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error.cause_chain = ?e, "session watchdog pass failed"),
                }
            }
        }
    }
}

/// Periodic clean-up that needs no coordination between instances.
async fn housekeeping(state: web::Data<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                match auth::service::purge_expired_revocations(&state.db).await {
                    Ok(n) if n > 0 => tracing::info!(purged = n, "expired token revocations purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error.cause_chain = ?e, "revocation purge failed"),
                }
            }
        }
    }
}
