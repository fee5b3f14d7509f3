//! Typed configs behind a cache, and the audit log.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, TimeZone, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::Value;

use super::dto::{ConfigRequest, ConfigView, LogQuery, LogView};
use super::entity::{system_config, system_log};
use crate::bus::{DomainEvent, EventBus, Scope, Subscriber};
use crate::db::like_pattern as like_contains;
use crate::error::{AppError, AppResult, unique_or_internal};
use crate::http::Pagination;
use crate::infra::Cache;
use crate::state::AppState;

pub const MSG_CONFIG_NOT_FOUND: &str = "配置不存在";
const CACHE_PREFIX: &str = "config:";
const CACHE_TTL: Duration = Duration::from_secs(300);
/// Cached marker for "no such key", so misses are cached too.
const MISSING: &str = "\u{0}";

/// What a config's widget (`type`) stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Number,
    Bool,
    Json,
}

/// Maps the console's widget names to value types; `None` for an unknown widget.
pub fn value_type(widget: &str) -> Option<ValueType> {
    match widget {
        "string" | "text" | "textarea" | "password" | "select" | "radio" | "image" | "color" => {
            Some(ValueType::Text)
        }
        "number" | "slider" => Some(ValueType::Number),
        "boolean" | "bool" | "switch" => Some(ValueType::Bool),
        "json" => Some(ValueType::Json),
        _ => None,
    }
}

/// Checks `value` against the widget's type and returns the JSON text to store.
pub fn normalize_value(widget: &str, value: &Value) -> AppResult<String> {
    let kind = value_type(widget).ok_or_else(|| {
        AppError::invalid_input(format!("参数错误: type: 不支持的配置类型 {widget}"))
    })?;
    // The console sends JSON text (`JSON.stringify(v)`); a bare JSON value is accepted too.
    let parsed = match value {
        Value::String(text) => serde_json::from_str::<Value>(text).map_err(|_| {
            AppError::invalid_input("参数错误: value: 配置值必须是JSON文本（字符串需带引号）")
        })?,
        other => other.clone(),
    };
    let fits = match kind {
        ValueType::Text => parsed.is_string(),
        ValueType::Number => parsed.is_number(),
        ValueType::Bool => parsed.is_boolean(),
        ValueType::Json => true,
    };
    if !fits {
        return Err(AppError::invalid_input(format!(
            "参数错误: value: 配置值与类型 {widget} 不符"
        )));
    }
    Ok(parsed.to_string())
}

/// The console saves a setting as `<category>.<name>` with that category (`basic.system_name` in
/// `basic`) and loads it by `<name>`: that form names the setting `<name>`, so saving and reloading
/// round-trip. `category` is the request's, else the stored row's.
fn canonical_key(mut req: ConfigRequest, category: Option<&str>) -> ConfigRequest {
    let category = req
        .category
        .as_deref()
        .or(category)
        .map(str::trim)
        .unwrap_or_default();
    if let Some(key) = req.key.as_deref().map(str::trim)
        && !category.is_empty()
        && let Some(name) = key
            .strip_prefix(category)
            .and_then(|rest| rest.strip_prefix('.'))
            .filter(|name| !name.is_empty())
    {
        req.key = Some(name.to_owned());
    }
    req
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 100
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub async fn list_configs(
    db: &DatabaseConnection,
    category: Option<&str>,
    page: &Pagination,
) -> AppResult<(Vec<ConfigView>, u64)> {
    let mut query = system_config::Entity::find();
    if let Some(c) = category.filter(|c| !c.is_empty()) {
        query = query.filter(system_config::Column::Category.eq(c));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(system_config::Column::Sort)
        .order_by_asc(system_config::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    Ok((rows.iter().map(ConfigView::from).collect(), total))
}

pub async fn get_config<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<system_config::Model> {
    system_config::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_CONFIG_NOT_FOUND))
}

async fn find_by_key<C: ConnectionTrait>(
    db: &C,
    key: &str,
) -> AppResult<Option<system_config::Model>> {
    Ok(system_config::Entity::find()
        .filter(system_config::Column::ConfigKey.eq(key))
        .one(db)
        .await?)
}

/// A validated new config.
struct NewConfig {
    key: String,
    value: String,
    category: String,
    label: String,
    kind: String,
    is_system: bool,
    sort: i32,
    remark: String,
}

fn new_config(req: &ConfigRequest) -> AppResult<NewConfig> {
    let key = req
        .key
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if !valid_key(&key) {
        return Err(AppError::invalid_input(
            "参数错误: key: 配置键必填，只能包含字母、数字、下划线、点和横线",
        ));
    }
    let value = req
        .value
        .as_ref()
        .ok_or_else(|| AppError::invalid_input("参数错误: value: 必填"))?;
    let kind = req
        .kind
        .clone()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "string".into());
    let value = normalize_value(&kind, value)?;
    super::settings::check_write(&key, None, &value)?;
    Ok(NewConfig {
        value,
        key,
        category: req.category.clone().unwrap_or_default(),
        label: req.label.clone().unwrap_or_default(),
        kind,
        is_system: req.is_system.unwrap_or(false),
        sort: req.sort.unwrap_or(0),
        remark: req.remark.clone().unwrap_or_default(),
    })
}

