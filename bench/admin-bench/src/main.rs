//! Bench-only companion of `bench/admin.sh`. It links the mychat library, so everything it serves or
//! seeds goes through the real application state (migrations, RBAC seed, casbin enforcer, handlers).
//!
//! Subcommands (settings come from the environment, as for `mychat`):
//!
//! - `setup [--users N] [--counselors N] [--orders N]`: migrates and seeds a fresh database, creates the
//!   administrator `bench_viewer` (password `BENCH_VIEWER_PASSWORD`) whose only role grants
//!   `system:user:list`, `dashboard:view` and `business:order:statistics`, then bulk-inserts users,
//!   counselors, orders spread over the last 365 days and the payments of the paid ones. Multi-row
//!   INSERTs in one transaction, not the API.
//! - `serve FULL_PORT CHAIN_PORT NOAUTHZ_PORT`: serves, from one application state,
//!   - on FULL_PORT the real admin API (`servers::admin_api::routes`, every admin route);
//!   - on CHAIN_PORT only the users routes behind the same chain as production:
//!     `require_admin` → `record_mutations` → `rbac::require_permission`;
//!   - on NOAUTHZ_PORT the same users routes behind `require_admin` → `record_mutations` only, without
//!     the casbin guard. This exists only in this bench binary; the product has no switch for it.
//!
//!   All three get the shared middleware stack (`servers::app`) and the admin server's worker count.
//! - `enforce-cost SECONDS`: times `RbacEnforcer::allows` (what the guard calls per request) and the
//!   route-table lookup in a loop, without HTTP.

use std::time::{Duration, Instant};

use actix_web::middleware::from_fn;
use actix_web::{HttpServer, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use mychat::Settings;
use mychat::modules::counselors::entity::counselor;
use mychat::modules::orders::entity::order;
use mychat::modules::payments::entity::{self as pay_entity, payment};
use mychat::modules::rbac::entity::{admin_role, administrator, permission, role, role_permission};
use mychat::modules::{auth, rbac, system, users};
use mychat::state::AppState;

const VIEWER: &str = "bench_viewer";
const VIEWER_PERMISSIONS: &[&str] = &[
    "system:user:list",
    "dashboard:view",
    "business:order:statistics",
];
/// Rows per multi-row INSERT: 15 columns × 1000 stays under every backend's bind-parameter limit.
const BATCH: usize = 1000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = Settings::load()?;
    mychat::telemetry::init(&settings);
    match args.first().map(String::as_str) {
        Some("setup") => setup(settings, &args[1..]).await,
        Some("serve") => serve(settings, &args[1..]).await,
        Some("enforce-cost") => enforce_cost(settings, &args[1..]).await,
        _ => bail!(
            "usage: admin-bench setup [--users N] [--counselors N] [--orders N] \
             | serve FULL_PORT CHAIN_PORT NOAUTHZ_PORT | enforce-cost SECONDS"
        ),
    }
}

fn flag(args: &[String], name: &str, default: usize) -> anyhow::Result<usize> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .context("missing value")?
            .parse()
            .with_context(|| format!("bad value for {name}")),
    }
}

