//! Rules for forms, versions, submissions and pages.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::{Map, Value};

use super::dto::{FormDataView, FormView, PageView};
use super::entity::{form_data_record, lowcode_form, lowcode_form_version, lowcode_page};
use super::fields::{self, FieldErrors};
use crate::db::like_pattern;
use crate::error::{AppError, AppResult, unique_or_internal};
use crate::http::Pagination;

pub const MSG_FORM_NOT_FOUND: &str = "表单不存在";
pub const MSG_PAGE_NOT_FOUND: &str = "页面不存在";
pub const MSG_RECORD_NOT_FOUND: &str = "记录不存在";
const MAX_TITLE: usize = 200;
const MAX_PATH: usize = 200;

/// A save request after shape checks (the field list is checked separately).
pub struct SaveInput {
    /// `id` of the body: the original's POST updates when it is > 0.
    pub body_id: Option<i64>,
    pub title: String,
    pub description: Option<String>,
    /// `form_json` / `page_json` text.
    pub json: String,
    pub path: Option<String>,
    pub status: Option<i32>,
}

fn bad(detail: &str) -> AppError {
    AppError::invalid_input(format!("参数错误: {detail}"))
}

/// Reads `{id?, title, description?, items | <json_key>, path?, status?}`. `items` may be any JSON; the
/// `<json_key>` string must hold valid JSON text.
pub fn parse_save_body(body: &Value, json_key: &str) -> AppResult<SaveInput> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad("请求体须为 JSON 对象"))?;
    let body_id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| bad("id 必须是整数"))?),
    };
    let title = match obj.get("title") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(bad("title 必填")),
    };
    if title.chars().count() > MAX_TITLE {
        return Err(bad("title 过长"));
    }
    let description = match obj.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("description 必须是字符串")),
    };
    let json = match (obj.get(json_key), obj.get("items")) {
        (Some(Value::String(s)), _) => {
            serde_json::from_str::<Value>(s)
                .map_err(|_| bad(&format!("{json_key} 不是合法的 JSON")))?;
            s.clone()
        }
        (Some(v), _) if !v.is_null() => return Err(bad(&format!("{json_key} 必须是 JSON 字符串"))),
        (_, Some(items)) if !items.is_null() => items.to_string(),
        _ => return Err(bad("items 必填")),
    };
    let path = match obj.get("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_PATH => Some(s.clone()),
        Some(_) => return Err(bad("path 必须是不超过 200 字的字符串")),
    };
    let status = match obj.get("status") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(s @ (0 | 1)) => Some(s as i32),
            _ => return Err(bad("status 须为 0 或 1")),
        },
    };
    Ok(SaveInput {
        body_id,
        title,
        description,
        json,
        path,
        status,
    })
}

// ---------------------------------------------------------------------------------------------- forms

pub async fn list_forms(
    db: &DatabaseConnection,
    title: Option<&str>,
    page: &Pagination,
) -> AppResult<(Vec<FormView>, u64)> {
    let mut query = lowcode_form::Entity::find();
    if let Some(t) = title.map(str::trim).filter(|t| !t.is_empty()) {
        query = query.filter(lowcode_form::Column::Title.like(like_pattern(t)));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(lowcode_form::Column::CreatedAt)
        .order_by_desc(lowcode_form::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    Ok((rows.into_iter().map(FormView::from).collect(), total))
}

pub async fn find_form<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<lowcode_form::Model> {
    lowcode_form::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_FORM_NOT_FOUND))
}