async fn insert_config<C: ConnectionTrait>(
    db: &C,
    c: NewConfig,
) -> AppResult<system_config::Model> {
    let now = Utc::now();
    system_config::ActiveModel {
        config_key: Set(c.key),
        value: Set(c.value),
        category: Set(c.category),
        label: Set(c.label),
        kind: Set(c.kind),
        is_system: Set(c.is_system),
        sort: Set(c.sort),
        remark: Set(c.remark),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| unique_or_internal(e, "配置键已存在"))
}

async fn config_committed(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Err(e) = state
            .infra
            .cache
            .delete(&format!("{CACHE_PREFIX}{key}"))
            .await
        {
            tracing::warn!(error.cause_chain = ?e, "config cache delete failed");
        }
    }
    state.bus.notify();
}

pub async fn create_config(state: &AppState, req: ConfigRequest) -> AppResult<ConfigView> {
    let sent_key = req.key.clone();
    let req = canonical_key(req, None);
    if let Some(current) = find_by_key(&state.db, req.key.as_deref().unwrap_or_default()).await? {
        // The console creates `<category>.<name>` for a setting it loaded as `<name>`: that saves its
        // value. A plain create of a taken key is still a conflict.
        if sent_key == req.key || current.category != req.category.clone().unwrap_or_default() {
            return Err(AppError::conflict("配置键已存在"));
        }
        let value_only = ConfigRequest {
            value: req.value,
            ..Default::default()
        };
        return update_config(state, current.id, value_only).await;
    }
    let new = new_config(&req)?;
    let key = new.key.clone();
    let txn = state.db.begin().await?;
    let row = insert_config(&txn, new).await?;
    EventBus::record(
        &txn,
        &DomainEvent::ConfigChanged {
            keys: vec![key.clone()],
        },
    )
    .await?;
    txn.commit().await?;
    config_committed(state, &[key]).await;
    Ok(ConfigView::from(&row))
}

