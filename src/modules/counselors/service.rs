//! Rules for counselors: the directory (filters, sorting, statistics, the list cache), the admin CRUD,
//! and the statistics other modules feed. Other modules call these instead of reading the tables.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
    TransactionTrait,
};

use super::dto::{
    CounselorPage, CounselorView, CreateCounselorRequest, ListQuery, UpdateCounselorRequest,
};
use super::entity::{counselor, review, statistics};
use crate::bus::{DomainEvent, EventBus, Scope, Subscriber};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::http::Pagination;
use crate::infra::Cache;
use crate::modules::users;
use crate::money;
use crate::state::AppState;

pub type Counselor = counselor::Model;

pub const MSG_COUNSELOR_NOT_FOUND: &str = "咨询师不存在";
pub const MSG_USER_ALREADY_COUNSELOR: &str = "该用户已是咨询师";
pub const STATUS_ENABLED: i32 = 1;
pub const STATUS_DISABLED: i32 = 0;
/// A new counselor's rating until reviews say otherwise (hundredths).
pub const DEFAULT_RATING: i32 = 500;

pub async fn find_counselor<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Option<Counselor>> {
    Ok(counselor::Entity::find_by_id(id).one(db).await?)
}

/// The user accounts of those of `ids` that have one, by counselor id, in one query.
pub async fn user_ids_of(db: &DatabaseConnection, ids: &[i64]) -> AppResult<HashMap<i64, i64>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, Option<i64>)> = counselor::Entity::find()
        .select_only()
        .column(counselor::Column::Id)
        .column(counselor::Column::UserId)
        .filter(counselor::Column::Id.is_in(ids.to_vec()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, user_id)| Some((id, user_id?)))
        .collect())
}

pub async fn get_counselor<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Counselor> {
    find_counselor(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_COUNSELOR_NOT_FOUND))
}

/// The counselor whose account is user `user_id`, if that user is a counselor.
pub async fn counselor_of_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> AppResult<Option<Counselor>> {
    Ok(counselor::Entity::find()
        .filter(counselor::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

/// Ids of counselors whose name contains `keyword` (escaped), at most `limit`.
pub async fn ids_matching(
    db: &sea_orm::DatabaseConnection,
    keyword: &str,
    limit: u64,
) -> AppResult<Vec<i64>> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::{Expr, ExprTrait};
    Ok(counselor::Entity::find()
        .select_only()
        .column(counselor::Column::Id)
        .filter(Expr::col(counselor::Column::Name).like(crate::db::like_pattern(keyword)))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?)
}

/// Counselors by id, for embedding counselor objects in lists without one query per row.
pub async fn find_many<C: ConnectionTrait>(db: &C, ids: &[i64]) -> AppResult<Vec<Counselor>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(counselor::Entity::find()
        .filter(counselor::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

pub use crate::db::like_pattern;

/// What the directory can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortBy {
    /// The original's default: `rating DESC, created_at DESC`.
    Default,
    Rating,
    Price,
    ServiceCount,
    CreatedAt,
    ReviewCount,
    YearsExp,
}

impl SortBy {
    fn parse(raw: &str) -> Self {
        match raw {
            "rating" => Self::Rating,
            "price" => Self::Price,
            "service_count" => Self::ServiceCount,
            "created_at" => Self::CreatedAt,
            "review_count" => Self::ReviewCount,
            "years_exp" => Self::YearsExp,
            _ => Self::Default,
        }
    }
}

/// A parsed directory query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    pub keyword: Option<String>,
    pub specialty: Option<String>,
    /// Fen per minute, inclusive.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// `Some(1)` on the public list; the admin list may ask for either or both.
    pub status: Option<i32>,
    pub sort_by: SortBy,
    pub ascending: bool,
}

impl ListFilter {
    /// Parses the query of a list. The public list only ever shows enabled counselors; the admin list
    /// shows all unless `status` is given.
    pub fn parse(q: &ListQuery, public: bool) -> AppResult<Self> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(100).collect::<String>())
        };
        let price = |v: &Option<String>, name: &str| -> AppResult<Option<i64>> {
            match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(raw) => raw
                    .parse::<f64>()
                    .ok()
                    .filter(|y| *y >= 0.0)
                    .and_then(|y| money::from_yuan((y * 100.0).round() / 100.0))
                    .map(Some)
                    .ok_or_else(|| {
                        AppError::invalid_input(format!("参数错误: {name} 应为非负数字"))
                    }),
            }
        };
        let status = if public {
            Some(STATUS_ENABLED)
        } else {
            match text(&q.status) {
                None => None,
                Some(raw) => match raw.parse::<i32>() {
                    Ok(s @ (STATUS_DISABLED | STATUS_ENABLED)) => Some(s),
                    _ => return Err(AppError::invalid_input("参数错误: status 应为0或1")),
                },
            }
        };
        Ok(Self {
            keyword: text(&q.keyword),
            specialty: text(&q.specialty),
            min_price: price(&q.min_price, "min_price")?,
            max_price: price(&q.max_price, "max_price")?,
            status,
            sort_by: SortBy::parse(q.sort_by.as_deref().unwrap_or("").trim()),
            ascending: q.sort_order.as_deref().map(str::trim) == Some("asc"),
        })
    }

    fn condition(&self) -> Condition {
        let mut cond = Condition::all();
        if let Some(kw) = &self.keyword {
            cond = cond.add(
                Condition::any()
                    .add(counselor::Column::Name.like(like_pattern(kw)))
                    .add(counselor::Column::Specialty.like(like_pattern(kw)))
                    .add(counselor::Column::Title.like(like_pattern(kw))),
            );
        }
        if let Some(sp) = &self.specialty {
            cond = cond.add(counselor::Column::Specialty.like(like_pattern(sp)));
        }
        if let Some(min) = self.min_price {
            cond = cond.add(counselor::Column::Price.gte(min));
        }
        if let Some(max) = self.max_price {
            cond = cond.add(counselor::Column::Price.lte(max));
        }
        if let Some(status) = self.status {
            cond = cond.add(counselor::Column::Status.eq(status));
        }
        cond
    }

    fn cache_key(&self, generation: &str, paging: &Pagination) -> String {
        format!(
            "counselors:list:{generation}:{:?}:{}:{}",
            self, paging.page, paging.page_size
        )
    }
}

