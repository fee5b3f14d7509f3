//! The typed in-process event bus, backed by an outbox table.
//!
//! Durable events are written with [`EventBus::record`] in the same transaction as the change they announce,
//! then delivered at least once by the dispatcher to idempotent subscribers. Two instances never deliver
//! the same row twice: a batch is claimed with a conditional update (and `FOR UPDATE SKIP LOCKED` where
//! the database has it). Events that every instance must see (cache invalidation, WebSocket fan-out) are
//! also relayed over pub/sub (Redis when configured) to the subscribers with [`Scope::EveryInstance`].
//! The dispatcher and the relay's listener are supervised (see [`crate::supervisor`]); while the listener
//! is down, the instance that delivers a row hands it to its own [`Scope::EveryInstance`] subscribers,
//! and when it subscribes again it replays the rows other instances delivered meanwhile (from the outbox,
//! with a margin for the time the loss took to notice), so no cache stays stale until its TTL.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::infra::PubSub;
use crate::supervisor::{self, Task};

/// Which token realm an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Realm {
    User,
    Admin,
}

/// Everything one module tells the others. Names are past tense: something happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum DomainEvent {
    UserRegistered {
        user_id: i64,
        username: String,
    },
    /// A password was changed or reset; tokens issued before it no longer work.
    PasswordChanged {
        realm: Realm,
        account_id: i64,
    },
    /// A token was revoked before its expiry (logout, refresh, password change). `jti` is unique across
    /// realms, so `account_id` alone names the account.
    TokenRevoked {
        account_id: i64,
        jti: String,
    },
    /// An account was disabled or deleted.
    AccountDisabled {
        realm: Realm,
        account_id: i64,
    },
    /// Roles, permissions or their assignments changed: every instance reloads its enforcer.
    RbacChanged,
    /// System configs changed: every instance drops its cached copy.
    ConfigChanged {
        keys: Vec<String>,
    },
    OrderCreated {
        order_id: i64,
        user_id: i64,
        counselor_id: i64,
        amount: i64,
    },
    /// Every order transition (statuses as the clients number them; `actor`: user/counselor/system/admin).
    OrderStatusChanged {
        order_id: i64,
        user_id: i64,
        counselor_id: i64,
        from: i32,
        to: i32,
        actor: String,
    },
    /// A payment was confirmed and applied (once). `purpose`: `order` or `recharge`. Amounts in fen.
    PaymentConfirmed {
        payment_id: i64,
        user_id: i64,
        order_id: Option<i64>,
        purpose: String,
        amount: i64,
    },
    /// A provider reported an amount that differs from ours; nothing was applied.
    PaymentAmountMismatch {
        payment_id: i64,
        expected: i64,
        received: i64,
    },
    PaymentRefunded {
        payment_id: i64,
        user_id: i64,
        order_id: Option<i64>,
        amount: i64,
    },
    /// A channel reported that a refund did not happen (refused, closed or abnormal); the amount it
    /// had reserved on the payment is released. Fen.
    PaymentRefundFailed {
        payment_id: i64,
        refund_id: i64,
        user_id: i64,
        order_id: Option<i64>,
        amount: i64,
        reason: String,
    },
    /// A user's wallet balance moved (fen). `kind`: recharge, consume, refund.
    WalletChanged {
        user_id: i64,
        delta: i64,
        balance: i64,
        kind: String,
    },
    ApplicationSubmitted {
        application_id: i64,
        user_id: i64,
    },
    ApplicationReviewed {
        application_id: i64,
        user_id: i64,
        approved: bool,
        counselor_id: Option<i64>,
        /// When this review happened (ms): a re-application is reviewed again, so this tells reviews apart.
        #[serde(default)]
        reviewed_at_ms: i64,
    },
    ReviewCreated {
        review_id: i64,
        order_id: i64,
        counselor_id: i64,
        rating: i32,
    },
    /// A counselor's public data changed: every instance drops its cached lists.
    CounselorChanged {
        counselor_id: i64,
    },
    ChatSessionStarted {
        session_id: i64,
        order_id: i64,
        user_id: i64,
        counselor_user_id: i64,
    },
    ChatSessionEnded {
        session_id: i64,
        order_id: i64,
        user_id: i64,
        counselor_user_id: i64,
        reason: String,
    },
    /// A session was billed (once): amounts in fen.
    SessionBilled {
        session_id: i64,
        order_id: i64,
        user_id: i64,
        counselor_id: i64,
        total_amount: i64,
        counselor_fee: i64,
        refund_amount: i64,
    },
    WithdrawalRequested {
        withdraw_id: i64,
        counselor_id: i64,
        amount: i64,
    },
    WithdrawalReviewed {
        withdraw_id: i64,
        counselor_id: i64,
        amount: i64,
        approved: bool,
    },
    WithdrawalTransferred {
        withdraw_id: i64,
        counselor_id: i64,
        amount: i64,
    },
    /// A notification row exists; every instance pushes it to the user's live sockets.
    NotificationCreated {
        notification_id: i64,
        user_id: i64,
    },
}

