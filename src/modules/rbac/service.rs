//! Administrators and what their roles grant.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationDef, Set, TransactionTrait,
};

use super::dto::{
    AdminView, MenuNode, MenuRequest, MenuView, PermissionNode, PermissionRequest, PermissionView,
    RoleRequest, RoleView,
};
use super::entity::{admin_role, administrator, menu, permission, role, role_permission};
use crate::bus::{DomainEvent, EventBus, Realm};
use crate::error::{AppError, AppResult, is_unique_violation, unique_or_internal};
use crate::http::Pagination;
use crate::modules::auth::AccountAuthState;
use crate::state::AppState;

/// The role that holds every permission.
pub const SUPER_ADMIN_ROLE: &str = "super_admin";
/// The everyday operator role. The console's route guard passes anyone whose roles include it.
pub const ADMIN_ROLE: &str = "admin";
pub const MSG_ADMIN_NOT_FOUND: &str = "管理员不存在";

pub type Administrator = administrator::Model;

/// Joins `admin_roles` to a query on `roles`.
fn join_admin_roles_of_role() -> RelationDef {
    role::Entity::belongs_to(admin_role::Entity)
        .from(role::Column::Id)
        .to(admin_role::Column::RoleId)
        .into()
}

/// Joins `roles` to a query on `admin_roles`.
fn join_role_of_admin_role() -> RelationDef {
    admin_role::Entity::belongs_to(role::Entity)
        .from(admin_role::Column::RoleId)
        .to(role::Column::Id)
        .into()
}

/// Joins `admin_roles` to a query on `administrator`.
fn join_admin_roles_of_admin() -> RelationDef {
    administrator::Entity::belongs_to(admin_role::Entity)
        .from(administrator::Column::Id)
        .to(admin_role::Column::AdminId)
        .into()
}

/// Joins `role_permissions` to a query on `permissions`.
fn join_role_permissions_of_permission() -> RelationDef {
    permission::Entity::belongs_to(role_permission::Entity)
        .from(permission::Column::Id)
        .to(role_permission::Column::PermissionId)
        .into()
}

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

