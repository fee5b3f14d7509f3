//! Builds the application state, binds the three listeners (port 0 picks a free one), runs the servers and
//! the supervised background tasks (see [`crate::supervisor`]), and stops everything gracefully.

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
    let mut infra = match settings.redis_url() {
        Some(url) => Infra::redis(connect_redis(url, &settings.redis.key_prefix).await?),
        None => Infra::in_memory(),
    };
    infra.revocation = auth::revocation::DurableRevocation::new(db.clone(), infra.revocation);
    auth::revocation::rebuild(&db, infra.revocation.as_ref())
        .await
        .context("loading token revocations failed")?;
    let secrets = auth::secrets::load_or_generate(&settings)?;
    let tokens = TokenService::new(
        &secrets.user,
        &secrets.admin,
        settings.auth.access_token_ttl_hours,
    );
    let passwords = PasswordHasher::new(&settings.auth)?;
    let chat_keys = Arc::new(crate::modules::chat::crypto::Keyring::load(&settings)?);
    let bus = EventBus::new(
        db.clone(),
        infra.pubsub.clone(),
        settings.database.outbox_vacuum_after_rows,
    );
    let realtime = crate::modules::chat::hub::Hub::new(
        infra.pubsub.clone(),
        infra.presence.clone(),
        infra.revocation.clone(),
    );
    let account_cache_ms = settings.auth.account_cache_ms;
    let state = AppState {
        settings: Arc::new(settings),
        db: db.clone(),
        infra,
        bus,
        tokens,
        passwords,
        realtime,
        rbac: rbac::enforcer::RbacEnforcer::new(db.clone()),
        tasks: crate::supervisor::Supervisor::new()?,
        counselor_pages: Default::default(),
        probes: Default::default(),
        chat_keys,
        account_states: Arc::new(crate::modules::users::account_states::AccountStates::new(
            Duration::from_millis(account_cache_ms),
        )),
    };
    rbac::seed::seed(&state.db, &state.settings, &state.passwords)
        .await
        .context("seeding RBAC failed")?;
    system::seed::seed(&state.db, &state.settings)
        .await
        .context("seeding system configs failed")?;
    rbac::register_subscribers(&state);
    crate::modules::users::register_subscribers(&state);
    system::register_subscribers(&state);
    crate::modules::counselors::register_subscribers(&state);
    crate::modules::notifications::register_subscribers(&state);
    crate::modules::chat::register_subscribers(&state);
    Ok(state)
}

fn bind(settings: &Settings, port: u16) -> anyhow::Result<TcpListener> {
    let addr = format!("{}:{}", settings.server.bind, port);
    TcpListener::bind(&addr).with_context(|| format!("cannot listen on {addr}"))
}

