//! Rules for notifications: the receiver's own list and read marks, and idempotent creation (used only
//! by the bus subscriber in [`super::subscriber`]).

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::dto::{ListQuery, NotificationView, Receiver};
use super::entity::{self, Model as Notification};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult};
use crate::http::Pagination;
use crate::modules::users;

pub const MSG_NOT_FOUND: &str = "通知不存在";

/// One page of the caller's notifications, the filtered total, and all their unread ones.
pub async fn list(
    db: &DatabaseConnection,
    user_id: i64,
    q: &ListQuery,
    paging: &Pagination,
) -> AppResult<(Vec<NotificationView>, u64, u64)> {
    let mut cond = Condition::all().add(entity::Column::UserId.eq(user_id));
    if let Some(kind) = q.kind.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        cond = cond.add(entity::Column::Kind.eq(kind));
    }
    if let Some(read) = q
        .is_read
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        cond = cond.add(entity::Column::IsRead.eq(read == "true"));
    }
    let query = entity::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(entity::Column::CreatedAt)
        .order_by_desc(entity::Column::Id)
        .offset(paging.offset())
        .limit(paging.page_size)
        .all(db)
        .await?;
    let unread = entity::Entity::find()
        .filter(entity::Column::UserId.eq(user_id))
        .filter(entity::Column::IsRead.eq(false))
        .count(db)
        .await?;
    let receiver = users::service::find_many(db, &[user_id])
        .await?
        .remove(&user_id)
        .map(|u| Receiver {
            id: u.id,
            username: u.username,
            avatar: u.avatar,
        })
        .unwrap_or_default();
    let views = rows
        .iter()
        .map(|n| NotificationView::new(n, receiver.clone()))
        .collect();
    Ok((views, total, unread))
}

/// The caller's notification `id`; someone else's is as unknown as a missing one.
async fn own(db: &DatabaseConnection, user_id: i64, id: i64) -> AppResult<Notification> {
    entity::Entity::find_by_id(id)
        .filter(entity::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_NOT_FOUND))
}

/// Marks one of the caller's notifications read (the first read time is kept).
pub async fn mark_read(db: &DatabaseConnection, user_id: i64, id: i64) -> AppResult<()> {
    own(db, user_id, id).await?;
    entity::Entity::update_many()
        .col_expr(entity::Column::IsRead, Expr::value(true))
        .col_expr(entity::Column::ReadTime, Expr::value(Some(Utc::now())))
        .filter(entity::Column::Id.eq(id))
        .filter(entity::Column::IsRead.eq(false))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks all of the caller's notifications read; returns how many changed.
pub async fn mark_all_read(db: &DatabaseConnection, user_id: i64) -> AppResult<u64> {
    Ok(entity::Entity::update_many()
        .col_expr(entity::Column::IsRead, Expr::value(true))
        .col_expr(entity::Column::ReadTime, Expr::value(Some(Utc::now())))
        .filter(entity::Column::UserId.eq(user_id))
        .filter(entity::Column::IsRead.eq(false))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes one of the caller's notifications.
pub async fn delete(db: &DatabaseConnection, user_id: i64, id: i64) -> AppResult<()> {
    own(db, user_id, id).await?;
    entity::Entity::delete_many()
        .filter(entity::Column::Id.eq(id))
        .filter(entity::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Every notification of `user_id`, newest first (the user's export).
pub async fn all_of_user(
    db: &DatabaseConnection,
    user_id: i64,
) -> AppResult<Vec<NotificationView>> {
    let paging = Pagination {
        page: 1,
        page_size: u64::from(u32::MAX),
    };
    Ok(list(db, user_id, &ListQuery::default(), &paging).await?.0)
}

/// Deletes every notification of `user_id` (an account's erasure: they quote orders and names).
pub async fn delete_all_of_user(db: &DatabaseConnection, user_id: i64) -> AppResult<u64> {
    Ok(entity::Entity::delete_many()
        .filter(entity::Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// A notification to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: i64,
    pub kind: &'static str,
    pub level: &'static str,
    pub title: String,
    pub content: String,
    pub extra_data: serde_json::Value,
    /// Unique per fact: the same fact delivered twice creates one notification.
    pub dedupe_key: String,
}

/// Creates the notifications whose dedupe key is not taken yet, with their `NotificationCreated` events,
/// in one transaction (the events in one statement). Returns the ids created. Two deliveries of the same
/// fact at once (a lease that ran out) make the second fail on the unique key; the bus retries it, and
/// that pass finds them created.
pub async fn create_all_once(
    db: &DatabaseConnection,
    news: Vec<NewNotification>,
) -> AppResult<Vec<i64>> {
    let mut keys = HashSet::new();
    let news: Vec<(String, NewNotification)> = news
        .into_iter()
        .filter_map(|new| {
            let key: String = new.dedupe_key.chars().take(100).collect();
            keys.insert(key.clone()).then_some((key, new))
        })
        .collect();
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let txn = db.begin().await?;
    let taken: HashSet<String> = entity::Entity::find()
        .select_only()
        .column(entity::Column::DedupeKey)
        .filter(entity::Column::DedupeKey.is_in(keys))
        .into_tuple::<Option<String>>()
        .all(&txn)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let rows: Vec<(i64, entity::ActiveModel)> = news
        .into_iter()
        .filter(|(key, _)| !taken.contains(key))
        .map(|(key, new)| {
            let row = entity::ActiveModel {
                user_id: Set(new.user_id),
                kind: Set(new.kind.to_owned()),
                level: Set(new.level.to_owned()),
                title: Set(new.title.chars().take(255).collect()),
                content: Set(Some(new.content)),
                extra_data: Set(Some(new.extra_data.to_string())),
                is_read: Set(false),
                read_time: Set(None),
                dedupe_key: Set(Some(key)),
                created_at: Set(Utc::now()),
                ..Default::default()
            };
            (new.user_id, row)
        })
        .collect();
    // (id, receiver) of each notification written.
    let mut created: Vec<(i64, i64)> = Vec::with_capacity(rows.len());
    if txn.support_returning() {
        // One statement for the batch, each row returned with its id (PostgreSQL).
        if !rows.is_empty() {
            let inserted = entity::Entity::insert_many(rows.into_iter().map(|(_, row)| row))
                .exec_with_returning(&txn)
                .await?;
            created.extend(inserted.into_iter().map(|n| (n.id, n.user_id)));
        }
    } else {
        for (user_id, row) in rows {
            let id = entity::Entity::insert(row).exec(&txn).await?.last_insert_id;
            created.push((id, user_id));
        }
    }
    let events: Vec<DomainEvent> = created
        .iter()
        .map(
            |&(notification_id, user_id)| DomainEvent::NotificationCreated {
                notification_id,
                user_id,
            },
        )
        .collect();
    let created = created.into_iter().map(|(id, _)| id).collect();
    EventBus::record_all(&txn, &events).await?;
    txn.commit().await?;
    Ok(created)
}

/// One notification by id (for pushing it to the receiver's sockets).
pub async fn find(db: &DatabaseConnection, id: i64) -> AppResult<Option<Notification>> {
    Ok(entity::Entity::find_by_id(id).one(db).await?)
}