/// The ids and codes of the administrator's enabled roles, in role order.
async fn enabled_roles<C: ConnectionTrait>(db: &C, admin_id: i64) -> AppResult<Vec<(i64, String)>> {
    Ok(role::Entity::find()
        .select_only()
        .column(role::Column::Id)
        .column(role::Column::Code)
        .join(JoinType::InnerJoin, join_admin_roles_of_role())
        .filter(admin_role::Column::AdminId.eq(admin_id))
        .filter(role::Column::Status.eq(1))
        .order_by_asc(role::Column::Sort)
        .order_by_asc(role::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

/// The codes of the administrator's enabled roles, in role order.
pub async fn role_codes<C: ConnectionTrait>(db: &C, admin_id: i64) -> AppResult<Vec<String>> {
    Ok(enabled_roles(db, admin_id)
        .await?
        .into_iter()
        .map(|(_, code)| code)
        .collect())
}

/// Every enabled permission that one of the administrator's enabled roles grants.
pub async fn granted_permissions<C: ConnectionTrait>(
    db: &C,
    admin_id: i64,
) -> AppResult<Vec<permission::Model>> {
    let (role_ids, codes): (Vec<i64>, Vec<String>) =
        enabled_roles(db, admin_id).await?.into_iter().unzip();
    if role_ids.is_empty() {
        return Ok(Vec::new());
    }
    if codes.iter().any(|c| c == SUPER_ADMIN_ROLE) {
        // The super admin holds every permission (the enforcer's wildcard), including ones added later.
        return Ok(permission::Entity::find()
            .filter(permission::Column::Status.eq(1))
            .order_by_asc(permission::Column::Id)
            .all(db)
            .await?);
    }
    Ok(permission::Entity::find()
        .distinct()
        .join(JoinType::InnerJoin, join_role_permissions_of_permission())
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

// ---------------------------------------------------------------------------------------------------------
// Management by the console: roles, permissions, menus and administrators.
// ---------------------------------------------------------------------------------------------------------

pub const MSG_ROLE_NOT_FOUND: &str = "角色不存在";
pub const MSG_PERMISSION_NOT_FOUND: &str = "权限不存在";
pub const MSG_MENU_NOT_FOUND: &str = "菜单不存在";

use crate::db::like_pattern as like_contains;

/// Records `RbacChanged` in `txn` (commit, then call [`rbac_committed`]).
async fn record_rbac_change<C: ConnectionTrait>(txn: &C) -> AppResult<()> {
    EventBus::record(txn, &DomainEvent::RbacChanged).await?;
    Ok(())
}

/// After a committed RBAC change: this instance reloads at once, the others on the event.
pub async fn rbac_committed(state: &AppState) {
    state.rbac.invalidate().await;
    state.bus.notify();
}

pub async fn get_role<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<role::Model> {
    role::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_ROLE_NOT_FOUND))
}

async fn role_user_counts<C: ConnectionTrait>(
    db: &C,
    role_ids: &[i64],
) -> AppResult<HashMap<i64, u64>> {
    if role_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64)> = admin_role::Entity::find()
        .select_only()
        .column(admin_role::Column::RoleId)
        .column_as(admin_role::Column::Id.count(), "n")
        .filter(admin_role::Column::RoleId.is_in(role_ids.iter().copied()))
        .group_by(admin_role::Column::RoleId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(r, n)| (r, n.max(0) as u64))
        .collect())
}

pub async fn list_roles(
    db: &DatabaseConnection,
    name: Option<&str>,
    status: Option<i32>,
    page: &Pagination,
) -> AppResult<(Vec<RoleView>, u64)> {
    let mut query = role::Entity::find();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        query = query.filter(role::Column::Name.like(like_contains(name)));
    }
    if let Some(status) = status {
        query = query.filter(role::Column::Status.eq(status));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(role::Column::Sort)
        .order_by_asc(role::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    let counts = role_user_counts(db, &rows.iter().map(|r| r.id).collect::<Vec<_>>()).await?;
    Ok((
        rows.iter()
            .map(|r| RoleView::new(r, counts.get(&r.id).copied().unwrap_or(0)))
            .collect(),
        total,
    ))
}

pub async fn role_view<C: ConnectionTrait>(db: &C, r: &role::Model) -> AppResult<RoleView> {
    let counts = role_user_counts(db, &[r.id]).await?;
    Ok(RoleView::new(r, counts.get(&r.id).copied().unwrap_or(0)))
}

async fn ensure_role_unique<C: ConnectionTrait>(
    db: &C,
    name: &str,
    code: &str,
    except: Option<i64>,
) -> AppResult<()> {
    let mut by_name = role::Entity::find().filter(role::Column::Name.eq(name));
    let mut by_code = role::Entity::find().filter(role::Column::Code.eq(code));
    if let Some(id) = except {
        by_name = by_name.filter(role::Column::Id.ne(id));
        by_code = by_code.filter(role::Column::Id.ne(id));
    }
    if by_name.one(db).await?.is_some() {
        return Err(AppError::conflict("角色名已存在"));
    }
    if by_code.one(db).await?.is_some() {
        return Err(AppError::conflict("角色编码已存在"));
    }
    Ok(())
}

fn role_unique_error(e: sea_orm::DbErr) -> AppError {
    unique_or_internal(e, "角色名或编码已存在")
}

pub async fn create_role(state: &AppState, req: RoleRequest) -> AppResult<RoleView> {
    let db = &state.db;
    ensure_role_unique(db, req.name.trim(), &req.code, None).await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let row = role::ActiveModel {
        name: Set(req.name.trim().to_owned()),
        code: Set(req.code),
        description: Set(req.description),
        sort: Set(req.sort),
        status: Set(req.status),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(role_unique_error)?;
    record_rbac_change(&txn).await?;
    txn.commit().await?;
    rbac_committed(state).await;
    Ok(RoleView::new(&row, 0))
}

/// The seeded super-admin role keeps its code and stays enabled: the wildcard grant hangs on it.
pub async fn update_role(state: &AppState, id: i64, req: RoleRequest) -> AppResult<RoleView> {
    let db = &state.db;
    let current = get_role(db, id).await?;
    if current.code == SUPER_ADMIN_ROLE && (req.code != SUPER_ADMIN_ROLE || req.status != 1) {
        return Err(AppError::bad_request("超级管理员角色不能修改编码或禁用"));
    }
    ensure_role_unique(db, req.name.trim(), &req.code, Some(id)).await?;
    let txn = db.begin().await?;
    let mut active: role::ActiveModel = current.into();
    active.name = Set(req.name.trim().to_owned());
    active.code = Set(req.code);
    active.description = Set(req.description);
    active.sort = Set(req.sort);
    active.status = Set(req.status);
    active.updated_at = Set(Utc::now());
    let row = active.update(&txn).await.map_err(role_unique_error)?;
    record_rbac_change(&txn).await?;
    txn.commit().await?;
    rbac_committed(state).await;
    role_view(db, &row).await
}

pub async fn delete_role(state: &AppState, id: i64) -> AppResult<()> {
    let db = &state.db;
    let current = get_role(db, id).await?;
    if current.code == SUPER_ADMIN_ROLE {
        return Err(AppError::bad_request("不能删除超级管理员角色"));
    }
    let txn = db.begin().await?;
    role_permission::Entity::delete_many()
        .filter(role_permission::Column::RoleId.eq(id))
        .exec(&txn)
        .await?;
    admin_role::Entity::delete_many()
        .filter(admin_role::Column::RoleId.eq(id))
        .exec(&txn)
        .await?;
    role::Entity::delete_by_id(id).exec(&txn).await?;
    record_rbac_change(&txn).await?;
    txn.commit().await?;
    rbac_committed(state).await;
    Ok(())
}

pub async fn role_permissions(
    db: &DatabaseConnection,
    role_id: i64,
) -> AppResult<Vec<PermissionView>> {
    get_role(db, role_id).await?;
    Ok(permission::Entity::find()
        .join(JoinType::InnerJoin, join_role_permissions_of_permission())
        .filter(role_permission::Column::RoleId.eq(role_id))
        .order_by_asc(permission::Column::Sort)
        .order_by_asc(permission::Column::Id)
        .all(db)
        .await?
        .iter()
        .map(PermissionView::from)
        .collect())
}

/// Replaces a role's permission set in one transaction; unknown ids are refused.
pub async fn assign_permissions(state: &AppState, role_id: i64, ids: Vec<i64>) -> AppResult<()> {
    let db = &state.db;
    get_role(db, role_id).await?;
    let mut ids = ids;
    ids.sort_unstable();
    ids.dedup();
    if !ids.is_empty() {
        let found = permission::Entity::find()
            .filter(permission::Column::Id.is_in(ids.clone()))
            .count(db)
            .await?;
        if found != ids.len() as u64 {
            return Err(AppError::bad_request(MSG_PERMISSION_NOT_FOUND));
        }
    }
    let txn = db.begin().await?;
    role_permission::Entity::delete_many()
        .filter(role_permission::Column::RoleId.eq(role_id))
        .exec(&txn)
        .await?;
    if !ids.is_empty() {
        role_permission::Entity::insert_many(ids.into_iter().map(|pid| {
            role_permission::ActiveModel {
                role_id: Set(role_id),
                permission_id: Set(pid),
                ..Default::default()
            }
        }))
        .exec(&txn)
        .await?;
    }
    record_rbac_change(&txn).await?;
    txn.commit().await?;
    rbac_committed(state).await;
    Ok(())
}

/// The administrators holding a role (`nickname` is their real name).
pub async fn role_users(
    db: &DatabaseConnection,
    role_id: i64,
    page: &Pagination,
) -> AppResult<(Vec<serde_json::Value>, u64)> {
    get_role(db, role_id).await?;
    let query = administrator::Entity::find()
        .join(JoinType::InnerJoin, join_admin_roles_of_admin())
        .filter(admin_role::Column::RoleId.eq(role_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(administrator::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    Ok((
        rows.into_iter()
            .map(|a| {
                serde_json::json!({
                    "id": a.id,
                    "username": a.username,
                    "nickname": a.real_name,
                    "real_name": a.real_name,
                    "email": a.email.unwrap_or_default(),
                    "status": a.status,
                    "created_at": a.created_at,
                })
            })
            .collect(),
        total,
    ))
}

pub async fn get_permission<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<permission::Model> {
    permission::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_PERMISSION_NOT_FOUND))
}

pub async fn list_permissions(
    db: &DatabaseConnection,
    name: Option<&str>,
    page: &Pagination,
) -> AppResult<(Vec<PermissionView>, u64)> {
    let mut query = permission::Entity::find();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        query = query.filter(permission::Column::Name.like(like_contains(name)));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(permission::Column::Sort)
        .order_by_asc(permission::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    Ok((rows.iter().map(PermissionView::from).collect(), total))
}

/// Builds a forest from `(id, parent)` rows already in display order; a node whose parent is missing
/// becomes a root, so nothing silently disappears.
fn build_forest<T, N>(
    rows: Vec<T>,
    id: impl Fn(&T) -> i64,
    parent: impl Fn(&T) -> Option<i64>,
    node: impl Fn(T, Vec<N>) -> N + Copy,
) -> Vec<N> {
    let ids: std::collections::HashSet<i64> = rows.iter().map(&id).collect();
    let mut children: HashMap<i64, Vec<T>> = HashMap::new();
    let mut roots = Vec::new();
    for row in rows {
        match parent(&row).filter(|p| *p != 0 && *p != id(&row) && ids.contains(p)) {
            Some(p) => children.entry(p).or_default().push(row),
            None => roots.push(row),
        }
    }
    fn attach<T, N>(
        row: T,
        children: &mut HashMap<i64, Vec<T>>,
        id: &dyn Fn(&T) -> i64,
        node: &dyn Fn(T, Vec<N>) -> N,
        depth: usize,
    ) -> N {
        let kids = if depth > 32 {
            Vec::new()
        } else {
            children
                .remove(&id(&row))
                .unwrap_or_default()
                .into_iter()
                .map(|c| attach(c, children, id, node, depth + 1))
                .collect()
        };
        node(row, kids)
    }
    roots
        .into_iter()
        .map(|r| attach(r, &mut children, &id, &node, 0))
        .collect()
}

pub async fn permission_tree(db: &DatabaseConnection) -> AppResult<Vec<PermissionNode>> {
    let rows = permission::Entity::find()
        .order_by_asc(permission::Column::Sort)
        .order_by_asc(permission::Column::Id)
        .all(db)
        .await?;
    Ok(build_forest(
        rows,
        |p| p.id,
        |p| Some(p.parent_id),
        |p, children| PermissionNode {
            permission: PermissionView::from(&p),
            children,
        },
    ))
}

const PERMISSION_TYPES: &[&str] = &["menu", "button", "api"];

/// Refuses a parent that does not exist, or that is `id` itself or one of its descendants.
/// `parents` maps every node to its parent (0 for a root); `noun` names the node in the message.
fn check_tree_parent(
    parents: &HashMap<i64, i64>,
    id: Option<i64>,
    parent: i64,
    noun: &str,
) -> AppResult<()> {
    if Some(parent) == id {
        return Err(AppError::bad_request(format!("上级{noun}不能是自己")));
    }
    if !parents.contains_key(&parent) {
        return Err(AppError::bad_request(format!("上级{noun}不存在")));
    }
    let mut cursor = parent;
    for _ in 0..64 {
        if Some(cursor) == id {
            return Err(AppError::bad_request(format!("上级{noun}不能是自己的下级")));
        }
        match parents.get(&cursor) {
            Some(&p) if p != 0 => cursor = p,
            _ => break,
        }
    }
    Ok(())
}

async fn check_permission_parent<C: ConnectionTrait>(
    db: &C,
    id: Option<i64>,
    parent: i64,
) -> AppResult<()> {
    if parent == 0 {
        return Ok(());
    }
    let parents: HashMap<i64, i64> = permission::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.parent_id))
        .collect();
    check_tree_parent(&parents, id, parent, "权限")
}

pub async fn save_permission(
    state: &AppState,
    id: Option<i64>,
    req: PermissionRequest,
) -> AppResult<PermissionView> {
    let db = &state.db;
    let kind = req
        .kind
        .clone()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "menu".into());
    if !PERMISSION_TYPES.contains(&kind.as_str()) {
        return Err(AppError::invalid_input(
            "参数错误: type: 类型只能是 menu、button 或 api",
        ));
    }
    let parent_id = req.parent_id.unwrap_or(0).max(0);
    let current = match id {
        Some(id) => Some(get_permission(db, id).await?),
        None => None,
    };
    check_permission_parent(db, id, parent_id).await?;
    let mut dup = permission::Entity::find().filter(permission::Column::Code.eq(req.code.as_str()));
    if let Some(id) = id {
        dup = dup.filter(permission::Column::Id.ne(id));
    }
    if dup.one(db).await?.is_some() {
        return Err(AppError::conflict("权限编码已存在"));
    }
    let now = Utc::now();
    let txn = db.begin().await?;
    let mut active: permission::ActiveModel = match current {
        Some(p) => p.into(),
        None => permission::ActiveModel {
            created_at: Set(now),
            ..Default::default()
        },
    };
    active.parent_id = Set(parent_id);
    active.name = Set(req.name.trim().to_owned());
    active.code = Set(req.code);
    active.kind = Set(kind);
    active.path = Set(req.path);
    active.component = Set(req.component);
    active.icon = Set(req.icon);
    active.sort = Set(req.sort);
    active.status = Set(req.status);
    active.updated_at = Set(now);
    let row = if id.is_some() {
        active.update(&txn).await
    } else {
        active.insert(&txn).await
    }
    .map_err(|e| unique_or_internal(e, "权限编码已存在"))?;
    record_rbac_change(&txn).await?;
    txn.commit().await?;
    rbac_committed(state).await;
    Ok(PermissionView::from(&row))
}

pub async fn delete_permission(state: &AppState, id: i64) -> AppResult<()> {
    let db = &state.db;
    get_permission(db, id).await?;
    let children = permission::Entity::find()
        .filter(permission::Column::ParentId.eq(id))
        .count(db)
        .await?;
    if children > 0 {
        return Err(AppError::bad_request(format!(
            "该权限下还有 {children} 个子权限，无法删除"
        )));
    }
    let txn = db.begin().await?;
    role_permission::Entity::delete_many()
        .filter(role_permission::Column::PermissionId.eq(id))
        .exec(&txn)
        .await?;
    permission::Entity::delete_by_id(id).exec(&txn).await?;
    record_rbac_change(&txn).await?;
    txn.commit().await?;
    rbac_committed(state).await;
    Ok(())
}

pub async fn get_menu<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<menu::Model> {
    menu::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_MENU_NOT_FOUND))
}

