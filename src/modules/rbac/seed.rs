//! Start-up seed of the RBAC tables: the permission tree with its intended parents (the original's were off
//! by one or two), the super-admin and admin roles, the console menus, and the first administrator.
//! Every step is idempotent: rows are matched by code or name, so upgrades add what is missing.

use std::collections::HashMap;

use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Set,
};
use secrecy::ExposeSecret;

use super::entity::{admin_role, administrator, menu, permission, role, role_permission};
use super::service::{ADMIN_ROLE, SUPER_ADMIN_ROLE};
use crate::config::Settings;
use crate::modules::auth::PasswordHasher;

/// `(code, name, type, path, icon, parent code, sort)`.
type PermissionSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i32,
);

pub const PERMISSIONS: &[PermissionSeed] = &[
    (
        "dashboard",
        "数据看板",
        "menu",
        "/dashboard",
        "DataAnalysis",
        "",
        0,
    ),
    (
        "dashboard:view",
        "查看看板",
        "button",
        "",
        "",
        "dashboard",
        1,
    ),
    ("system", "系统管理", "menu", "/system", "Setting", "", 1),
    (
        "system:user",
        "用户管理",
        "menu",
        "/user",
        "User",
        "system",
        1,
    ),
    (
        "system:user:list",
        "查看用户",
        "button",
        "",
        "",
        "system:user",
        1,
    ),
    (
        "system:user:create",
        "创建用户",
        "button",
        "",
        "",
        "system:user",
        2,
    ),
    (
        "system:user:edit",
        "编辑用户",
        "button",
        "",
        "",
        "system:user",
        3,
    ),
    (
        "system:user:delete",
        "删除用户",
        "button",
        "",
        "",
        "system:user",
        4,
    ),
    (
        "system:user:reset",
        "重置密码",
        "button",
        "",
        "",
        "system:user",
        5,
    ),
    (
        "system:role",
        "角色管理",
        "menu",
        "/roles",
        "Avatar",
        "system",
        2,
    ),
    (
        "system:role:list",
        "查看角色",
        "button",
        "",
        "",
        "system:role",
        1,
    ),
    (
        "system:role:create",
        "创建角色",
        "button",
        "",
        "",
        "system:role",
        2,
    ),
    (
        "system:role:edit",
        "编辑角色",
        "button",
        "",
        "",
        "system:role",
        3,
    ),
    (
        "system:role:delete",
        "删除角色",
        "button",
        "",
        "",
        "system:role",
        4,
    ),
    (
        "system:permission",
        "权限管理",
        "menu",
        "/permissions",
        "Key",
        "system",
        3,
    ),
    (
        "system:permission:list",
        "查看权限",
        "button",
        "",
        "",
        "system:permission",
        1,
    ),
    (
        "system:permission:create",
        "创建权限",
        "button",
        "",
        "",
        "system:permission",
        2,
    ),
    (
        "system:permission:edit",
        "编辑权限",
        "button",
        "",
        "",
        "system:permission",
        3,
    ),
    (
        "system:permission:delete",
        "删除权限",
        "button",
        "",
        "",
        "system:permission",
        4,
    ),
    (
        "system:menu",
        "菜单管理",
        "menu",
        "/menus",
        "Menu",
        "system",
        4,
    ),
    (
        "system:menu:list",
        "查看菜单",
        "button",
        "",
        "",
        "system:menu",
        1,
    ),
    (
        "system:menu:create",
        "创建菜单",
        "button",
        "",
        "",
        "system:menu",
        2,
    ),
    (
        "system:menu:edit",
        "编辑菜单",
        "button",
        "",
        "",
        "system:menu",
        3,
    ),
    (
        "system:menu:delete",
        "删除菜单",
        "button",
        "",
        "",
        "system:menu",
        4,
    ),
    (
        "system:online",
        "在线用户",
        "menu",
        "/online",
        "User",
        "system",
        5,
    ),
    (
        "system:online:list",
        "查看在线用户",
        "button",
        "",
        "",
        "system:online",
        1,
    ),
    (
        "system:online:manage",
        "管理在线用户",
        "button",
        "",
        "",
        "system:online",
        2,
    ),
    (
        "system:admin",
        "管理员管理",
        "menu",
        "/admin",
        "UserFilled",
        "system",
        6,
    ),
    (
        "system:admin:list",
        "查看管理员",
        "button",
        "",
        "",
        "system:admin",
        1,
    ),
    (
        "system:admin:create",
        "创建管理员",
        "button",
        "",
        "",
        "system:admin",
        2,
    ),
    (
        "system:admin:edit",
        "编辑管理员",
        "button",
        "",
        "",
        "system:admin",
        3,
    ),
    (
        "system:admin:delete",
        "删除管理员",
        "button",
        "",
        "",
        "system:admin",
        4,
    ),
    (
        "system:admin:reset",
        "重置管理员密码",
        "button",
        "",
        "",
        "system:admin",
        5,
    ),
    (
        "system:counselor",
        "咨询师管理",
        "menu",
        "/counselor",
        "UserFilled",
        "system",
        7,
    ),
    (
        "system:counselor:list",
        "查看咨询师",
        "button",
        "",
        "",
        "system:counselor",
        1,
    ),
    (
        "system:counselor:create",
        "创建咨询师",
        "button",
        "",
        "",
        "system:counselor",
        2,
    ),
    (
        "system:counselor:edit",
        "编辑咨询师",
        "button",
        "",
        "",
        "system:counselor",
        3,
    ),
    (
        "system:counselor:delete",
        "删除咨询师",
        "button",
        "",
        "",
        "system:counselor",
        4,
    ),
    (
        "system:config",
        "系统配置",
        "menu",
        "/config",
        "Tools",
        "system",
        8,
    ),
    (
        "system:config:list",
        "查看配置",
        "button",
        "",
        "",
        "system:config",
        1,
    ),
    (
        "system:config:edit",
        "编辑配置",
        "button",
        "",
        "",
        "system:config",
        2,
    ),
    (
        "system:log",
        "操作日志",
        "menu",
        "/logs",
        "Document",
        "system",
        9,
    ),
    (
        "system:log:list",
        "查看日志",
        "button",
        "",
        "",
        "system:log",
        1,
    ),
    ("system:upload", "上传文件", "button", "", "", "system", 20),
    (
        "system:privacy:view",
        "查看数据保留",
        "button",
        "",
        "",
        "system",
        21,
    ),
    (
        "system:privacy:purge",
        "执行数据清理",
        "button",
        "",
        "",
        "system",
        22,
    ),
    (
        "business",
        "业务管理",
        "menu",
        "/business",
        "Document",
        "",
        2,
    ),
    (
        "business:order",
        "订单管理",
        "menu",
        "/order",
        "Document",
        "business",
        1,
    ),
    (
        "business:order:list",
        "查看订单",
        "button",
        "",
        "",
        "business:order",
        1,
    ),
    (
        "business:order:edit",
        "编辑订单",
        "button",
        "",
        "",
        "business:order",
        2,
    ),
    (
        "business:order:statistics",
        "订单统计",
        "button",
        "",
        "",
        "business:order",
        3,
    ),
    (
        "business:chat",
        "聊天记录",
        "menu",
        "/chat",
        "ChatDotRound",
        "business",
        2,
    ),
    (
        "business:chat:list",
        "查看聊天",
        "button",
        "",
        "",
        "business:chat",
        1,
    ),
    (
        "business:chat:manage",
        "管理聊天",
        "button",
        "",
        "",
        "business:chat",
        2,
    ),
    (
        "business:application",
        "入驻申请",
        "menu",
        "/application",
        "UserFilled",
        "business",
        3,
    ),
    (
        "business:application:list",
        "查看申请",
        "button",
        "",
        "",
        "business:application",
        1,
    ),
    (
        "business:application:review",
        "审核申请",
        "button",
        "",
        "",
        "business:application",
        2,
    ),
    ("finance", "财务管理", "menu", "/finance", "Wallet", "", 3),
    (
        "finance:withdraw",
        "提现审核",
        "menu",
        "/withdraw",
        "Wallet",
        "finance",
        1,
    ),
    (
        "finance:withdraw:list",
        "查看提现",
        "button",
        "",
        "",
        "finance:withdraw",
        1,
    ),
    (
        "finance:withdraw:approve",
        "审核提现",
        "button",
        "",
        "",
        "finance:withdraw",
        2,
    ),
    (
        "finance:withdraw:transfer",
        "确认打款",
        "button",
        "",
        "",
        "finance:withdraw",
        3,
    ),
    (
        "finance:statistics",
        "财务统计",
        "menu",
        "/statistics",
        "DataLine",
        "finance",
        2,
    ),
    (
        "finance:statistics:view",
        "查看统计",
        "button",
        "",
        "",
        "finance:statistics",
        1,
    ),
    (
        "finance:account",
        "咨询师账户",
        "menu",
        "/finance/accounts",
        "Wallet",
        "finance",
        3,
    ),
    (
        "finance:account:list",
        "查看账户",
        "button",
        "",
        "",
        "finance:account",
        1,
    ),
    (
        "finance:report",
        "财务报表",
        "menu",
        "/reports",
        "TrendCharts",
        "finance",
        4,
    ),
    (
        "finance:report:view",
        "查看报表",
        "button",
        "",
        "",
        "finance:report",
        1,
    ),
    ("lowcode", "低代码平台", "menu", "/lowcode", "Grid", "", 4),
    (
        "lowcode:form",
        "表单设计",
        "menu",
        "/lowcode/forms",
        "Edit",
        "lowcode",
        1,
    ),
    (
        "lowcode:form:design",
        "设计表单",
        "button",
        "",
        "",
        "lowcode:form",
        1,
    ),
    (
        "lowcode:page",
        "页面设计",
        "menu",
        "/lowcode/pages",
        "Grid",
        "lowcode",
        2,
    ),
    (
        "lowcode:page:design",
        "设计页面",
        "button",
        "",
        "",
        "lowcode:page",
        1,
    ),
    (
        "lowcode:data",
        "数据管理",
        "menu",
        "/lowcode/data",
        "Database",
        "lowcode",
        3,
    ),
    (
        "lowcode:data:manage",
        "管理数据",
        "button",
        "",
        "",
        "lowcode:data",
        1,
    ),
];