/// One counselor row with its statistics, as the list query returns it.
#[derive(Debug, FromQueryResult)]
struct CounselorRow {
    id: i64,
    user_id: Option<i64>,
    name: String,
    title: String,
    avatar: String,
    bio: Option<String>,
    specialty: String,
    price: i64,
    years_exp: i32,
    rating: i32,
    status: i32,
    created_at: chrono::DateTime<Utc>,
    updated_at: chrono::DateTime<Utc>,
    service_count: i64,
    review_count: i64,
}

impl CounselorRow {
    fn into_view(self) -> CounselorView {
        let (service_count, review_count) = (self.service_count, self.review_count);
        let model = counselor::Model {
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            title: self.title,
            avatar: self.avatar,
            bio: self.bio,
            specialty: self.specialty,
            price: self.price,
            years_exp: self.years_exp,
            rating: self.rating,
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        CounselorView::new(&model, service_count, review_count)
    }
}

fn stat_or_zero(col: statistics::Column) -> Expr {
    Expr::from(Func::coalesce([
        Expr::col((statistics::Entity, col)),
        Expr::val(0_i64),
    ]))
}

/// Reads one page of the directory from the database (no cache).
async fn query_page(
    db: &DatabaseConnection,
    filter: &ListFilter,
    paging: &Pagination,
) -> AppResult<CounselorPage> {
    let total = counselor::Entity::find()
        .filter(filter.condition())
        .count(db)
        .await?;
    let order = if filter.ascending {
        Order::Asc
    } else {
        Order::Desc
    };
    let mut select = counselor::Entity::find()
        .filter(filter.condition())
        .column_as(
            stat_or_zero(statistics::Column::CompletedOrders),
            "service_count",
        )
        .column_as(
            stat_or_zero(statistics::Column::ReviewCount),
            "review_count",
        );
    QueryTrait::query(&mut select).left_join(
        statistics::Entity,
        Expr::col((statistics::Entity, statistics::Column::CounselorId))
            .equals((counselor::Entity, counselor::Column::Id)),
    );
    select = match filter.sort_by {
        SortBy::Default => select
            .order_by(counselor::Column::Rating, Order::Desc)
            .order_by(counselor::Column::CreatedAt, Order::Desc),
        SortBy::Rating => select.order_by(counselor::Column::Rating, order),
        SortBy::Price => select.order_by(counselor::Column::Price, order),
        SortBy::CreatedAt => select.order_by(counselor::Column::CreatedAt, order),
        SortBy::YearsExp => select.order_by(counselor::Column::YearsExp, order),
        SortBy::ServiceCount => {
            select.order_by(stat_or_zero(statistics::Column::CompletedOrders), order)
        }
        SortBy::ReviewCount => {
            select.order_by(stat_or_zero(statistics::Column::ReviewCount), order)
        }
    };
    // A stable tie-break, so pages never repeat or skip rows.
    let rows = select
        .order_by(counselor::Column::Id, Order::Desc)
        .offset(paging.offset())
        .limit(paging.page_size)
        .into_model::<CounselorRow>()
        .all(db)
        .await?;
    let views: Vec<CounselorView> = rows.into_iter().map(CounselorRow::into_view).collect();
    Ok(CounselorPage {
        counselors: views.clone(),
        list: views,
        total,
        page: paging.page,
        page_size: paging.page_size,
    })
}

const GENERATION_KEY: &str = "counselors:list:generation";
const LIST_TTL: Duration = Duration::from_secs(300);
const GENERATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most pages one instance keeps serialized; past it the copy starts over (any `page` number is a key).
const LOCAL_MAX_PAGES: usize = 1024;

/// The current generation, or `None` when the cache cannot be read (then nothing cached is trusted).
async fn current_generation(cache: &dyn Cache) -> Option<String> {
    match cache.get(GENERATION_KEY).await {
        Ok(Some(generation)) => Some(generation),
        Ok(None) => Some("0".into()),
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "counselor cache unavailable");
            None
        }
    }
}