/// Applies the fields present in `req`; a system config keeps its key.
fn apply_change(
    current: system_config::Model,
    req: &ConfigRequest,
) -> AppResult<system_config::ActiveModel> {
    if let Some(key) = req.key.as_deref().map(str::trim).filter(|k| !k.is_empty())
        && key != current.config_key
    {
        if current.is_system {
            return Err(AppError::bad_request("系统配置不允许修改键"));
        }
        if !valid_key(key) {
            return Err(AppError::invalid_input(
                "参数错误: key: 只能包含字母、数字、下划线、点和横线",
            ));
        }
    }
    let kind = req
        .kind
        .clone()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| current.kind.clone());
    let value = match &req.value {
        Some(v) => normalize_value(&kind, v)?,
        None if kind != current.kind => {
            normalize_value(&kind, &Value::String(current.value.clone()))?
        }
        None => current.value.clone(),
    };
    let final_key = req
        .key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .unwrap_or(&current.config_key);
    super::settings::check_write(final_key, Some(&current.value), &value)?;
    let new_key = req
        .key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let category = req.category.clone();
    let label = req.label.clone();
    let sort = req.sort;
    let remark = req.remark.clone();
    // `updated_at` moves only when something changes: the console saves a whole tab at once, and the
    // retention purge's grace period counts from the setting's last real change.
    let changed = new_key.as_ref().is_some_and(|k| *k != current.config_key)
        || value != current.value
        || kind != current.kind
        || category.as_ref().is_some_and(|v| *v != current.category)
        || label.as_ref().is_some_and(|v| *v != current.label)
        || sort.is_some_and(|v| v != current.sort)
        || remark.as_ref().is_some_and(|v| *v != current.remark);
    let mut active: system_config::ActiveModel = current.into();
    if let Some(k) = new_key {
        active.config_key = Set(k);
    }
    active.value = Set(value);
    active.kind = Set(kind);
    if let Some(v) = category {
        active.category = Set(v);
    }
    if let Some(v) = label {
        active.label = Set(v);
    }
    if let Some(v) = sort {
        active.sort = Set(v);
    }
    if let Some(v) = remark {
        active.remark = Set(v);
    }
    if changed {
        active.updated_at = Set(Utc::now());
    }
    Ok(active)
}

pub async fn update_config(state: &AppState, id: i64, req: ConfigRequest) -> AppResult<ConfigView> {
    let current = get_config(&state.db, id).await?;
    let req = canonical_key(req, Some(&current.category));
    let old_key = current.config_key.clone();
    let active = apply_change(current, &req)?;
    let txn = state.db.begin().await?;
    let row = active
        .update(&txn)
        .await
        .map_err(|e| unique_or_internal(e, "配置键已存在"))?;
    let keys = vec![old_key, row.config_key.clone()];
    EventBus::record(&txn, &DomainEvent::ConfigChanged { keys: keys.clone() }).await?;
    txn.commit().await?;
    config_committed(state, &keys).await;
    Ok(ConfigView::from(&row))
}

pub async fn delete_config(state: &AppState, id: i64) -> AppResult<()> {
    let current = get_config(&state.db, id).await?;
    if current.is_system {
        return Err(AppError::bad_request("系统配置不允许删除"));
    }
    let txn = state.db.begin().await?;
    system_config::Entity::delete_by_id(id).exec(&txn).await?;
    let keys = vec![current.config_key];
    EventBus::record(&txn, &DomainEvent::ConfigChanged { keys: keys.clone() }).await?;
    txn.commit().await?;
    config_committed(state, &keys).await;
    Ok(())
}

/// Upserts every item by key in one transaction: all valid, or nothing is written.
pub async fn batch_save(state: &AppState, items: Vec<ConfigRequest>) -> AppResult<usize> {
    if items.is_empty() {
        return Err(AppError::invalid_input("参数错误: configs: 不能为空"));
    }
    let txn = state.db.begin().await?;
    let mut keys = Vec::new();
    for req in &items {
        let req = &canonical_key(req.clone(), None);
        let key = req
            .key
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        match find_by_key(&txn, &key).await? {
            Some(current) => {
                apply_change(current, req)?
                    .update(&txn)
                    .await
                    .map_err(|e| unique_or_internal(e, "配置键已存在"))?;
            }
            None => {
                insert_config(&txn, new_config(req)?).await?;
            }
        }
        keys.push(key);
    }
    EventBus::record(&txn, &DomainEvent::ConfigChanged { keys: keys.clone() }).await?;
    txn.commit().await?;
    config_committed(state, &keys).await;
    Ok(keys.len())
}

// --- readers for other modules ---------------------------------------------------------------------------