/// Request metrics of one server. None of them serves `/metrics` itself: the admin port's route does,
/// behind its token (`servers::admin_api`).
fn metrics(registry: &prometheus::Registry, namespace: &str) -> anyhow::Result<PrometheusMetrics> {
    PrometheusMetricsBuilder::new(namespace)
        .registry(registry.clone())
        .mask_unmatched_patterns("UNKNOWN")
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build metrics: {e}"))
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // A web app that is configured but cannot be served is a start-up error, not a silent 404.
        servers::spa::Spa::open("server.static_dir_user", &settings.server.static_dir_user)?;
        servers::spa::Spa::open("server.static_dir_admin", &settings.server.static_dir_admin)?;
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
        let user_metrics = metrics(&registry, "mychat_user_api")?;
        let admin_metrics = metrics(&registry, "mychat_admin_api")?;
        let ws_metrics = metrics(&registry, "mychat_ws")?;
        state.tasks.register_metrics(&registry)?;

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = if settings.server.workers == 0 {
            cores
        } else {
            settings.server.workers
        };

        // The user port takes the WebSocket upgrades of port 8082 too (the user web app opens its socket
        // on its own origin), so it is built like that port rather than with `HttpServer`.
        let user = servers::ws::with_upgrades(
            "mychat-user",
            state.clone(),
            user_metrics,
            user_listener,
            workers,
            servers::user_api::routes,
        )?;
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

    /// Starts the servers and the supervised background tasks and returns at once.
    pub fn start(self) -> RunningApp {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = self.state.clone();
        let tasks = state.tasks.clone();
        let bus = state.bus.clone();
        let hub = state.realtime.clone();
        let mut background = vec![
            tasks.spawn("outbox", shutdown_rx.clone(), {
                let bus = bus.clone();
                move |task, rx| bus.clone().run_dispatcher(task, rx)
            }),
            tasks.spawn("event_listener", shutdown_rx.clone(), move |task, rx| {
                bus.clone().run_broadcast_listener(task, rx)
            }),
            tasks.spawn("ws_listener", shutdown_rx.clone(), {
                let hub = hub.clone();
                move |task, rx| hub.clone().run_listener(task, rx)
            }),
            tasks.spawn("presence", shutdown_rx.clone(), move |task, rx| {
                hub.clone().run_presence(task, rx)
            }),
            tasks.every(
                "session_watchdog",
                Duration::from_secs(state.settings.chat.watchdog_interval_secs.max(1)),
                shutdown_rx.clone(),
                state.clone(),
                |state| async move {
                    Ok(u64::from(
                        crate::modules::chat::service::watchdog_pass(&state).await?,
                    ))
                },
            ),
            tasks.every(
                "revocation_purge",
                Duration::from_secs(3600),
                shutdown_rx.clone(),
                state.clone(),
                |state| async move { auth::revocation::purge_expired(&state.db).await },
            ),
            tasks.every(
                "outbox_retention",
                Duration::from_secs(3600),
                shutdown_rx.clone(),
                state.clone(),
                |state| async move {
                    match state.settings.database.outbox_retention_hours {
                        0 => Ok(0),
                        hours => {
                            let keep = Duration::from_secs(hours.saturating_mul(3600));
                            state.bus.purge_delivered(keep).await
                        }
                    }
                },
            ),
            tasks.every(
                "order_auto_cancel",
                Duration::from_secs(60),
                shutdown_rx.clone(),
                state.clone(),
                |state| async move {
                    Ok(crate::modules::orders::service::cancel_expired_orders(&state).await?)
                },
            ),
            tasks.every(
                "retention_purge",
                Duration::from_secs(state.settings.privacy.retention_interval_secs.max(1)),
                shutdown_rx.clone(),
                state.clone(),
                |state| async move {
                    Ok(crate::modules::privacy::retention::purge_pass(&state).await?)
                },
            ),
            tasks.every(
                "refund_query",
                Duration::from_secs(state.settings.payments.refund_query_interval_secs.max(1)),
                shutdown_rx.clone(),
                state.clone(),
                |state| async move {
                    Ok(u64::from(
                        crate::modules::payments::refunds::query_processing_refunds(&state).await?,
                    ))
                },
            ),
        ];
        if state.infra.redis.is_some() {
            background.push(tasks.spawn("redis", shutdown_rx, move |task, rx| {
                redis_watch(state.clone(), task, rx)
            }));
        }
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
        // Presence entries are this instance's: gone with it, not left to expire.
        self.state.realtime.forget_presence().await;
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

impl RunningApp {
    /// Stops as a crash would: servers and their connections dropped at once, background tasks aborted,
    /// nothing drained, presence left to expire. For fault-injection tests.
    pub async fn abort(self) {
        for task in &self.background {
            task.abort();
        }
        for handle in &self.handles {
            handle.stop(false).await;
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

/// How often the Redis watch checks Redis.
const REDIS_PING_EVERY: Duration = Duration::from_secs(1);

/// Watches Redis: the supervised `redis` task, down while Redis does not answer. Each (re)start, i.e.
/// after every reconnection, rebuilds what Redis may have lost: the revocation list from the database and
/// this instance's presence entries.
async fn redis_watch(
    state: web::Data<AppState>,
    task: crate::supervisor::Task,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(redis) = state.infra.redis.clone() else {
        return Ok(());
    };
    redis.ping().await.context("Redis does not answer")?;
    if task.up() || !redis.revocations_loaded().await? {
        let loaded = auth::revocation::rebuild(&state.db, state.infra.revocation.as_ref()).await?;
        state.realtime.reassert_presence().await?;
        tracing::info!(
            revocations = loaded,
            "Redis is back: revocations and presence restored"
        );
    }
    let mut tick = tokio::time::interval(REDIS_PING_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            _ = tick.tick() => {
                if !redis.revocations_loaded().await.context("Redis does not answer")? {
                    anyhow::bail!("Redis lost its data (restarted empty?)");
                }
            }
        }
    }
}