/// What the plain `admin` role may do when first created: the original's read-mostly operator set.
const ADMIN_ROLE_PERMISSIONS: &[&str] = &[
    "dashboard:view",
    "system:user:list",
    "system:counselor:list",
    "system:counselor:edit",
    "business:order:list",
    "business:order:edit",
    "business:chat:list",
    "finance:withdraw:list",
    "finance:statistics:view",
    "system:upload",
];

/// `(name, type, path, component, icon, parent name, sort)`, parents as intended.
const MENUS: &[(&str, i32, &str, &str, &str, &str, i32)] = &[
    ("系统管理", 1, "/system", "", "Setting", "", 1),
    (
        "用户管理",
        2,
        "/user",
        "/views/system/user/index",
        "User",
        "系统管理",
        1,
    ),
    (
        "咨询师管理",
        2,
        "/counselor",
        "/views/system/counselor/index",
        "UserFilled",
        "系统管理",
        2,
    ),
    (
        "角色管理",
        2,
        "/roles",
        "/views/system/roles/index",
        "Avatar",
        "系统管理",
        3,
    ),
    (
        "权限管理",
        2,
        "/permissions",
        "/views/system/permissions/index",
        "Key",
        "系统管理",
        4,
    ),
    (
        "菜单管理",
        2,
        "/menus",
        "/views/system/menus/index",
        "Menu",
        "系统管理",
        5,
    ),
    (
        "在线用户",
        2,
        "/online",
        "/views/system/online/index",
        "User",
        "系统管理",
        6,
    ),
    ("业务管理", 1, "/business", "", "Document", "", 2),
    (
        "订单管理",
        2,
        "/order",
        "/views/business/order/index",
        "Document",
        "业务管理",
        1,
    ),
    (
        "聊天记录",
        2,
        "/chat",
        "/views/business/chat/index",
        "ChatDotRound",
        "业务管理",
        2,
    ),
    ("财务管理", 1, "/finance", "", "Wallet", "", 3),
    (
        "提现审核",
        2,
        "/withdraw",
        "/views/finance/withdraw/index",
        "Wallet",
        "财务管理",
        1,
    ),
    (
        "财务统计",
        2,
        "/statistics",
        "/views/finance/statistics/index",
        "DataLine",
        "财务管理",
        2,
    ),
    ("低代码平台", 1, "/lowcode", "", "Grid", "", 4),
    (
        "表单设计",
        2,
        "/lowcode/forms",
        "/views/lowcode/forms/index",
        "Edit",
        "低代码平台",
        1,
    ),
    (
        "页面设计",
        2,
        "/lowcode/pages",
        "/views/lowcode/pages/index",
        "Grid",
        "低代码平台",
        2,
    ),
    (
        "数据管理",
        2,
        "/lowcode/data",
        "/views/lowcode/data/index",
        "Database",
        "低代码平台",
        3,
    ),
];