/// Makes every cached page stale at once: list keys embed the generation. With Redis the generation is
/// shared, so one bump reaches every instance; the bus also relays it (see [`CounselorCacheInvalidator`]).
pub async fn invalidate_list_cache(cache: &dyn Cache) {
    let generation = uuid::Uuid::new_v4().simple().to_string();
    if let Err(e) = cache.set(GENERATION_KEY, &generation, GENERATION_TTL).await {
        tracing::warn!(error.cause_chain = ?e, "cannot invalidate the counselor list cache");
    }
}

/// What identifies a cacheable (unsearched) page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PageKey {
    status: Option<i32>,
    sort_by: SortBy,
    ascending: bool,
    page: u64,
    page_size: u64,
}

#[derive(Default)]
struct LocalPages {
    generation: String,
    pages: HashMap<PageKey, (Arc<str>, Instant)>,
}

/// This instance's copy of the serialized directory pages, in front of the shared cache: a hit costs
/// one read of the generation and no JSON parsing or serialization. A copy is used only under the
/// generation it was filled in, so an invalidation (a new generation) reaches it as it reaches the
/// shared cache; it also expires with the same TTL.
#[derive(Default)]
pub struct PageCache {
    inner: RwLock<LocalPages>,
}

impl PageCache {
    fn get(&self, generation: &str, key: &PageKey) -> Option<Arc<str>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation {
            return None;
        }
        inner
            .pages
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(page, _)| page.clone())
    }

    fn put(&self, generation: &str, key: PageKey, page: Arc<str>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation || inner.pages.len() >= LOCAL_MAX_PAGES {
            inner.pages.clear();
            generation.clone_into(&mut inner.generation);
        }
        inner.pages.insert(key, (page, Instant::now() + LIST_TTL));
    }
}

fn serialize_page(page: &CounselorPage) -> AppResult<Arc<str>> {
    Ok(serde_json::to_string(page)
        .map_err(anyhow::Error::new)?
        .into())
}