/// Creates the form and its version-1 row. `Ok(Err(..))`: the field list is invalid.
pub async fn create_form(
    db: &DatabaseConnection,
    input: SaveInput,
) -> AppResult<Result<FormView, FieldErrors>> {
    if let Err(e) = fields::parse_fields(&input.json) {
        return Ok(Err(e));
    }
    let now = Utc::now();
    let txn = db.begin().await?;
    let form = lowcode_form::ActiveModel {
        title: Set(input.title),
        description: Set(input.description),
        form_json: Set(input.json.clone()),
        version: Set(1),
        status: Set(input.status.unwrap_or(1)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    lowcode_form_version::ActiveModel {
        form_id: Set(form.id),
        version: Set(1),
        form_json: Set(input.json),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Ok(form.into()))
}

/// Updates a form. A changed field list becomes a new version when submissions exist (they keep pointing at
/// the version they were validated against); otherwise the current version is rewritten in place.
pub async fn update_form(
    db: &DatabaseConnection,
    id: i64,
    input: SaveInput,
) -> AppResult<Result<FormView, FieldErrors>> {
    if let Err(e) = fields::parse_fields(&input.json) {
        return Ok(Err(e));
    }
    let now = Utc::now();
    let txn = db.begin().await?;
    let form = find_form(&txn, id).await?;
    let mut version = form.version;
    if form.form_json != input.json {
        let submissions = form_data_record::Entity::find()
            .filter(form_data_record::Column::FormId.eq(id))
            .count(&txn)
            .await?;
        if submissions > 0 {
            version += 1;
            lowcode_form_version::ActiveModel {
                form_id: Set(id),
                version: Set(version),
                form_json: Set(input.json.clone()),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(|e| unique_or_internal(e, "表单已被同时修改，请重试"))?;
        } else {
            let updated = lowcode_form_version::Entity::update_many()
                .col_expr(
                    lowcode_form_version::Column::FormJson,
                    sea_orm::sea_query::Expr::value(input.json.clone()),
                )
                .filter(lowcode_form_version::Column::FormId.eq(id))
                .filter(lowcode_form_version::Column::Version.eq(version))
                .exec(&txn)
                .await?;
            if updated.rows_affected == 0 {
                lowcode_form_version::ActiveModel {
                    form_id: Set(id),
                    version: Set(version),
                    form_json: Set(input.json.clone()),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await
                .map_err(|e| unique_or_internal(e, "表单已被同时修改，请重试"))?;
            }
        }
    }
    let mut active: lowcode_form::ActiveModel = form.into();
    active.title = Set(input.title);
    active.description = Set(input.description);
    active.form_json = Set(input.json);
    active.version = Set(version);
    if let Some(s) = input.status {
        active.status = Set(s);
    }
    active.updated_at = Set(now);
    let saved = active.update(&txn).await?;
    txn.commit().await?;
    Ok(Ok(saved.into()))
}

/// Deletes the form with its submissions and versions, all or nothing.
pub async fn delete_form(db: &DatabaseConnection, id: i64) -> AppResult<()> {
    let txn = db.begin().await?;
    find_form(&txn, id).await?;
    form_data_record::Entity::delete_many()
        .filter(form_data_record::Column::FormId.eq(id))
        .exec(&txn)
        .await?;
    lowcode_form_version::Entity::delete_many()
        .filter(lowcode_form_version::Column::FormId.eq(id))
        .exec(&txn)
        .await?;
    lowcode_form::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

// ----------------------------------------------------------------------------------------- submissions

pub async fn list_submissions(
    db: &DatabaseConnection,
    form_id: i64,
    page: &Pagination,
) -> AppResult<(Vec<FormDataView>, u64)> {
    find_form(db, form_id).await?;
    let query =
        form_data_record::Entity::find().filter(form_data_record::Column::FormId.eq(form_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(form_data_record::Column::CreatedAt)
        .order_by_desc(form_data_record::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    Ok((rows.into_iter().map(FormDataView::from).collect(), total))
}

/// The submitted object: a `form_data` JSON string, a `data` object, or (as the original) the body itself.
pub fn submission_object(body: &Value) -> AppResult<Map<String, Value>> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad("请求体须为 JSON 对象"))?;
    match (obj.get("form_data"), obj.get("data")) {
        (Some(Value::String(s)), _) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(bad("form_data 须为 JSON 对象文本")),
        },
        (Some(v), _) if !v.is_null() => Err(bad("form_data 必须是 JSON 字符串")),
        (_, Some(Value::Object(m))) => Ok(m.clone()),
        _ => Ok(obj.clone()),
    }
}

pub async fn submit(
    db: &DatabaseConnection,
    form_id: i64,
    admin_id: i64,
    data: Map<String, Value>,
) -> AppResult<Result<FormDataView, FieldErrors>> {
    let form = find_form(db, form_id).await?;
    // A stored definition that no longer parses is the server's problem, not the submitter's.
    let defs = fields::parse_fields(&form.form_json).map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "stored form {form_id} has an invalid field list: {}",
            fields::describe(&e)
        ))
    })?;
    if let Err(e) = fields::validate_submission(&defs, &data) {
        return Ok(Err(e));
    }
    let row = form_data_record::ActiveModel {
        form_id: Set(form_id),
        form_version: Set(form.version),
        form_data: Set(Value::Object(data).to_string()),
        created_by: Set(Some(admin_id)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Ok(row.into()))
}

pub async fn delete_submission(
    db: &DatabaseConnection,
    form_id: i64,
    data_id: i64,
) -> AppResult<()> {
    let res = form_data_record::Entity::delete_many()
        .filter(form_data_record::Column::Id.eq(data_id))
        .filter(form_data_record::Column::FormId.eq(form_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(AppError::not_found(MSG_RECORD_NOT_FOUND));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------- pages

pub async fn list_pages(
    db: &DatabaseConnection,
    title: Option<&str>,
    page: &Pagination,
) -> AppResult<(Vec<PageView>, u64)> {
    let mut query = lowcode_page::Entity::find();
    if let Some(t) = title.map(str::trim).filter(|t| !t.is_empty()) {
        query = query.filter(lowcode_page::Column::Title.like(like_pattern(t)));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(lowcode_page::Column::CreatedAt)
        .order_by_desc(lowcode_page::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    Ok((rows.into_iter().map(PageView::from).collect(), total))
}

pub async fn find_page(db: &DatabaseConnection, id: i64) -> AppResult<lowcode_page::Model> {
    lowcode_page::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_PAGE_NOT_FOUND))
}

pub async fn create_page(db: &DatabaseConnection, input: SaveInput) -> AppResult<PageView> {
    let now = Utc::now();
    let page = lowcode_page::ActiveModel {
        title: Set(input.title),
        description: Set(input.description),
        page_json: Set(input.json),
        path: Set(input.path.unwrap_or_default()),
        status: Set(input.status.unwrap_or(1)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(page.into())
}

pub async fn update_page(
    db: &DatabaseConnection,
    id: i64,
    input: SaveInput,
) -> AppResult<PageView> {
    let page = find_page(db, id).await?;
    let mut active: lowcode_page::ActiveModel = page.into();
    active.title = Set(input.title);
    active.description = Set(input.description);
    active.page_json = Set(input.json);
    if let Some(p) = input.path {
        active.path = Set(p);
    }
    if let Some(s) = input.status {
        active.status = Set(s);
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?.into())
}

pub async fn delete_page(db: &DatabaseConnection, id: i64) -> AppResult<()> {
    let res = lowcode_page::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(AppError::not_found(MSG_PAGE_NOT_FOUND));
    }
    Ok(())
}