fn menu_node(m: menu::Model, children: Vec<MenuNode>) -> MenuNode {
    MenuNode {
        id: m.id,
        parent_id: m.parent_id,
        name: m.name,
        kind: m.kind,
        path: m.path,
        component: m.component,
        permission: m.permission,
        icon: m.icon,
        sort: m.sort,
        status: m.status,
        children,
    }
}

/// The menu tree (matching names only, when `name` is given) and the number of matching rows.
pub async fn menu_tree(
    db: &DatabaseConnection,
    name: Option<&str>,
) -> AppResult<(Vec<MenuNode>, u64)> {
    let mut query = menu::Entity::find();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        query = query.filter(menu::Column::Name.like(like_contains(name)));
    }
    let rows = query
        .order_by_asc(menu::Column::Sort)
        .order_by_asc(menu::Column::Id)
        .all(db)
        .await?;
    let total = rows.len() as u64;
    Ok((
        build_forest(rows, |m| m.id, |m| m.parent_id, menu_node),
        total,
    ))
}

async fn check_menu_parent<C: ConnectionTrait>(
    db: &C,
    id: Option<i64>,
    parent: Option<i64>,
) -> AppResult<()> {
    let Some(parent) = parent.filter(|p| *p != 0) else {
        return Ok(());
    };
    let parents: HashMap<i64, i64> = menu::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m.parent_id.unwrap_or(0)))
        .collect();
    check_tree_parent(&parents, id, parent, "菜单")
}

