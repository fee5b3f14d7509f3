//! Administrators and what their roles grant.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::dto::AdminView;
use super::entity::{admin_role, administrator, permission, role, role_permission};
use crate::bus::{DomainEvent, EventBus, Realm};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::modules::auth::AccountAuthState;

/// The role that holds every permission.
pub const SUPER_ADMIN_ROLE: &str = "super_admin";
/// The everyday operator role. The console's route guard passes anyone whose roles include it.
pub const ADMIN_ROLE: &str = "admin";
pub const MSG_ADMIN_NOT_FOUND: &str = "管理员不存在";

pub type Administrator = administrator::Model;

pub async fn find_admin<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Option<Administrator>> {
    Ok(administrator::Entity::find_by_id(id).one(db).await?)
}

pub async fn get_admin<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Administrator> {
    find_admin(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_ADMIN_NOT_FOUND))
}

pub async fn find_admin_by_username(
    db: &DatabaseConnection,
    username: &str,
) -> AppResult<Option<Administrator>> {
    Ok(administrator::Entity::find()
        .filter(administrator::Column::Username.eq(username))
        .one(db)
        .await?)
}

/// What the token check needs about administrator `id`; `None` when it is gone.
pub async fn auth_state(db: &DatabaseConnection, id: i64) -> AppResult<Option<AccountAuthState>> {
    Ok(find_admin(db, id).await?.map(|a| AccountAuthState {
        enabled: a.status == 1,
        username: a.username,
        tokens_valid_after: a.tokens_valid_after,
    }))
}

/// The codes of the administrator's enabled roles, in role order.
pub async fn role_codes<C: ConnectionTrait>(db: &C, admin_id: i64) -> AppResult<Vec<String>> {
    Ok(role::Entity::find()
        .select_only()
        .column(role::Column::Code)
        .join(
            JoinType::InnerJoin,
            role::Entity::belongs_to(admin_role::Entity)
                .from(role::Column::Id)
                .to(admin_role::Column::RoleId)
                .into(),
        )
        .filter(admin_role::Column::AdminId.eq(admin_id))
        .filter(role::Column::Status.eq(1))
        .order_by_asc(role::Column::Sort)
        .order_by_asc(role::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

/// Every enabled permission that one of the administrator's enabled roles grants.
pub async fn granted_permissions<C: ConnectionTrait>(
    db: &C,
    admin_id: i64,
) -> AppResult<Vec<permission::Model>> {
    let role_ids = role::Entity::find()
        .select_only()
        .column(role::Column::Id)
        .join(
            JoinType::InnerJoin,
            role::Entity::belongs_to(admin_role::Entity)
                .from(role::Column::Id)
                .to(admin_role::Column::RoleId)
                .into(),
        )
        .filter(admin_role::Column::AdminId.eq(admin_id))
        .filter(role::Column::Status.eq(1))
        .into_tuple::<i64>()
        .all(db)
        .await?;
    if role_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(permission::Entity::find()
        .distinct()
        .join(
            JoinType::InnerJoin,
            permission::Entity::belongs_to(role_permission::Entity)
                .from(permission::Column::Id)
                .to(role_permission::Column::PermissionId)
                .into(),
        )
        .filter(role_permission::Column::RoleId.is_in(role_ids))
        .filter(permission::Column::Status.eq(1))
        .order_by_asc(permission::Column::Id)
        .all(db)
        .await?)
}

/// The `roles` list the console reads: role codes, plus `admin` for a super admin so the client-side
/// route guard opens every page for them.
pub fn client_roles(mut codes: Vec<String>) -> Vec<String> {
    if codes.iter().any(|c| c == SUPER_ADMIN_ROLE) && !codes.iter().any(|c| c == ADMIN_ROLE) {
        codes.push(ADMIN_ROLE.to_owned());
    }
    codes
}

pub async fn admin_view<C: ConnectionTrait>(db: &C, admin: &Administrator) -> AppResult<AdminView> {
    let roles = role_codes(db, admin.id).await?;
    Ok(AdminView::new(admin, roles))
}

pub async fn record_login(
    db: &DatabaseConnection,
    admin: Administrator,
) -> AppResult<Administrator> {
    let mut active: administrator::ActiveModel = admin.into();
    active.last_login = Set(Some(Utc::now()));
    Ok(active.update(db).await?)
}

pub struct AdminProfileChange {
    pub real_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub avatar: Option<String>,
}

/// Applies the non-empty fields of the caller's own profile change.
pub async fn update_own_profile(
    db: &DatabaseConnection,
    admin_id: i64,
    change: AdminProfileChange,
) -> AppResult<()> {
    let admin = get_admin(db, admin_id).await?;
    if let Some(email) = &change.email {
        let taken = administrator::Entity::find()
            .filter(administrator::Column::Email.eq(email.as_str()))
            .filter(administrator::Column::Id.ne(admin_id))
            .one(db)
            .await?
            .is_some();
        if taken {
            return Err(AppError::conflict("邮箱已存在"));
        }
    }
    let mut active: administrator::ActiveModel = admin.into();
    if let Some(v) = change.real_name {
        active.real_name = Set(v);
    }
    if let Some(v) = change.email {
        active.email = Set(Some(v));
    }
    if let Some(v) = change.phone {
        active.phone = Set(v);
    }
    if let Some(v) = change.avatar {
        active.avatar = Set(v);
    }
    active.updated_at = Set(Utc::now());
    active.update(db).await.map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict("邮箱已存在")
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Replaces an administrator's password hash and voids their earlier tokens, announcing it.
pub async fn set_admin_password(
    db: &DatabaseConnection,
    bus: &EventBus,
    admin_id: i64,
    password_hash: String,
) -> AppResult<()> {
    let now = Utc::now();
    let txn = db.begin().await?;
    let updated = administrator::Entity::update_many()
        .col_expr(administrator::Column::Password, Expr::value(password_hash))
        .col_expr(
            administrator::Column::TokensValidAfter,
            Expr::value(now.timestamp_millis()),
        )
        .col_expr(administrator::Column::UpdatedAt, Expr::value(now))
        .filter(administrator::Column::Id.eq(admin_id))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(AppError::not_found(MSG_ADMIN_NOT_FOUND));
    }
    EventBus::record(
        &txn,
        &DomainEvent::PasswordChanged {
            realm: Realm::Admin,
            account_id: admin_id,
        },
    )
    .await?;
    txn.commit().await?;
    bus.notify();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn super_admins_also_carry_the_client_admin_role() {
        assert_eq!(
            client_roles(vec!["super_admin".into()]),
            vec!["super_admin", "admin"]
        );
        assert_eq!(client_roles(vec!["admin".into()]), vec!["admin"]);
        assert!(client_roles(vec!["auditor".into()]) == vec!["auditor"]);
        assert!(client_roles(vec![]).is_empty());
    }
}