pub async fn seed(
    db: &DatabaseConnection,
    settings: &Settings,
    hasher: &PasswordHasher,
) -> anyhow::Result<()> {
    let permission_ids = seed_permissions(db).await?;
    let super_admin = ensure_role(
        db,
        SUPER_ADMIN_ROLE,
        "超级管理员",
        "拥有所有权限的超级管理员",
        1,
    )
    .await?;
    // The super admin holds every permission, including codes added by an upgrade.
    grant(db, super_admin.0, permission_ids.values().copied()).await?;
    let (admin_role_id, created) =
        ensure_role(db, ADMIN_ROLE, "管理员", "日常运营管理员", 2).await?;
    if created {
        let ids = ADMIN_ROLE_PERMISSIONS
            .iter()
            .filter_map(|code| permission_ids.get(*code).copied());
        grant(db, admin_role_id, ids).await?;
    }
    seed_menus(db).await?;
    ensure_first_admin(db, settings, hasher, super_admin.0).await?;
    Ok(())
}

async fn seed_permissions(db: &DatabaseConnection) -> anyhow::Result<HashMap<String, i64>> {
    let mut ids: HashMap<String, i64> = permission::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.code, p.id))
        .collect();
    let now = Utc::now();
    for (code, name, kind, path, icon, parent, sort) in PERMISSIONS {
        if ids.contains_key(*code) {
            continue;
        }
        let parent_id = if parent.is_empty() {
            0
        } else {
            ids.get(*parent).copied().unwrap_or(0)
        };
        let row = permission::ActiveModel {
            parent_id: Set(parent_id),
            name: Set((*name).to_owned()),
            code: Set((*code).to_owned()),
            kind: Set((*kind).to_owned()),
            path: Set((*path).to_owned()),
            icon: Set((*icon).to_owned()),
            component: Set(String::new()),
            sort: Set(*sort),
            status: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        ids.insert(row.code, row.id);
    }
    Ok(ids)
}