/// A small deterministic generator (xorshift64*), so every run seeds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn setup(settings: Settings, args: &[String]) -> anyhow::Result<()> {
    let n_users = flag(args, "--users", 100)?;
    let n_counselors = flag(args, "--counselors", 20)?;
    let n_orders = flag(args, "--orders", 0)?;
    let viewer_password =
        std::env::var("BENCH_VIEWER_PASSWORD").context("BENCH_VIEWER_PASSWORD is not set")?;
    let started = Instant::now();
    let state = mychat::app::build_state(settings).await?;
    let migrated = started.elapsed();
    create_viewer(&state, &viewer_password).await?;

    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // One anchor for every backend of a run (`BENCH_SEED_NOW`, Unix seconds), so their data are identical.
    let now = match std::env::var("BENCH_SEED_NOW") {
        Ok(s) => DateTime::from_timestamp(s.parse().context("bad BENCH_SEED_NOW")?, 0)
            .context("bad BENCH_SEED_NOW")?,
        Err(_) => DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_else(Utc::now),
    };
    let txn = state.db.begin().await?;
    let user_ids = seed_users(&txn, &mut rng, now, n_users).await?;
    let counselors = seed_counselors(&txn, &mut rng, now, n_counselors).await?;
    let (orders, payments) =
        seed_orders(&txn, &mut rng, now, n_orders, &user_ids, &counselors).await?;
    txn.commit().await?;
    // Fresh statistics for the planner after a bulk load, as an operator would have after autovacuum.
    let analyze = match state.db.get_database_backend() {
        sea_orm::DatabaseBackend::MySql => "ANALYZE TABLE orders, users, counselors, payments",
        _ => "ANALYZE",
    };
    state.db.execute_unprepared(analyze).await?;
    println!(
        "setup backend={:?} migrate_and_seed_s={:.2} bulk_s={:.2} users={} counselors={} orders={} payments={}",
        state.db.get_database_backend(),
        migrated.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        user_ids.len(),
        counselors.len(),
        orders,
        payments
    );
    Ok(())
}