pub async fn save_menu(
    db: &DatabaseConnection,
    id: Option<i64>,
    req: MenuRequest,
) -> AppResult<MenuView> {
    let name = req.name.trim().to_owned();
    if name.is_empty() {
        return Err(AppError::bad_request("菜单名称不能为空"));
    }
    let kind = match req.kind {
        None | Some(0) => 2,
        Some(k @ 1..=3) => k,
        Some(_) => return Err(AppError::invalid_input("参数错误: type: 类型只能是1、2或3")),
    };
    let parent_id = req.parent_id.filter(|p| *p > 0);
    let current = match id {
        Some(id) => Some(get_menu(db, id).await?),
        None => None,
    };
    check_menu_parent(db, id, parent_id).await?;
    let now = Utc::now();
    let mut active: menu::ActiveModel = match current {
        Some(m) => m.into(),
        None => menu::ActiveModel {
            created_at: Set(now),
            ..Default::default()
        },
    };
    active.parent_id = Set(parent_id);
    active.name = Set(name);
    active.kind = Set(kind);
    active.path = Set(req.path);
    active.component = Set(req.component);
    active.permission = Set(req.permission);
    active.icon = Set(req.icon);
    active.sort = Set(req.sort);
    active.status = Set(req.status);
    active.updated_at = Set(now);
    let row = if id.is_some() {
        active.update(db).await?
    } else {
        active.insert(db).await?
    };
    Ok(MenuView::from(&row))
}