/// One page of the directory as serialized `data` JSON, through this instance's copy and the shared
/// cache. Cache failures fall back to the database.
pub async fn list_counselors(
    state: &AppState,
    filter: &ListFilter,
    paging: &Pagination,
) -> AppResult<Arc<str>> {
    // Only the unsearched pages (the home page, the directory's sort orders) are cached: free-text
    // searches would let anyone fill the cache with one-off keys.
    let cacheable = filter.keyword.is_none()
        && filter.specialty.is_none()
        && filter.min_price.is_none()
        && filter.max_price.is_none();
    if !cacheable {
        return serialize_page(&query_page(&state.db, filter, paging).await?);
    }
    let cache = state.infra.cache.as_ref();
    // Without a readable generation an invalidation could go unseen: read the database, as before the
    // per-instance copy existed (the shared cache then fails too).
    let Some(generation) = current_generation(cache).await else {
        return serialize_page(&query_page(&state.db, filter, paging).await?);
    };
    let local_key = PageKey {
        status: filter.status,
        sort_by: filter.sort_by,
        ascending: filter.ascending,
        page: paging.page,
        page_size: paging.page_size,
    };
    if let Some(page) = state.counselor_pages.get(&generation, &local_key) {
        return Ok(page);
    }
    let key = filter.cache_key(&generation, paging);
    let page = match cache.get(&key).await {
        Ok(Some(hit)) if serde_json::from_str::<serde::de::IgnoredAny>(&hit).is_ok() => hit.into(),
        _ => {
            let page = serialize_page(&query_page(&state.db, filter, paging).await?)?;
            if let Err(e) = cache.set(&key, &page, LIST_TTL).await {
                tracing::warn!(error.cause_chain = ?e, "cannot cache a counselor page");
            }
            page
        }
    };
    state
        .counselor_pages
        .put(&generation, local_key, page.clone());
    Ok(page)
}

/// `(completed orders, review count)` of each counselor in `ids` that has statistics.
pub async fn statistics_of<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> AppResult<HashMap<i64, statistics::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(statistics::Entity::find()
        .filter(statistics::Column::CounselorId.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.counselor_id, s))
        .collect())
}

/// The public view of one counselor with its computed statistics.
pub async fn counselor_view<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<CounselorView> {
    let c = get_counselor(db, id).await?;
    view_with_stats(db, &c).await
}

async fn view_with_stats<C: ConnectionTrait>(db: &C, c: &Counselor) -> AppResult<CounselorView> {
    let stats = statistics_of(db, &[c.id]).await?;
    let (service, reviews) = stats
        .get(&c.id)
        .map(|s| (s.completed_orders, s.review_count))
        .unwrap_or((0, 0));
    Ok(CounselorView::new(c, service, reviews))
}