/// The parsed value of config `key` (cached; `None` when absent or unreadable).
pub async fn config_value(state: &AppState, key: &str) -> AppResult<Option<Value>> {
    let cache_key = format!("{CACHE_PREFIX}{key}");
    match state.infra.cache.get(&cache_key).await {
        Ok(Some(text)) if text == MISSING => return Ok(None),
        Ok(Some(text)) => return Ok(serde_json::from_str(&text).ok()),
        Ok(None) => {}
        Err(e) => tracing::warn!(error.cause_chain = ?e, "config cache read failed"),
    }
    let row = find_by_key(&state.db, key).await?;
    let text = row.map(|r| r.value);
    let stored = text.clone().unwrap_or_else(|| MISSING.to_owned());
    if let Err(e) = state.infra.cache.set(&cache_key, &stored, CACHE_TTL).await {
        tracing::warn!(error.cause_chain = ?e, "config cache write failed");
    }
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub async fn config_f64(state: &AppState, key: &str) -> AppResult<Option<f64>> {
    Ok(config_value(state, key).await?.as_ref().and_then(as_f64))
}

pub async fn config_i64(state: &AppState, key: &str) -> AppResult<Option<i64>> {
    Ok(config_value(state, key).await?.as_ref().and_then(|v| {
        v.as_i64()
            .or_else(|| as_f64(v).filter(|f| f.fract() == 0.0).map(|f| f as i64))
    }))
}

pub async fn config_bool(state: &AppState, key: &str) -> AppResult<Option<bool>> {
    Ok(config_value(state, key).await?.and_then(|v| v.as_bool()))
}

pub async fn config_string(state: &AppState, key: &str) -> AppResult<Option<String>> {
    Ok(config_value(state, key)
        .await?
        .and_then(|v| v.as_str().map(str::to_owned)))
}

/// The platform's share of billed amounts (0..=1): config `platform_commission`, else the setting.
pub async fn platform_commission(state: &AppState) -> f64 {
    match config_f64(state, "platform_commission").await {
        Ok(Some(v)) if (0.0..=1.0).contains(&v) => v,
        Ok(_) => state.settings.billing.platform_commission,
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "platform_commission unreadable; using the setting");
            state.settings.billing.platform_commission
        }
    }
}

/// Minutes before an unpaid order is cancelled: config `order_payment_timeout`, else the setting.
pub async fn order_payment_timeout_minutes(state: &AppState) -> i64 {
    match config_i64(state, "order_payment_timeout").await {
        Ok(Some(v)) if v > 0 => v,
        Ok(_) => state.settings.order.payment_timeout_minutes,
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "order_payment_timeout unreadable; using the setting");
            state.settings.order.payment_timeout_minutes
        }
    }
}

/// When config `key` last changed (its row's `updated_at`), if it exists. Not cached: the retention job
/// reads it once per pass.
pub async fn config_changed_at(
    db: &DatabaseConnection,
    key: &str,
) -> AppResult<Option<chrono::DateTime<Utc>>> {
    Ok(find_by_key(db, key).await?.map(|row| row.updated_at))
}

/// Drops cached config values on every instance when configs change.
pub struct ConfigCacheInvalidator(pub Arc<dyn Cache>);

#[async_trait]
impl Subscriber for ConfigCacheInvalidator {
    fn name(&self) -> &'static str {
        "config_cache_invalidator"
    }
    fn scope(&self) -> Scope {
        Scope::EveryInstance
    }
    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        if let DomainEvent::ConfigChanged { keys } = event {
            for key in keys {
                self.0.delete(&format!("{CACHE_PREFIX}{key}")).await?;
            }
        }
        Ok(())
    }
}

// --- audit log --------------------------------------------------------------------------------------------