pub async fn delete_menu(db: &DatabaseConnection, id: i64) -> AppResult<()> {
    get_menu(db, id).await?;
    let children = menu::Entity::find()
        .filter(menu::Column::ParentId.eq(id))
        .count(db)
        .await?;
    if children > 0 {
        return Err(AppError::bad_request(format!(
            "该菜单下还有 {children} 个子菜单，无法删除"
        )));
    }
    menu::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

// --- administrators ---------------------------------------------------------------------------------------

/// Role codes per administrator, in role order.
async fn roles_of<C: ConnectionTrait>(
    db: &C,
    admin_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<String>>> {
    if admin_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = admin_role::Entity::find()
        .select_only()
        .column(admin_role::Column::AdminId)
        .column(role::Column::Code)
        .join(JoinType::InnerJoin, join_role_of_admin_role())
        .filter(admin_role::Column::AdminId.is_in(admin_ids.iter().copied()))
        .order_by_asc(role::Column::Sort)
        .order_by_asc(role::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (admin, code) in rows {
        out.entry(admin).or_default().push(code);
    }
    Ok(out)
}

pub async fn list_admins(
    db: &DatabaseConnection,
    keyword: Option<&str>,
    status: Option<i32>,
    page: &Pagination,
) -> AppResult<(Vec<AdminView>, u64)> {
    let mut query = administrator::Entity::find();
    if let Some(kw) = keyword.map(str::trim).filter(|k| !k.is_empty()) {
        query = query.filter(
            sea_orm::Condition::any()
                .add(administrator::Column::Username.like(like_contains(kw)))
                .add(administrator::Column::RealName.like(like_contains(kw)))
                .add(administrator::Column::Email.like(like_contains(kw)))
                .add(administrator::Column::Phone.like(like_contains(kw))),
        );
    }
    if let Some(status) = status {
        query = query.filter(administrator::Column::Status.eq(status));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(administrator::Column::CreatedAt)
        .order_by_desc(administrator::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    let mut roles = roles_of(db, &rows.iter().map(|a| a.id).collect::<Vec<_>>()).await?;
    Ok((
        rows.iter()
            .map(|a| AdminView::new(a, roles.remove(&a.id).unwrap_or_default()))
            .collect(),
        total,
    ))
}

/// Resolves `role` (a code) and/or `role_ids` to role ids; `None` when neither was sent.
async fn resolve_roles<C: ConnectionTrait>(
    db: &C,
    role: Option<&str>,
    role_ids: Option<&[i64]>,
) -> AppResult<Option<Vec<role::Model>>> {
    let role = role.map(str::trim).filter(|r| !r.is_empty());
    if role.is_none() && role_ids.is_none() {
        return Ok(None);
    }
    let mut out: Vec<role::Model> = Vec::new();
    if let Some(code) = role {
        let r = role::Entity::find()
            .filter(role::Column::Code.eq(code))
            .one(db)
            .await?
            .ok_or_else(|| AppError::bad_request(MSG_ROLE_NOT_FOUND))?;
        out.push(r);
    }
    for id in role_ids.unwrap_or_default() {
        if out.iter().any(|r| r.id == *id) {
            continue;
        }
        let r = role::Entity::find_by_id(*id)
            .one(db)
            .await?
            .ok_or_else(|| AppError::bad_request(MSG_ROLE_NOT_FOUND))?;
        out.push(r);
    }
    Ok(Some(out))
}

pub async fn is_super_admin<C: ConnectionTrait>(db: &C, admin_id: i64) -> AppResult<bool> {
    Ok(role_codes(db, admin_id)
        .await?
        .iter()
        .any(|c| c == SUPER_ADMIN_ROLE))
}

/// Enabled administrators holding the enabled super-admin role, other than `except`.
async fn other_enabled_super_admins<C: ConnectionTrait>(db: &C, except: i64) -> AppResult<u64> {
    Ok(administrator::Entity::find()
        .join(JoinType::InnerJoin, join_admin_roles_of_admin())
        .join(JoinType::InnerJoin, join_role_of_admin_role())
        .filter(role::Column::Code.eq(SUPER_ADMIN_ROLE))
        .filter(role::Column::Status.eq(1))
        .filter(administrator::Column::Status.eq(1))
        .filter(administrator::Column::Id.ne(except))
        .count(db)
        .await?)
}

const MSG_LAST_SUPER_ADMIN: &str = "不能移除或禁用最后一个超级管理员";
const MSG_SUPER_ONLY: &str = "只有超级管理员可以管理超级管理员";

/// Only a super admin may grant the super-admin role or act on a super admin.
async fn ensure_may_touch(
    db: &DatabaseConnection,
    caller: i64,
    target_is_super: bool,
) -> AppResult<()> {
    if target_is_super && !is_super_admin(db, caller).await? {
        return Err(AppError::forbidden(MSG_SUPER_ONLY));
    }
    Ok(())
}

async fn ensure_admin_unique<C: ConnectionTrait>(
    db: &C,
    username: Option<&str>,
    email: Option<&str>,
    except: Option<i64>,
) -> AppResult<()> {
    if let Some(username) = username {
        let mut q =
            administrator::Entity::find().filter(administrator::Column::Username.eq(username));
        if let Some(id) = except {
            q = q.filter(administrator::Column::Id.ne(id));
        }
        if q.one(db).await?.is_some() {
            return Err(AppError::conflict(if except.is_some() {
                "用户名已被其他管理员使用"
            } else {
                "用户名已存在"
            }));
        }
    }
    if let Some(email) = email {
        let mut q = administrator::Entity::find().filter(administrator::Column::Email.eq(email));
        if let Some(id) = except {
            q = q.filter(administrator::Column::Id.ne(id));
        }
        if q.one(db).await?.is_some() {
            return Err(AppError::conflict("邮箱已存在"));
        }
    }
    Ok(())
}

fn admin_unique_error(e: sea_orm::DbErr) -> AppError {
    unique_or_internal(e, "用户名或邮箱已存在")
}

async fn link_roles<C: ConnectionTrait>(
    db: &C,
    admin_id: i64,
    roles: &[role::Model],
) -> AppResult<()> {
    admin_role::Entity::delete_many()
        .filter(admin_role::Column::AdminId.eq(admin_id))
        .exec(db)
        .await?;
    if !roles.is_empty() {
        admin_role::Entity::insert_many(roles.iter().map(|r| admin_role::ActiveModel {
            admin_id: Set(admin_id),
            role_id: Set(r.id),
            ..Default::default()
        }))
        .exec(db)
        .await?;
    }
    Ok(())
}

pub struct NewAdmin {
    pub username: String,
    pub password_hash: String,
    pub real_name: String,
    pub email: Option<String>,
    pub phone: String,
    pub avatar: String,
    pub role: Option<String>,
    pub role_ids: Option<Vec<i64>>,
    pub status: i32,
}

/// Creates an administrator with their roles (the `admin` role when none is named).
pub async fn create_admin(state: &AppState, caller: i64, new: NewAdmin) -> AppResult<AdminView> {
    let db = &state.db;
    ensure_admin_unique(db, Some(&new.username), new.email.as_deref(), None).await?;
    let roles = match resolve_roles(db, new.role.as_deref(), new.role_ids.as_deref()).await? {
        Some(r) => r,
        None => resolve_roles(db, Some(ADMIN_ROLE), None)
            .await?
            .unwrap_or_default(),
    };
    ensure_may_touch(db, caller, roles.iter().any(|r| r.code == SUPER_ADMIN_ROLE)).await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let admin = administrator::ActiveModel {
        username: Set(new.username),
        password: Set(new.password_hash),
        real_name: Set(new.real_name),
        email: Set(new.email),
        phone: Set(new.phone),
        avatar: Set(new.avatar),
        status: Set(new.status),
        last_login: Set(None),
        tokens_valid_after: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(admin_unique_error)?;
    link_roles(&txn, admin.id, &roles).await?;
    record_rbac_change(&txn).await?;
    txn.commit().await?;
    rbac_committed(state).await;
    admin_view(db, &admin).await
}

pub struct AdminChange {
    pub username: Option<String>,
    pub real_name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<String>,
    pub avatar: Option<String>,
    pub role: Option<String>,
    pub role_ids: Option<Vec<i64>>,
    pub status: Option<i32>,
}

pub async fn update_admin(
    state: &AppState,
    caller: i64,
    id: i64,
    change: AdminChange,
) -> AppResult<AdminView> {
    let db = &state.db;
    if caller == id {
        return Err(AppError::bad_request("不能修改自己的信息"));
    }
    let current = get_admin(db, id).await?;
    let was_super = is_super_admin(db, id).await?;
    let roles = resolve_roles(db, change.role.as_deref(), change.role_ids.as_deref()).await?;
    let becomes_super = roles
        .as_ref()
        .map(|r| r.iter().any(|r| r.code == SUPER_ADMIN_ROLE))
        .unwrap_or(was_super);
    ensure_may_touch(db, caller, was_super || becomes_super).await?;
    let disabling = change.status == Some(0) && current.status == 1;
    if was_super
        && current.status == 1
        && (!becomes_super || disabling)
        && other_enabled_super_admins(db, id).await? == 0
    {
        return Err(AppError::bad_request(MSG_LAST_SUPER_ADMIN));
    }
    ensure_admin_unique(
        db,
        change.username.as_deref(),
        change.email.as_ref().and_then(|e| e.as_deref()),
        Some(id),
    )
    .await?;
    let txn = db.begin().await?;
    let mut active: administrator::ActiveModel = current.into();
    if let Some(v) = change.username {
        active.username = Set(v);
    }
    if let Some(v) = change.real_name {
        active.real_name = Set(v);
    }
    if let Some(v) = change.email {
        active.email = Set(v);
    }
    if let Some(v) = change.phone {
        active.phone = Set(v);
    }
    if let Some(v) = change.avatar {
        active.avatar = Set(v);
    }
    if let Some(v) = change.status {
        active.status = Set(v);
    }
    active.updated_at = Set(Utc::now());
    let admin = active.update(&txn).await.map_err(admin_unique_error)?;
    if let Some(roles) = &roles {
        link_roles(&txn, id, roles).await?;
        record_rbac_change(&txn).await?;
    }
    if disabling {
        EventBus::record(&txn, &DomainEvent::account_disabled(Realm::Admin, id)).await?;
    }
    txn.commit().await?;
    rbac_committed(state).await;
    admin_view(db, &admin).await
}

pub async fn set_admin_status(
    state: &AppState,
    caller: i64,
    id: i64,
    status: i32,
) -> AppResult<()> {
    let db = &state.db;
    if caller == id {
        return Err(AppError::bad_request("不能禁用自己"));
    }
    let current = get_admin(db, id).await?;
    let is_super = is_super_admin(db, id).await?;
    ensure_may_touch(db, caller, is_super).await?;
    if status == 0
        && is_super
        && current.status == 1
        && other_enabled_super_admins(db, id).await? == 0
    {
        return Err(AppError::bad_request(MSG_LAST_SUPER_ADMIN));
    }
    let txn = db.begin().await?;
    administrator::Entity::update_many()
        .col_expr(administrator::Column::Status, Expr::value(status))
        .col_expr(administrator::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(administrator::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    if status == 0 && current.status == 1 {
        EventBus::record(&txn, &DomainEvent::account_disabled(Realm::Admin, id)).await?;
    }
    txn.commit().await?;
    state.bus.notify();
    Ok(())
}

pub async fn delete_admin(state: &AppState, caller: i64, id: i64) -> AppResult<()> {
    let db = &state.db;
    if caller == id {
        return Err(AppError::bad_request("不能删除自己"));
    }
    let current = get_admin(db, id).await?;
    let is_super = is_super_admin(db, id).await?;
    ensure_may_touch(db, caller, is_super).await?;
    if is_super && current.status == 1 && other_enabled_super_admins(db, id).await? == 0 {
        return Err(AppError::bad_request(MSG_LAST_SUPER_ADMIN));
    }
    let txn = db.begin().await?;
    admin_role::Entity::delete_many()
        .filter(admin_role::Column::AdminId.eq(id))
        .exec(&txn)
        .await?;
    administrator::Entity::delete_by_id(id).exec(&txn).await?;
    record_rbac_change(&txn).await?;
    EventBus::record(&txn, &DomainEvent::account_disabled(Realm::Admin, id)).await?;
    txn.commit().await?;
    rbac_committed(state).await;
    Ok(())
}

/// Another administrator's password reset by the console; their tokens stop working.
pub async fn reset_admin_password(
    state: &AppState,
    caller: i64,
    id: i64,
    password: &str,
) -> AppResult<()> {
    let db = &state.db;
    get_admin(db, id).await?;
    ensure_may_touch(db, caller, is_super_admin(db, id).await?).await?;
    let hash = state.passwords.hash(password).await?;
    set_admin_password(db, &state.bus, id, hash).await
}

/// Whether any row shows `url` as its avatar (an upload may only be deleted when nothing shows it).
pub async fn shows_avatar<C: ConnectionTrait>(db: &C, url: &str) -> AppResult<bool> {
    Ok(administrator::Entity::find()
        .filter(administrator::Column::Avatar.eq(url))
        .one(db)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_must_exist_and_must_not_be_the_node_or_below_it() {
        // 1 → 2 → 3 (3's parent is 2, 2's parent is 1, 1 is a root)
        let parents: HashMap<i64, i64> = [(1, 0), (2, 1), (3, 2)].into_iter().collect();
        assert!(check_tree_parent(&parents, Some(3), 1, "菜单").is_ok());
        assert!(check_tree_parent(&parents, None, 3, "菜单").is_ok());
        assert!(check_tree_parent(&parents, Some(2), 2, "菜单").is_err());
        assert!(
            check_tree_parent(&parents, Some(1), 3, "菜单").is_err(),
            "a descendant"
        );
        assert!(
            check_tree_parent(&parents, Some(1), 9, "菜单").is_err(),
            "missing"
        );
    }

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