/// Creates the zero statistics row of a counselor, if missing. Concurrent callers are fine: the unique
/// `counselor_id` makes the second insert a no-op (not an error that would abort a PostgreSQL transaction).
pub async fn ensure_statistics<C: ConnectionTrait>(conn: &C, counselor_id: i64) -> AppResult<()> {
    use sea_orm::sea_query::OnConflict;
    let row = statistics::ActiveModel {
        counselor_id: Set(counselor_id),
        total_orders: Set(0),
        completed_orders: Set(0),
        cancelled_orders: Set(0),
        total_duration: Set(0),
        total_amount: Set(0),
        review_count: Set(0),
        sum_rating: Set(0),
        last_order_time: Set(None),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    statistics::Entity::insert(row)
        .on_conflict(
            OnConflict::column(statistics::Column::CounselorId)
                .do_nothing_on([statistics::Column::CounselorId])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Applies `changes` to a counselor's statistics row atomically (`col = col + x`), creating the row first
/// when it is missing. Call it inside the transaction of the change it counts.
async fn bump_statistics<C: ConnectionTrait>(
    conn: &C,
    counselor_id: i64,
    changes: &[(statistics::Column, i64)],
    touch_last_order: bool,
) -> AppResult<()> {
    let now = Utc::now();
    let mut update = statistics::Entity::update_many()
        .col_expr(statistics::Column::UpdatedAt, Expr::value(now))
        .filter(statistics::Column::CounselorId.eq(counselor_id));
    for (col, delta) in changes {
        update = update.col_expr(*col, Expr::col(*col).add(*delta));
    }
    if touch_last_order {
        update = update.col_expr(statistics::Column::LastOrderTime, Expr::value(Some(now)));
    }
    // The row is created only when the update finds none: inserting first every time takes a shared
    // lock on the existing row, which two concurrent bumps then both want to upgrade, and InnoDB aborts
    // one of them as a deadlock.
    if update.clone().exec(conn).await?.rows_affected == 0 {
        ensure_statistics(conn, counselor_id).await?;
        update.exec(conn).await?;
    }
    Ok(())
}

/// For the orders module, in the transaction that creates an order.
pub async fn record_order_created<C: ConnectionTrait>(
    conn: &C,
    counselor_id: i64,
) -> AppResult<()> {
    bump_statistics(
        conn,
        counselor_id,
        &[(statistics::Column::TotalOrders, 1)],
        true,
    )
    .await
}

/// For the orders module, in the transaction that cancels or refunds an order before it was served.
pub async fn record_order_cancelled<C: ConnectionTrait>(
    conn: &C,
    counselor_id: i64,
) -> AppResult<()> {
    bump_statistics(
        conn,
        counselor_id,
        &[(statistics::Column::CancelledOrders, 1)],
        false,
    )
    .await
}

/// For billing, in the transaction that completes an order: one more served order (the directory's
/// `service_count`), its minutes and billed amount (fen). The list cache drops on the order event.
pub async fn record_completed_order<C: ConnectionTrait>(
    conn: &C,
    counselor_id: i64,
    minutes: i64,
    amount: i64,
) -> AppResult<()> {
    bump_statistics(
        conn,
        counselor_id,
        &[
            (statistics::Column::CompletedOrders, 1),
            (statistics::Column::TotalDuration, minutes),
            (statistics::Column::TotalAmount, amount),
        ],
        false,
    )
    .await
}

/// Which of `order_ids` already have a review (the order list's `has_review`).
pub async fn reviewed_order_ids<C: ConnectionTrait>(
    db: &C,
    order_ids: &[i64],
) -> AppResult<std::collections::HashSet<i64>> {
    if order_ids.is_empty() {
        return Ok(Default::default());
    }
    let ids: Vec<i64> = review::Entity::find()
        .select_only()
        .column(review::Column::OrderId)
        .filter(review::Column::OrderId.is_in(order_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

/// A price in yuan from a request, which must be more than 0 with at most two decimals.
fn parse_price(yuan: f64) -> AppResult<i64> {
    money::from_yuan(yuan)
        .filter(|fen| *fen > 0)
        .ok_or_else(|| AppError::invalid_input("参数错误: price: 价格必须大于0，最多两位小数"))
}

/// A rating 0–5 from a request, as hundredths.
fn parse_rating(rating: f64) -> AppResult<i32> {
    if !rating.is_finite() || !(0.0..=5.0).contains(&rating) {
        return Err(AppError::invalid_input("参数错误: rating: 评分应为0-5"));
    }
    Ok((rating * 100.0).round() as i32)
}

fn parse_status(status: i32) -> AppResult<i32> {
    match status {
        STATUS_DISABLED | STATUS_ENABLED => Ok(status),
        _ => Err(AppError::invalid_input("参数错误: status: 状态应为0或1")),
    }
}

/// Checks that `user_id` is a live user and not already another counselor.
async fn check_linkable_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    except_counselor: Option<i64>,
) -> AppResult<()> {
    if users::service::find_active(db, user_id).await?.is_none() {
        return Err(AppError::bad_request("关联的用户不存在"));
    }
    if let Some(existing) = counselor_of_user(db, user_id).await?
        && Some(existing.id) != except_counselor
    {
        return Err(AppError::conflict(MSG_USER_ALREADY_COUNSELOR));
    }
    Ok(())
}

fn linked_user_conflict(err: sea_orm::DbErr) -> AppError {
    if is_unique_violation(&err) {
        AppError::conflict(MSG_USER_ALREADY_COUNSELOR)
    } else {
        err.into()
    }
}

/// Commits `txn` (which recorded a `CounselorChanged`), then drops this instance's cached pages right
/// away so the next list shows the change; other instances follow through the bus.
async fn commit_counselor_change(
    state: &AppState,
    txn: sea_orm::DatabaseTransaction,
) -> AppResult<()> {
    txn.commit().await?;
    invalidate_list_cache(state.infra.cache.as_ref()).await;
    state.bus.notify();
    Ok(())
}

/// A counselor's display name, the same rule on create and update: trimmed, 2–50 characters.
fn counselor_name(raw: &str) -> AppResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::invalid_input("参数错误: name: 姓名不能为空"));
    }
    if !(2..=50).contains(&name.chars().count()) {
        return Err(AppError::invalid_input(
            "参数错误: name: 姓名长度为2-50个字符",
        ));
    }
    Ok(name.to_owned())
}

/// `POST /api/admin/counselors`: a counselor, its statistics row and its (empty) account.
pub async fn create_counselor(
    state: &AppState,
    req: CreateCounselorRequest,
) -> AppResult<CounselorView> {
    let name = counselor_name(&req.name)?;
    let price = parse_price(req.price)?;
    let rating = req.rating.map(parse_rating).transpose()?;
    let status = req.status.map(parse_status).transpose()?;
    let user_id = req.user_id.filter(|id| *id != 0);
    if let Some(uid) = user_id {
        check_linkable_user(&state.db, uid, None).await?;
    }
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let created = counselor::ActiveModel {
        user_id: Set(user_id),
        name: Set(name),
        title: Set(req.title.trim().to_owned()),
        avatar: Set(req.avatar.trim().to_owned()),
        bio: Set(Some(req.bio)),
        specialty: Set(req.specialty.trim().to_owned()),
        price: Set(price),
        years_exp: Set(req.years_exp),
        rating: Set(rating.unwrap_or(DEFAULT_RATING)),
        status: Set(status.unwrap_or(STATUS_ENABLED)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(linked_user_conflict)?;
    ensure_statistics(&txn, created.id).await?;
    ensure_account(&txn, created.id).await?;
    EventBus::record(
        &txn,
        &DomainEvent::CounselorChanged {
            counselor_id: created.id,
        },
    )
    .await?;
    commit_counselor_change(state, txn).await?;
    Ok(CounselorView::new(&created, 0, 0))
}

/// The counselor's empty earnings account, owned by finance: a new counselor can be paid from their
/// first session on.
pub use crate::modules::finance::service::ensure_account;

/// `PUT /api/admin/counselors/:id`: applies every field present, zero values included.
pub async fn update_counselor(
    state: &AppState,
    id: i64,
    req: UpdateCounselorRequest,
) -> AppResult<CounselorView> {
    let price = req.price.map(parse_price).transpose()?;
    let rating = req.rating.map(parse_rating).transpose()?;
    let status = req.status.map(parse_status).transpose()?;
    let name = req.name.as_deref().map(counselor_name).transpose()?;
    let existing = get_counselor(&state.db, id).await?;
    if let Some(uid) = req.user_id.filter(|uid| *uid != 0) {
        check_linkable_user(&state.db, uid, Some(id)).await?;
    }
    let mut active: counselor::ActiveModel = existing.into();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(title) = req.title {
        active.title = Set(title.trim().to_owned());
    }
    if let Some(avatar) = req.avatar {
        active.avatar = Set(avatar.trim().to_owned());
    }
    if let Some(bio) = req.bio {
        active.bio = Set(Some(bio));
    }
    if let Some(specialty) = req.specialty {
        active.specialty = Set(specialty.trim().to_owned());
    }
    if let Some(price) = price {
        active.price = Set(price);
    }
    if let Some(years) = req.years_exp {
        active.years_exp = Set(years);
    }
    if let Some(rating) = rating {
        active.rating = Set(rating);
    }
    if let Some(status) = status {
        active.status = Set(status);
    }
    if let Some(uid) = req.user_id {
        active.user_id = Set((uid != 0).then_some(uid));
    }
    active.updated_at = Set(Utc::now());
    let txn = state.db.begin().await?;
    let updated = active.update(&txn).await.map_err(linked_user_conflict)?;
    if updated.user_id.is_some() {
        // The link may be new: make sure the counselor can be paid.
        ensure_account(&txn, updated.id).await?;
    }
    EventBus::record(&txn, &DomainEvent::CounselorChanged { counselor_id: id }).await?;
    commit_counselor_change(state, txn).await?;
    view_with_stats(&state.db, &updated).await
}

pub const MSG_DELETE_HAS_HISTORY: &str = "该咨询师已有订单或评价记录，不能删除，请改为禁用";

/// `DELETE /api/admin/counselors/:id`: only a counselor with no orders and no reviews is deleted (with
/// its statistics). One with history is refused with 400: its orders, reviews, sessions and earnings
/// keep pointing at it, so the admin disables it instead (`status: 0`), which hides it from the directory.
pub async fn delete_counselor(state: &AppState, id: i64) -> AppResult<()> {
    get_counselor(&state.db, id).await?;
    let stats = statistics_of(&state.db, &[id]).await?;
    let has_history = stats.get(&id).is_some_and(|s| {
        s.total_orders > 0 || s.completed_orders > 0 || s.cancelled_orders > 0 || s.review_count > 0
    }) || review::Entity::find()
        .filter(review::Column::CounselorId.eq(id))
        .count(&state.db)
        .await?
        > 0;
    if has_history {
        return Err(AppError::bad_request(MSG_DELETE_HAS_HISTORY));
    }
    let txn = state.db.begin().await?;
    statistics::Entity::delete_many()
        .filter(statistics::Column::CounselorId.eq(id))
        .exec(&txn)
        .await?;
    counselor::Entity::delete_by_id(id).exec(&txn).await?;
    EventBus::record(&txn, &DomainEvent::CounselorChanged { counselor_id: id }).await?;
    commit_counselor_change(state, txn).await
}

/// Drops the directory cache on every instance whenever something it shows may have changed:
/// counselor edits, reviews (rating, review_count), completed orders (service_count) and approvals.
pub struct CounselorCacheInvalidator {
    pub cache: Arc<dyn Cache>,
}

#[async_trait]
impl Subscriber for CounselorCacheInvalidator {
    fn name(&self) -> &'static str {
        "counselors.cache_invalidator"
    }

    fn scope(&self) -> Scope {
        Scope::EveryInstance
    }

    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        let relevant = match event {
            DomainEvent::CounselorChanged { .. } | DomainEvent::ReviewCreated { .. } => true,
            DomainEvent::OrderStatusChanged { to, .. } => *to == 2,
            DomainEvent::SessionBilled { .. } => true,
            DomainEvent::ApplicationReviewed { approved, .. } => *approved,
            _ => false,
        };
        if relevant {
            invalidate_list_cache(self.cache.as_ref()).await;
        }
        Ok(())
    }
}

/// Which of `user_ids` are counselors' accounts, in one query.
pub async fn counselor_user_ids<C: ConnectionTrait>(
    db: &C,
    user_ids: &[i64],
) -> AppResult<std::collections::HashSet<i64>> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(counselor::Entity::find()
        .filter(counselor::Column::UserId.is_in(user_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|c| c.user_id)
        .collect())
}

/// Whether any row shows `url` as its avatar (an upload may only be deleted when nothing shows it).
pub async fn shows_avatar<C: ConnectionTrait>(db: &C, url: &str) -> AppResult<bool> {
    Ok(counselor::Entity::find()
        .filter(counselor::Column::Avatar.eq(url))
        .one(db)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_filters_parse_leniently_but_refuse_bad_numbers() {
        let q = ListQuery {
            keyword: Some("  ".into()),
            min_price: Some("1.5".into()),
            sort_by: Some("service_count".into()),
            sort_order: Some("asc".into()),
            status: Some("0".into()),
            ..Default::default()
        };
        let public = ListFilter::parse(&q, true).unwrap();
        assert_eq!(public.keyword, None);
        assert_eq!(public.min_price, Some(150));
        assert_eq!(public.status, Some(1));
        assert_eq!(public.sort_by, SortBy::ServiceCount);
        assert!(public.ascending);
        assert_eq!(ListFilter::parse(&q, false).unwrap().status, Some(0));
        let bad = ListQuery {
            max_price: Some("abc".into()),
            ..Default::default()
        };
        assert!(ListFilter::parse(&bad, true).is_err());
        let unknown = ListQuery {
            sort_by: Some("password".into()),
            ..Default::default()
        };
        assert_eq!(
            ListFilter::parse(&unknown, true).unwrap().sort_by,
            SortBy::Default
        );
    }

    #[test]
    fn local_pages_serve_only_the_generation_they_were_filled_in() {
        let pages = PageCache::default();
        let key = PageKey {
            status: Some(STATUS_ENABLED),
            sort_by: SortBy::Default,
            ascending: false,
            page: 1,
            page_size: 10,
        };
        let other = PageKey { page: 2, ..key };
        pages.put("g1", key, Arc::from("[1]"));
        assert_eq!(pages.get("g1", &key).as_deref(), Some("[1]"));
        assert!(pages.get("g1", &other).is_none());
        // An invalidation is a new generation: the old copy is never served under it.
        assert!(pages.get("g2", &key).is_none());
        pages.put("g2", other, Arc::from("[2]"));
        assert!(pages.get("g1", &key).is_none());
        assert!(pages.get("g2", &key).is_none());
        assert_eq!(pages.get("g2", &other).as_deref(), Some("[2]"));
    }

    #[test]
    fn prices_ratings_and_statuses_are_validated() {
        assert_eq!(parse_price(2.5).ok(), Some(250));
        assert!(parse_price(0.0).is_err());
        assert!(parse_price(-1.0).is_err());
        assert!(parse_price(1.234).is_err());
        assert_eq!(parse_rating(4.85).ok(), Some(485));
        assert_eq!(parse_rating(0.0).ok(), Some(0));
        assert!(parse_rating(5.01).is_err());
        assert!(parse_status(2).is_err());
        assert_eq!(parse_status(0).ok(), Some(0));
    }
}