/// Returns the role id and whether it was created now.
async fn ensure_role(
    db: &DatabaseConnection,
    code: &str,
    name: &str,
    description: &str,
    sort: i32,
) -> anyhow::Result<(i64, bool)> {
    if let Some(existing) = role::Entity::find()
        .filter(role::Column::Code.eq(code))
        .one(db)
        .await?
    {
        return Ok((existing.id, false));
    }
    let now = Utc::now();
    let created = role::ActiveModel {
        name: Set(name.to_owned()),
        code: Set(code.to_owned()),
        description: Set(description.to_owned()),
        sort: Set(sort),
        status: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((created.id, true))
}

async fn grant(
    db: &DatabaseConnection,
    role_id: i64,
    permission_ids: impl Iterator<Item = i64>,
) -> anyhow::Result<()> {
    let existing: std::collections::HashSet<i64> = role_permission::Entity::find()
        .filter(role_permission::Column::RoleId.eq(role_id))
        .all(db)
        .await?
        .into_iter()
        .map(|rp| rp.permission_id)
        .collect();
    let missing: Vec<role_permission::ActiveModel> = permission_ids
        .filter(|id| !existing.contains(id))
        .map(|permission_id| role_permission::ActiveModel {
            role_id: Set(role_id),
            permission_id: Set(permission_id),
            ..Default::default()
        })
        .collect();
    if !missing.is_empty() {
        role_permission::Entity::insert_many(missing)
            .exec(db)
            .await?;
    }
    Ok(())
}

async fn seed_menus(db: &DatabaseConnection) -> anyhow::Result<()> {
    if menu::Entity::find().count(db).await? > 0 {
        return Ok(());
    }
    let now = Utc::now();
    let mut ids: HashMap<&str, i64> = HashMap::new();
    for (name, kind, path, component, icon, parent, sort) in MENUS {
        let row = menu::ActiveModel {
            parent_id: Set(ids.get(parent).copied()),
            name: Set((*name).to_owned()),
            kind: Set(*kind),
            path: Set((*path).to_owned()),
            component: Set((*component).to_owned()),
            permission: Set(String::new()),
            icon: Set((*icon).to_owned()),
            sort: Set(*sort),
            status: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        ids.insert(name, row.id);
    }
    Ok(())
}

pub const FIRST_ADMIN: &str = "admin";

async fn ensure_first_admin(
    db: &DatabaseConnection,
    settings: &Settings,
    hasher: &PasswordHasher,
    super_admin_role: i64,
) -> anyhow::Result<()> {
    let exists = administrator::Entity::find()
        .filter(administrator::Column::Username.eq(FIRST_ADMIN))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let configured = settings.admin.password.expose_secret().to_owned();
    let generated = configured.is_empty();
    let password = if generated {
        random_password()
    } else {
        anyhow::ensure!(
            configured.chars().count() >= 8,
            "MYCHAT_ADMIN_PASSWORD must be at least 8 characters"
        );
        configured
    };
    let now = Utc::now();
    let admin = administrator::ActiveModel {
        username: Set(FIRST_ADMIN.to_owned()),
        password: Set(hasher.hash(&password).await?),
        real_name: Set("超级管理员".to_owned()),
        email: Set(None),
        phone: Set(String::new()),
        avatar: Set(String::new()),
        status: Set(1),
        last_login: Set(None),
        tokens_valid_after: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    admin_role::ActiveModel {
        admin_id: Set(admin.id),
        role_id: Set(super_admin_role),
        ..Default::default()
    }
    .insert(db)
    .await?;
    if generated {
        tracing::warn!(
            username = FIRST_ADMIN,
            "created the first administrator with a generated password (shown once below; set MYCHAT_ADMIN_PASSWORD to choose it)"
        );
        eprintln!(
            "\n==================== MYCHAT FIRST ADMIN ====================\n  username: {FIRST_ADMIN}\n  password: {password}\n  This password is shown once and stored only as a hash.\n  Change it after logging in, or reset it with:\n    mychat admin reset-password {FIRST_ADMIN}\n============================================================\n"
        );
    } else {
        tracing::info!(
            username = FIRST_ADMIN,
            "created the first administrator with MYCHAT_ADMIN_PASSWORD"
        );
    }
    Ok(())
}

/// 20 alphanumeric characters from the OS RNG.
pub fn random_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parent_is_declared_before_its_children() {
        let mut seen = std::collections::HashSet::new();
        for (code, _, _, _, _, parent, _) in PERMISSIONS {
            assert!(
                parent.is_empty() || seen.contains(parent),
                "{code} names parent {parent} before it exists"
            );
            assert!(seen.insert(*code), "{code} is listed twice");
        }
        for code in [
            "lowcode:form:design",
            "lowcode:page:design",
            "lowcode:data:manage",
            "system:log:list",
        ] {
            assert!(
                seen.contains(code),
                "client guard code {code} must be seeded"
            );
        }
        for code in ADMIN_ROLE_PERMISSIONS {
            assert!(seen.contains(code));
        }
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = random_password();
        assert_eq!(a.len(), 20);
        assert_ne!(a, random_password());
    }
}