impl DomainEvent {
    pub fn account_disabled(realm: Realm, account_id: i64) -> Self {
        Self::AccountDisabled { realm, account_id }
    }

    /// The `event_type` column, and the tag in the JSON payload.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "user_registered",
            Self::PasswordChanged { .. } => "password_changed",
            Self::TokenRevoked { .. } => "token_revoked",
            Self::AccountDisabled { .. } => "account_disabled",
            Self::RbacChanged => "rbac_changed",
            Self::ConfigChanged { .. } => "config_changed",
            Self::OrderCreated { .. } => "order_created",
            Self::OrderStatusChanged { .. } => "order_status_changed",
            Self::PaymentConfirmed { .. } => "payment_confirmed",
            Self::PaymentAmountMismatch { .. } => "payment_amount_mismatch",
            Self::PaymentRefunded { .. } => "payment_refunded",
            Self::PaymentRefundFailed { .. } => "payment_refund_failed",
            Self::WalletChanged { .. } => "wallet_changed",
            Self::ApplicationSubmitted { .. } => "application_submitted",
            Self::ApplicationReviewed { .. } => "application_reviewed",
            Self::ReviewCreated { .. } => "review_created",
            Self::CounselorChanged { .. } => "counselor_changed",
            Self::ChatSessionStarted { .. } => "chat_session_started",
            Self::ChatSessionEnded { .. } => "chat_session_ended",
            Self::SessionBilled { .. } => "session_billed",
            Self::WithdrawalRequested { .. } => "withdrawal_requested",
            Self::WithdrawalReviewed { .. } => "withdrawal_reviewed",
            Self::WithdrawalTransferred { .. } => "withdrawal_transferred",
            Self::NotificationCreated { .. } => "notification_created",
        }
    }
}

/// Where a subscriber runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// On whichever instance claimed the outbox row: side effects that must happen once.
    Once,
    /// On every instance: local state such as caches and sockets.
    EveryInstance,
}

#[async_trait]
pub trait Subscriber: Send + Sync {
    fn name(&self) -> &'static str;
    fn scope(&self) -> Scope {
        Scope::Once
    }
    /// Must be idempotent: a crash between delivery and acknowledgement delivers again.
    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()>;
    /// The events of one claimed batch, oldest first: one result per event, in the same order (an
    /// event without one counts as failed). The default hands them to [`Subscriber::handle`] one by
    /// one; a subscriber that writes for many events at once does it in fewer round trips here.
    async fn handle_batch(&self, events: &[&DomainEvent]) -> Vec<anyhow::Result<()>> {
        one_by_one(self, events).await
    }
}

/// [`Subscriber::handle`] for each event in turn: the default batch handling, and the fallback of a
/// subscriber whose batch failed.
pub async fn one_by_one<S: Subscriber + ?Sized>(
    subscriber: &S,
    events: &[&DomainEvent],
) -> Vec<anyhow::Result<()>> {
    let mut results = Vec::with_capacity(events.len());
    for event in events {
        results.push(subscriber.handle(event).await);
    }
    results
}

pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub event_type: String,
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        pub attempts: i32,
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
        pub locked_by: Option<String>,
        pub locked_until: Option<DateTimeUtc>,
        pub available_at: DateTimeUtc,
        pub processed_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

const BATCH_SIZE: u64 = 100;
/// Rows per statement of [`EventBus::purge_delivered`].
const PURGE_BATCH: u64 = 1000;
/// How `last_error` of a parked row begins (see `EventBus::park_unreadable`).
const UNREADABLE: &str = "unreadable: ";

const CLAIM_LEASE: Duration = Duration::from_secs(60);
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How long the dispatcher lets events gather after a wake-up before it claims them (see
/// [`EventBus::run_dispatcher`]): the delay a delivered event may take, for batches of many events.
const GATHER: Duration = Duration::from_millis(10);
const BROADCAST_CHANNEL: &str = "events";
/// How far before a noticed loss of the relay's subscription events are replayed: the probe's period and
/// timeout ([`supervisor::PROBE_EVERY`]), and the clock skew between instances.
const MISSED_MARGIN: Duration = Duration::from_secs(10);

/// An outbox row every [`Scope::Once`] subscriber took, waiting to be marked processed and relayed.
struct Delivered {
    id: i64,
    payload: String,
    event: DomainEvent,
}

pub struct EventBus {
    db: DatabaseConnection,
    pubsub: Arc<dyn PubSub>,
    subscribers: RwLock<Vec<Arc<dyn Subscriber>>>,
    wake: Notify,
    /// Whether the relay's listener is subscribed.
    listening: AtomicBool,
    /// Since when relayed events may have been missed: set when the listener loses its subscription,
    /// taken when it has replayed them.
    missed_since: Mutex<Option<chrono::DateTime<Utc>>>,
    /// See [`EventBus::vacuum_when_due`]; 0: never.
    vacuum_after_rows: u64,
    delivered_since_vacuum: AtomicU64,
    vacuuming: AtomicBool,
}

impl EventBus {
    /// `vacuum_after_rows`: see [`EventBus::vacuum_when_due`] (`database.outbox_vacuum_after_rows`).
    pub fn new(
        db: DatabaseConnection,
        pubsub: Arc<dyn PubSub>,
        vacuum_after_rows: u64,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            pubsub,
            subscribers: RwLock::new(Vec::new()),
            wake: Notify::new(),
            listening: AtomicBool::new(false),
            missed_since: Mutex::new(None),
            vacuum_after_rows,
            delivered_since_vacuum: AtomicU64::new(0),
            vacuuming: AtomicBool::new(false),
        })
    }

    pub fn subscribe(&self, subscriber: Arc<dyn Subscriber>) {
        if let Ok(mut subs) = self.subscribers.write() {
            subs.push(subscriber);
        }
    }

    /// Writes `event` to the outbox on `conn`, which should be the transaction of the change it announces.
    /// Call [`EventBus::notify`] after the commit for prompt delivery.
    pub async fn record<C: ConnectionTrait>(conn: &C, event: &DomainEvent) -> anyhow::Result<()> {
        Self::record_all(conn, std::slice::from_ref(event)).await
    }

    /// [`EventBus::record`] for several events, in one statement.
    pub async fn record_all<C: ConnectionTrait>(
        conn: &C,
        events: &[DomainEvent],
    ) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let rows = events
            .iter()
            .map(|event| {
                Ok(outbox::ActiveModel {
                    event_type: Set(event.name().to_owned()),
                    payload: Set(serde_json::to_string(event)?),
                    attempts: Set(0),
                    available_at: Set(now),
                    created_at: Set(now),
                    ..Default::default()
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Without RETURNING: nobody reads the row back, and it would send the payload back too.
        outbox::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
        Ok(())
    }

    /// Whether this instance's relay listener is subscribed: events delivered by any instance reach it.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Records `event` on its own (no surrounding change) and wakes the dispatcher.
    pub async fn publish(&self, event: DomainEvent) -> anyhow::Result<()> {
        Self::record(&self.db, &event).await?;
        self.notify();
        Ok(())
    }

    /// Wakes the dispatcher after a commit that recorded events.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    fn subscribers_in(&self, scope: Scope) -> Vec<Arc<dyn Subscriber>> {
        self.subscribers
            .read()
            .map(|subs| {
                subs.iter()
                    .filter(|s| s.scope() == scope)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Delivers outbox rows until `shutdown` fires; then drains what is left. The supervised `outbox`
    /// task: a failing batch marks it down until one succeeds.
    pub async fn run_dispatcher(
        self: Arc<Self>,
        task: Task,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        loop {
            let delivered = match self.dispatch_batch().await {
                Ok(n) => {
                    task.up();
                    self.vacuum_when_due();
                    n
                }
                Err(e) => {
                    task.failing(&e);
                    0
                }
            };
            if *shutdown.borrow() {
                break;
            }
            // A full batch: more are waiting. Otherwise wait for a commit, then a moment more so the
            // commits of that moment share a batch: under load, one claim, one notification
            // transaction and one acknowledgement per few milliseconds instead of per commit.
            if delivered < BATCH_SIZE as usize {
                tokio::select! {
                    _ = self.wake.notified() => {
                        tokio::select! {
                            _ = tokio::time::sleep(GATHER) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        self.drain().await;
        Ok(())
    }

    /// Delivers every pending row now. Used at shutdown and by tests.
    pub async fn drain(&self) {
        for _ in 0..100 {
            match self.dispatch_batch().await {
                Ok(0) => return,
                Ok(n) => tracing::debug!(delivered = n, "outbox drain progress"),
                Err(e) => {
                    tracing::warn!(error.cause_chain = ?e, "outbox drain failed");
                    return;
                }
            }
        }
    }

    /// Claims up to one batch and delivers it. Returns how many rows were handled.
    ///
    /// Each [`Scope::Once`] subscriber gets the whole batch at once ([`Subscriber::handle_batch`]). The
    /// rows every subscriber took are marked processed together, in one statement after the batch: one
    /// commit per batch instead of one per row, which under load was most of the dispatcher's writes. A
    /// crash before it redelivers them, which the subscribers' idempotence allows.
    async fn dispatch_batch(&self) -> anyhow::Result<usize> {
        let batch = self.claim_batch().await?;
        let count = batch.len();
        let mut readable = Vec::with_capacity(count);
        for row in batch {
            match serde_json::from_str::<DomainEvent>(&row.payload) {
                Ok(event) => readable.push((row, event)),
                Err(e) => self.park_unreadable(&row, &e).await?,
            }
        }
        let events: Vec<&DomainEvent> = readable.iter().map(|(_, event)| event).collect();
        let mut failures: Vec<Option<String>> = vec![None; events.len()];
        for subscriber in self.subscribers_in(Scope::Once) {
            let mut results = subscriber.handle_batch(&events).await.into_iter();
            for (failure, event) in failures.iter_mut().zip(&events) {
                let result = results
                    .next()
                    .unwrap_or_else(|| Err(anyhow::anyhow!("no result for this event")));
                if let Err(e) = result {
                    tracing::warn!(subscriber = subscriber.name(), event = event.name(), error.cause_chain = ?e, "subscriber failed; will retry");
                    *failure = Some(format!("{}: {e:#}", subscriber.name()));
                }
            }
        }
        drop(events);
        let mut delivered = Vec::with_capacity(readable.len());
        let mut retries = Vec::new();
        for ((row, event), failure) in readable.into_iter().zip(failures) {
            match failure {
                None => delivered.push(Delivered {
                    id: row.id,
                    payload: row.payload,
                    event,
                }),
                Some(error) => retries.push((row, error)),
            }
        }
        self.acknowledge(&delivered).await?;
        for (row, error) in retries {
            self.release_for_retry(&row, error).await?;
        }
        for done in &delivered {
            self.broadcast(done).await;
        }
        Ok(count)
    }

    /// A payload no subscriber can read will never succeed: it is parked with the reason.
    async fn park_unreadable(
        &self,
        row: &outbox::Model,
        error: &serde_json::Error,
    ) -> anyhow::Result<()> {
        use outbox::Column as C;
        tracing::error!(id = row.id, event_type = %row.event_type, error = %error, "unreadable outbox event");
        outbox::Entity::update_many()
            .col_expr(C::ProcessedAt, Expr::value(Utc::now()))
            .col_expr(C::LastError, Expr::value(format!("{UNREADABLE}{error}")))
            .filter(C::Id.eq(row.id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Releases a row a subscriber failed on, for a retry after a backoff that doubles per attempt.
    async fn release_for_retry(&self, row: &outbox::Model, error: String) -> anyhow::Result<()> {
        use outbox::Column as C;
        let backoff = 2_i64.saturating_pow(row.attempts.clamp(0, 10) as u32);
        outbox::Entity::update_many()
            .col_expr(C::Attempts, Expr::value(row.attempts + 1))
            .col_expr(C::LastError, Expr::value(error))
            .col_expr(C::LockedBy, Expr::value(Option::<String>::None))
            .col_expr(
                C::LockedUntil,
                Expr::value(Option::<chrono::DateTime<Utc>>::None),
            )
            .col_expr(
                C::AvailableAt,
                Expr::value(Utc::now() + chrono::Duration::seconds(backoff)),
            )
            .filter(C::Id.eq(row.id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Marks delivered rows processed.
    async fn acknowledge(&self, delivered: &[Delivered]) -> anyhow::Result<()> {
        use outbox::Column as C;
        if delivered.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = delivered.iter().map(|d| d.id).collect();
        outbox::Entity::update_many()
            .col_expr(C::ProcessedAt, Expr::value(Utc::now()))
            .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
            .filter(C::Id.is_in(ids))
            .exec(&self.db)
            .await?;
        self.delivered_since_vacuum
            .fetch_add(delivered.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// On PostgreSQL, vacuums the outbox in the background once `vacuum_after_rows` rows were marked
    /// delivered since the last time. Each delivery leaves the row's old version, still "pending", in the
    /// index the claim scans; until a VACUUM removes them every claim visits them all (12 ms per claim
    /// at 100,000 delivered events, where a fresh table takes 0.1 ms). Autovacuum would do it, but it
    /// may be turned off, and under a steady stream of events it runs late. MariaDB's purge and SQLite's
    /// in-place updates need nothing.
    fn vacuum_when_due(self: &Arc<Self>) {
        if self.vacuum_after_rows == 0
            || self.db.get_database_backend() != DatabaseBackend::Postgres
            || self.delivered_since_vacuum.load(Ordering::Relaxed) < self.vacuum_after_rows
            || self.vacuuming.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let delivered = self.delivered_since_vacuum.swap(0, Ordering::Relaxed);
        let bus = Arc::clone(self);
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            // SKIP_LOCKED: if autovacuum is on the table already, this one has nothing to add.
            match bus
                .db
                .execute_unprepared("VACUUM (SKIP_LOCKED) outbox_events")
                .await
            {
                Ok(_) => tracing::info!(
                    delivered,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "outbox vacuumed"
                ),
                Err(e) => tracing::warn!(error.cause_chain = ?e, "outbox vacuum failed"),
            }
            bus.vacuuming.store(false, Ordering::Release);
        });
    }

    /// Deletes rows delivered more than `keep` ago (the hourly `outbox_retention` task). Rows still
    /// pending or being retried are never touched, nor parked unreadable ones (never delivered: kept
    /// for whoever investigates). How many were deleted.
    ///
    /// In batches by primary key, each its own short statement: one range delete over a large backlog
    /// held SQLite's only connection for its whole run, and on MariaDB its gap locks on the
    /// `processed_at` index stopped every transaction that records an event.
    pub async fn purge_delivered(&self, keep: Duration) -> anyhow::Result<u64> {
        use outbox::Column as C;
        let cutoff = Utc::now() - chrono::Duration::from_std(keep)?;
        let mut deleted = 0;
        loop {
            let ids: Vec<i64> = outbox::Entity::find()
                .select_only()
                .column(C::Id)
                .filter(C::ProcessedAt.lt(cutoff))
                .filter(
                    sea_orm::Condition::any()
                        .add(C::LastError.is_null())
                        .add(C::LastError.not_like(format!("{UNREADABLE}%"))),
                )
                .order_by_asc(C::Id)
                .limit(PURGE_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            let full = ids.len() as u64 == PURGE_BATCH;
            deleted += outbox::Entity::delete_many()
                .filter(C::Id.is_in(ids))
                .filter(C::ProcessedAt.lt(cutoff))
                .exec(&self.db)
                .await?
                .rows_affected;
            if !full {
                return Ok(deleted);
            }
        }
    }

    /// Claims up to [`BATCH_SIZE`] deliverable rows for this dispatcher, oldest first.
    async fn claim_batch(&self) -> anyhow::Result<Vec<outbox::Model>> {
        use outbox::Column as C;
        let now = Utc::now();
        let claimable = || {
            sea_orm::Condition::all()
                .add(C::ProcessedAt.is_null())
                .add(C::AvailableAt.lte(now))
                .add(
                    sea_orm::Condition::any()
                        .add(C::LockedUntil.is_null())
                        .add(C::LockedUntil.lt(now)),
                )
        };
        // A fresh token per batch (fits `locked_by`): the rows updated with it are exactly this claim's.
        let token = uuid::Uuid::new_v4().simple().to_string();
        let locked_until = now + chrono::Duration::from_std(CLAIM_LEASE)?;
        let row_locks = self.db.get_database_backend() != DatabaseBackend::Sqlite;
        let mut oldest = outbox::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(claimable())
            .order_by_asc(C::Id)
            .limit(BATCH_SIZE);
        if row_locks {
            oldest = oldest.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let claim = |ids| {
            outbox::Entity::update_many()
                .col_expr(C::LockedBy, Expr::value(token.clone()))
                .col_expr(C::LockedUntil, Expr::value(locked_until))
                .filter(ids)
        };
        if self.db.support_returning() {
            // One statement (PostgreSQL): the subquery picks and locks the rows, the update takes them
            // and returns them. It was a transaction of four statements and a read back, most of the
            // dispatcher's round trips under load.
            let mut rows = claim(C::Id.in_subquery(oldest.into_query()))
                .exec_with_returning(&self.db)
                .await?;
            rows.sort_by_key(|row| row.id);
            return Ok(rows);
        }
        // Without UPDATE … RETURNING (MariaDB, SQLite): pick, take, read back.
        let txn = self.db.begin().await?;
        let ids: Vec<i64> = oldest.into_tuple().all(&txn).await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(Vec::new());
        }
        // With row locks the selected rows are this claim's already, so the update goes by primary key
        // alone. Filtered again, InnoDB walked the `processed_at` index instead and waited for rows other
        // transactions were inserting, whose next insert waited for this claim's gap locks: a deadlock
        // that failed their request (the money storm on MariaDB). SQLite has no row locks: there the
        // filter is what keeps a claim exclusive.
        let mut take = claim(C::Id.is_in(ids.clone()));
        if !row_locks {
            take = take.filter(claimable());
        }
        take.exec(&txn).await?;
        txn.commit().await?;
        // By primary key: `locked_by` has no index.
        Ok(outbox::Entity::find()
            .filter(C::Id.is_in(ids))
            .filter(C::LockedBy.eq(token))
            .order_by_asc(C::Id)
            .all(&self.db)
            .await?)
    }

    /// Relays a processed row to every instance; this instance's [`Scope::EveryInstance`] subscribers
    /// take it directly when the relay is down or its listener is not subscribed.
    async fn broadcast(&self, done: &Delivered) {
        let published = self.pubsub.publish(BROADCAST_CHANNEL, &done.payload).await;
        if let Err(e) = &published {
            tracing::debug!(error.cause_chain = ?e, "event broadcast failed; handling it on this instance");
        }
        if published.is_err() || !self.listening.load(Ordering::Acquire) {
            self.handle_everywhere(&done.event).await;
        }
    }

    /// Hands `event` to this instance's [`Scope::EveryInstance`] subscribers.
    async fn handle_everywhere(&self, event: &DomainEvent) {
        for subscriber in self.subscribers_in(Scope::EveryInstance) {
            if let Err(e) = subscriber.handle(event).await {
                tracing::warn!(subscriber = subscriber.name(), error.cause_chain = ?e, "broadcast subscriber failed");
            }
        }
    }

    /// Listens for relayed events and hands them to this instance's [`Scope::EveryInstance`] subscribers:
    /// the supervised `event_listener` task. An error when the subscription is lost.
    pub async fn run_broadcast_listener(
        self: Arc<Self>,
        task: Task,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let subscription = self.pubsub.subscribe(BROADCAST_CHANNEL).await?;
        self.listening.store(true, Ordering::Release);
        let missed_since = self.missed_since.lock().ok().and_then(|m| *m);
        if let Some(since) = missed_since {
            // Subscribed first, so nothing falls between the replay and the live stream.
            let replayed = self.replay_since(since).await?;
            tracing::info!(
                replayed,
                "event listener back: replayed the events delivered while it was down"
            );
            if let Ok(mut m) = self.missed_since.lock() {
                *m = None;
            }
        }
        task.up();
        let bus = &self;
        let outcome = supervisor::listen(subscription, &mut shutdown, |payload| async move {
            if let Ok(event) = serde_json::from_str::<DomainEvent>(&payload) {
                bus.handle_everywhere(&event).await;
            }
        })
        .await;
        self.listening.store(false, Ordering::Release);
        if outcome.is_err()
            && let Ok(mut m) = self.missed_since.lock()
        {
            // The earliest loss counts; the margin covers the probe that noticed it and clock skew.
            let since = Utc::now() - chrono::Duration::from_std(MISSED_MARGIN).unwrap_or_default();
            m.get_or_insert(since);
        }
        outcome
    }

    /// Hands the rows delivered since `since` (by any instance) to this instance's
    /// [`Scope::EveryInstance`] subscribers, oldest first; they are idempotent, so a row seen twice is
    /// harmless. How many were replayed.
    async fn replay_since(&self, since: chrono::DateTime<Utc>) -> anyhow::Result<usize> {
        use outbox::Column as C;
        let mut after_id = 0;
        let mut replayed = 0;
        loop {
            let rows = outbox::Entity::find()
                .filter(C::ProcessedAt.gte(since))
                .filter(C::Id.gt(after_id))
                .order_by_asc(C::Id)
                .limit(BATCH_SIZE)
                .all(&self.db)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(replayed);
            };
            after_id = last.id;
            for row in rows {
                if let Ok(event) = serde_json::from_str::<DomainEvent>(&row.payload) {
                    self.handle_everywhere(&event).await;
                    replayed += 1;
                }
            }
        }
    }

    /// Rows not yet delivered (for health and tests).
    pub async fn pending_count(&self) -> anyhow::Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(outbox::Entity::find()
            .filter(outbox::Column::ProcessedAt.is_null())
            .count(&self.db)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json_with_their_name_as_tag() {
        let event = DomainEvent::PasswordChanged {
            realm: Realm::Admin,
            account_id: 3,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.name());
        assert_eq!(json["data"]["realm"], "admin");
        let back: DomainEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        let unit = serde_json::to_value(DomainEvent::RbacChanged).unwrap();
        assert_eq!(unit["type"], "rbac_changed");
    }
}