pub struct AuditEntry {
    pub admin_id: i64,
    pub operator: String,
    pub action: String,
    pub module: String,
    pub description: String,
    pub method: String,
    pub path: String,
    pub target: String,
    pub ip_address: String,
    pub user_agent: String,
    pub request_data: Option<String>,
    pub status_code: u16,
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

pub async fn record_audit(db: &DatabaseConnection, e: AuditEntry) -> AppResult<()> {
    system_log::ActiveModel {
        admin_id: Set(Some(e.admin_id)),
        operator: Set(clip(&e.operator, 50)),
        action: Set(clip(&e.action, 50)),
        module: Set(clip(&e.module, 50)),
        description: Set(Some(e.description)),
        method: Set(clip(&e.method, 10)),
        path: Set(clip(&e.path, 255)),
        target: Set(clip(&e.target, 100)),
        ip_address: Set(clip(&e.ip_address, 50)),
        user_agent: Set(clip(&e.user_agent, 500)),
        request_data: Set(e.request_data),
        response: Set(None),
        status_code: Set(i32::from(e.status_code)),
        status: Set(i32::from(e.status_code < 400)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Start of `date` in the stats timezone, as UTC.
fn day_start(state: &AppState, date: &str) -> AppResult<chrono::DateTime<Utc>> {
    let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::invalid_input("参数错误: 日期格式应为 YYYY-MM-DD"))?;
    let tz: chrono_tz::Tz = state
        .settings
        .stats
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    Ok(tz
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive)))
}

pub async fn list_logs(
    state: &AppState,
    q: &LogQuery,
    page: &Pagination,
) -> AppResult<(Vec<LogView>, u64)> {
    let mut query = system_log::Entity::find();
    let nonempty = |o: &Option<String>| {
        o.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(op) = nonempty(&q.operator) {
        query = query.filter(system_log::Column::Operator.like(like_contains(&op)));
    }
    if let Some(id) = nonempty(&q.admin_id) {
        let id: i64 = id
            .parse()
            .map_err(|_| AppError::invalid_input("参数错误: admin_id: 必须是整数"))?;
        query = query.filter(system_log::Column::AdminId.eq(id));
    }
    if let Some(action) = nonempty(&q.action) {
        query = query.filter(system_log::Column::Action.eq(action));
    }
    if let Some(module) = nonempty(&q.module) {
        query = query.filter(system_log::Column::Module.eq(module));
    }
    if let Some(id) = nonempty(&q.session_id) {
        let id: i64 = id
            .parse()
            .map_err(|_| AppError::invalid_input("参数错误: session_id: 必须是整数"))?;
        query = query.filter(system_log::Column::Target.eq(id.to_string()));
    }
    if let Some(target) = nonempty(&q.target) {
        query = query.filter(system_log::Column::Target.eq(target));
    }
    if let Some(start) = nonempty(&q.start_date) {
        query = query.filter(system_log::Column::CreatedAt.gte(day_start(state, &start)?));
    }
    if let Some(end) = nonempty(&q.end_date) {
        let end = day_start(state, &end)? + chrono::Duration::days(1);
        query = query.filter(system_log::Column::CreatedAt.lt(end));
    }
    let total = query.clone().count(&state.db).await?;
    let rows = query
        .order_by_desc(system_log::Column::CreatedAt)
        .order_by_desc(system_log::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(&state.db)
        .await?;
    Ok((rows.into_iter().map(LogView::from).collect(), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn widgets_map_to_value_types() {
        assert_eq!(normalize_value("number", &json!("30")).unwrap(), "30");
        assert_eq!(normalize_value("slider", &json!(80)).unwrap(), "80");
        assert_eq!(normalize_value("switch", &json!("true")).unwrap(), "true");
        assert_eq!(normalize_value("string", &json!("\"x\"")).unwrap(), "\"x\"");
        assert_eq!(
            normalize_value("json", &json!("{\"a\":[1]}")).unwrap(),
            "{\"a\":[1]}"
        );
        assert!(normalize_value("number", &json!("\"abc\"")).is_err());
        assert!(normalize_value("boolean", &json!("1")).is_err());
        assert!(normalize_value("string", &json!("not json")).is_err());
        assert!(normalize_value("nonsense", &json!("1")).is_err());
    }
}