/// The administrator `bench_viewer` with one role holding exactly [`VIEWER_PERMISSIONS`].
async fn create_viewer(state: &AppState, password: &str) -> anyhow::Result<()> {
    let db = &state.db;
    if administrator::Entity::find()
        .filter(administrator::Column::Username.eq(VIEWER))
        .one(db)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let now = Utc::now();
    let role_id = role::Entity::insert(role::ActiveModel {
        name: Set("Bench viewer".into()),
        code: Set(VIEWER.into()),
        description: Set("bench/admin.sh: users list and dashboard only".into()),
        sort: Set(99),
        status: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?
    .last_insert_id;
    let codes: Vec<String> = VIEWER_PERMISSIONS.iter().map(|c| (*c).to_owned()).collect();
    let perms = permission::Entity::find()
        .filter(permission::Column::Code.is_in(codes))
        .all(db)
        .await?;
    if perms.len() != VIEWER_PERMISSIONS.len() {
        bail!("expected the seeded permissions {VIEWER_PERMISSIONS:?}");
    }
    role_permission::Entity::insert_many(perms.iter().map(|p| role_permission::ActiveModel {
        role_id: Set(role_id),
        permission_id: Set(p.id),
        ..Default::default()
    }))
    .exec_without_returning(db)
    .await?;
    let admin_id = administrator::Entity::insert(administrator::ActiveModel {
        username: Set(VIEWER.into()),
        password: Set(state.passwords.hash(password).await?),
        real_name: Set("Bench viewer".into()),
        email: Set(None),
        phone: Set(String::new()),
        avatar: Set(String::new()),
        status: Set(1),
        last_login: Set(None),
        tokens_valid_after: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?
    .last_insert_id;
    admin_role::Entity::insert(admin_role::ActiveModel {
        admin_id: Set(admin_id),
        role_id: Set(role_id),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

fn days_ago(rng: &mut Rng, now: DateTime<Utc>, days: u64) -> DateTime<Utc> {
    now - chrono::Duration::seconds(rng.below(days * 86_400) as i64)
}

async fn seed_users<C: ConnectionTrait>(
    db: &C,
    rng: &mut Rng,
    now: DateTime<Utc>,
    n: usize,
) -> anyhow::Result<Vec<i64>> {
    use users::entity as u;
    let mut rows = Vec::with_capacity(BATCH);
    for i in 0..n {
        let created = days_ago(rng, now, 400);
        rows.push(u::ActiveModel {
            username: Set(format!("bench_u{i:06}")),
            // Not a PHC string: these accounts cannot log in, and seeding skips 10k argon2 hashes.
            password: Set("!".into()),
            email: Set(None),
            phone: Set(format!("139{i:08}")),
            avatar: Set(String::new()),
            balance: Set(0),
            status: Set(if rng.below(20) == 0 { 0 } else { 1 }),
            is_admin: Set(false),
            tokens_valid_after: Set(0),
            created_at: Set(created),
            updated_at: Set(created),
            deleted_at: Set(None),
            ..Default::default()
        });
        if rows.len() == BATCH || i + 1 == n {
            u::Entity::insert_many(std::mem::take(&mut rows))
                .exec_without_returning(db)
                .await?;
        }
    }
    Ok(u::Entity::find()
        .select_only()
        .column(u::Column::Id)
        .order_by_asc(u::Column::Id)
        .into_tuple::<i64>()
        .all(db)
        .await?)
}

/// `(id, price per minute)` of every counselor.
async fn seed_counselors<C: ConnectionTrait>(
    db: &C,
    rng: &mut Rng,
    now: DateTime<Utc>,
    n: usize,
) -> anyhow::Result<Vec<(i64, i64)>> {
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let created = days_ago(rng, now, 400);
        rows.push(counselor::ActiveModel {
            user_id: Set(None),
            name: Set(format!("咨询师{i:04}")),
            title: Set("心理咨询师".into()),
            avatar: Set(String::new()),
            bio: Set(None),
            specialty: Set("情绪管理".into()),
            price: Set(100 + 50 * rng.below(19) as i64),
            years_exp: Set(1 + rng.below(20) as i32),
            rating: Set(300 + rng.below(201) as i32),
            status: Set(if rng.below(10) == 0 { 0 } else { 1 }),
            created_at: Set(created),
            updated_at: Set(created),
            ..Default::default()
        });
    }
    for chunk in rows.chunks(BATCH) {
        counselor::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(counselor::Entity::find()
        .select_only()
        .column(counselor::Column::Id)
        .column(counselor::Column::Price)
        .order_by_asc(counselor::Column::Id)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?)
}

/// `(id, order_no, user_id, amount, refunded_amount, status, created_at)` of an order that was paid.
type PaidOrder = (i64, String, i64, i64, i64, i32, DateTime<Utc>);

/// Orders over the last 365 days: 5 % pending, 15 % paid, 60 % completed (one in ten with unused
/// minutes refunded), 12 % cancelled, 8 % refunded; one payment per order that was ever paid.
async fn seed_orders<C: ConnectionTrait>(
    db: &C,
    rng: &mut Rng,
    now: DateTime<Utc>,
    n: usize,
    user_ids: &[i64],
    counselors: &[(i64, i64)],
) -> anyhow::Result<(usize, usize)> {
    if n == 0 {
        return Ok((0, 0));
    }
    if user_ids.is_empty() || counselors.is_empty() {
        bail!("orders need users and counselors");
    }
    let mut rows = Vec::with_capacity(BATCH);
    for i in 0..n {
        let created = days_ago(rng, now, 365);
        let (counselor_id, price) = counselors[rng.below(counselors.len() as u64) as usize];
        let duration = [30, 45, 60, 90][rng.below(4) as usize];
        let amount = price * i64::from(duration);
        let status = match rng.below(100) {
            0..=4 => 0,
            5..=19 => 1,
            20..=79 => 2,
            80..=91 => 3,
            _ => 4,
        };
        let refunded = match status {
            4 => amount,
            2 if rng.below(10) == 0 => amount / 4,
            _ => 0,
        };
        let paid = matches!(status, 1 | 2 | 4);
        rows.push(order::ActiveModel {
            order_no: Set(format!("B{:013}", i)),
            user_id: Set(user_ids[rng.below(user_ids.len() as u64) as usize]),
            counselor_id: Set(counselor_id),
            duration: Set(duration),
            price_per_minute: Set(price),
            amount: Set(amount),
            refunded_amount: Set(refunded),
            status: Set(status),
            schedule_time: Set(created + chrono::Duration::hours(24)),
            notes: Set(None),
            pay_time: Set(paid.then(|| created + chrono::Duration::minutes(3))),
            created_at: Set(created),
            updated_at: Set(created),
            ..Default::default()
        });
        if rows.len() == BATCH || i + 1 == n {
            order::Entity::insert_many(std::mem::take(&mut rows))
                .exec_without_returning(db)
                .await?;
        }
    }
    let paid_orders: Vec<PaidOrder> = order::Entity::find()
        .select_only()
        .columns([
            order::Column::Id,
            order::Column::OrderNo,
            order::Column::UserId,
            order::Column::Amount,
            order::Column::RefundedAmount,
            order::Column::Status,
            order::Column::CreatedAt,
        ])
        .filter(order::Column::Status.is_in([1, 2, 4]))
        .order_by_asc(order::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut rows = Vec::with_capacity(BATCH);
    let count = paid_orders.len();
    for (i, (id, order_no, user_id, amount, refunded, status, created)) in
        paid_orders.into_iter().enumerate()
    {
        let pay_time = created + chrono::Duration::minutes(3);
        rows.push(payment::ActiveModel {
            payment_no: Set(format!("P{id:013}")),
            purpose: Set("order".into()),
            order_id: Set(Some(id)),
            order_no: Set(order_no),
            user_id: Set(user_id),
            payment_method: Set("sandbox".into()),
            trade_type: Set("NATIVE".into()),
            transaction_id: Set(Some(format!("T{id:013}"))),
            amount: Set(amount),
            refunded_amount: Set(refunded),
            status: Set(if status == 4 {
                pay_entity::STATUS_REFUNDED
            } else {
                pay_entity::STATUS_PAID
            }),
            pay_time: Set(Some(pay_time)),
            notify_time: Set(Some(pay_time)),
            notify_data: Set(None),
            failure_reason: Set(String::new()),
            created_at: Set(created),
            updated_at: Set(pay_time),
            ..Default::default()
        });
        if rows.len() == BATCH || i + 1 == count {
            payment::Entity::insert_many(std::mem::take(&mut rows))
                .exec_without_returning(db)
                .await?;
        }
    }
    Ok((n, count))
}

fn metrics(registry: &prometheus::Registry, namespace: &str) -> anyhow::Result<PrometheusMetrics> {
    PrometheusMetricsBuilder::new(namespace)
        .registry(registry.clone())
        .mask_unmatched_patterns("UNKNOWN")
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build metrics: {e}"))
}

fn port(args: &[String], i: usize) -> anyhow::Result<u16> {
    args.get(i)
        .context("serve FULL_PORT CHAIN_PORT NOAUTHZ_PORT")?
        .parse()
        .context("bad port")
}

async fn serve(settings: Settings, args: &[String]) -> anyhow::Result<()> {
    let (full_port, chain_port, noauthz_port) = (port(args, 0)?, port(args, 1)?, port(args, 2)?);
    let bind = settings.server.bind.clone();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let configured = settings.server.workers;
    // The production admin server runs half the user API's workers (`app.rs`); all three here do the same.
    let workers = if configured == 0 { cores } else { configured }.div_ceil(2);
    let state = web::Data::new(mychat::app::build_state(settings).await?);
    let registry = prometheus::Registry::new();
    let (m_full, m_chain, m_noauthz) = (
        metrics(&registry, "bench_full")?,
        metrics(&registry, "bench_chain")?,
        metrics(&registry, "bench_noauthz")?,
    );

    let s = state.clone();
    let full = HttpServer::new(move || {
        mychat::servers::app(
            s.clone(),
            m_full.clone(),
            mychat::servers::admin_api::routes(&s),
        )
    })
    .bind((bind.as_str(), full_port))?
    .workers(workers)
    .disable_signals()
    .run();
    let s = state.clone();
    let chain = HttpServer::new(move || {
        mychat::servers::app(s.clone(), m_chain.clone(), |cfg| {
            cfg.service(
                web::scope("")
                    .wrap(from_fn(rbac::require_permission))
                    .wrap(from_fn(system::record_mutations))
                    .wrap(from_fn(auth::require_admin))
                    .configure(users::admin_routes::admin_routes),
            );
        })
    })
    .bind((bind.as_str(), chain_port))?
    .workers(workers)
    .disable_signals()
    .run();
    let s = state.clone();
    let noauthz = HttpServer::new(move || {
        mychat::servers::app(s.clone(), m_noauthz.clone(), |cfg| {
            cfg.service(
                web::scope("")
                    .wrap(from_fn(system::record_mutations))
                    .wrap(from_fn(auth::require_admin))
                    .configure(users::admin_routes::admin_routes),
            );
        })
    })
    .bind((bind.as_str(), noauthz_port))?
    .workers(workers)
    .disable_signals()
    .run();
    eprintln!(
        "admin-bench serving: full admin API :{full_port}, users behind the full chain :{chain_port}, \
         users without casbin :{noauthz_port}; {workers} worker(s) each"
    );
    let (h1, h2, h3) = (full.handle(), chain.handle(), noauthz.handle());
    let servers = async {
        tokio::try_join!(full, chain, noauthz)?;
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        r = servers => r?,
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate() => {}
    }
    for h in [h1, h2, h3] {
        h.stop(true).await;
    }
    Ok(())
}

async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Calls `f` in batches of 1,000 for about `secs` seconds; prints the median and the minimum of the
/// per-batch means, in microseconds per call.
async fn time_loop<F, Fut>(name: &str, secs: f64, mut f: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    const PER_BATCH: u32 = 1000;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut batches = Vec::new();
    while Instant::now() < deadline || batches.len() < 3 {
        let t = Instant::now();
        for _ in 0..PER_BATCH {
            f().await?;
        }
        batches.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(PER_BATCH));
    }
    batches.sort_by(f64::total_cmp);
    println!(
        "cost name={name} calls={} p50_us={:.2} min_us={:.2}",
        batches.len() as u64 * u64::from(PER_BATCH),
        batches[batches.len() / 2],
        batches[0]
    );
    Ok(())
}

async fn enforce_cost(settings: Settings, args: &[String]) -> anyhow::Result<()> {
    let secs: f64 = args.first().map_or(Ok(3.0), |s| s.parse())?;
    let state = mychat::app::build_state(settings).await?;
    let db: &DatabaseConnection = &state.db;
    let admin_id = |name: &'static str| async move {
        administrator::Entity::find()
            .filter(administrator::Column::Username.eq(name))
            .one(db)
            .await?
            .map(|a| a.id)
            .with_context(|| format!("administrator {name} not found (run setup first)"))
    };
    let viewer = admin_id(VIEWER).await?;
    let super_admin = admin_id("admin").await?;
    let (p_rules, g_rules) = rbac::enforcer::RbacAdapter::new(db.clone())
        .derive()
        .await?;
    println!(
        "policies p={} g={} (roles x permissions, admins x roles)",
        p_rules.len(),
        g_rules.len()
    );
    let rbac = state.rbac.clone();
    // Sanity: the answers the bench relies on.
    if !rbac.allows(viewer, "system:user:list").await?
        || rbac.allows(viewer, "system:role:delete").await?
        || !rbac.allows(super_admin, "system:user:list").await?
    {
        bail!("unexpected enforcer answers for {VIEWER} / admin");
    }
    time_loop("allows_viewer_permitted", secs, || async {
        rbac.allows(viewer, "system:user:list").await?;
        Ok(())
    })
    .await?;
    time_loop("allows_viewer_denied", secs, || async {
        rbac.allows(viewer, "system:role:delete").await?;
        Ok(())
    })
    .await?;
    time_loop("allows_super_admin", secs, || async {
        rbac.allows(super_admin, "system:user:list").await?;
        Ok(())
    })
    .await?;
    let get = actix_web::http::Method::GET;
    time_loop("route_table_lookup", secs, || async {
        std::hint::black_box(rbac::guard::lookup(&get, "/api/admin/users"));
        Ok(())
    })
    .await?;
    Ok(())
}
