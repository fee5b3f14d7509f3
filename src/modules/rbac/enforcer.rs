//! The casbin enforcer that decides admin requests, fed by an adapter that DERIVES its policies from the RBAC
//! tables (`roles`, `permissions`, `role_permissions`, `admin_roles`): the tables stay the one source of truth.
//!
//! Subjects are `admin:<id>` and `role:<code>`; objects are permission codes. The `super_admin` role holds
//! the wildcard `*`. Only enabled roles and enabled permissions produce policies. The enforcer is loaded
//! lazily and dropped on [`DomainEvent::RbacChanged`] (every instance), so a change applies without restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use casbin::{Adapter, CoreApi, DefaultModel, Enforcer, Filter, Model};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use tokio::sync::RwLock;

use super::entity::{admin_role, permission, role, role_permission};
use super::service::SUPER_ADMIN_ROLE;
use crate::bus::{DomainEvent, Scope, Subscriber};
use crate::error::{AppError, AppResult};

const MODEL: &str = r#"
[request_definition]
r = sub, obj

[policy_definition]
p = sub, obj

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && (p.obj == "*" || r.obj == p.obj)
"#;

/// The wildcard object the super-admin role is granted.
pub const ANY_PERMISSION: &str = "*";

pub fn admin_subject(admin_id: i64) -> String {
    format!("admin:{admin_id}")
}

pub fn role_subject(code: &str) -> String {
    format!("role:{code}")
}

/// Reads policies from the RBAC tables; writes through casbin's API go to the same tables.
pub struct RbacAdapter {
    db: DatabaseConnection,
}

impl RbacAdapter {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// `(p rules, g rules)` as the tables grant them now.
    pub async fn derive(&self) -> Result<(Vec<Vec<String>>, Vec<Vec<String>>), sea_orm::DbErr> {
        let roles: HashMap<i64, String> = role::Entity::find()
            .filter(role::Column::Status.eq(1))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r.code))
            .collect();
        let permissions: HashMap<i64, String> = permission::Entity::find()
            .filter(permission::Column::Status.eq(1))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|p| (p.id, p.code))
            .collect();
        let mut p_rules = Vec::new();
        for code in roles.values() {
            if code == SUPER_ADMIN_ROLE {
                p_rules.push(vec![role_subject(code), ANY_PERMISSION.to_owned()]);
            }
        }
        for link in role_permission::Entity::find().all(&self.db).await? {
            if let (Some(r), Some(p)) = (
                roles.get(&link.role_id),
                permissions.get(&link.permission_id),
            ) {
                p_rules.push(vec![role_subject(r), p.clone()]);
            }
        }
        let mut g_rules = Vec::new();
        for link in admin_role::Entity::find().all(&self.db).await? {
            if let Some(r) = roles.get(&link.role_id) {
                g_rules.push(vec![admin_subject(link.admin_id), role_subject(r)]);
            }
        }
        Ok((p_rules, g_rules))
    }

    async fn role_id(&self, subject: &str) -> Result<Option<i64>, sea_orm::DbErr> {
        let Some(code) = subject.strip_prefix("role:") else {
            return Ok(None);
        };
        Ok(role::Entity::find()
            .filter(role::Column::Code.eq(code))
            .one(&self.db)
            .await?
            .map(|r| r.id))
    }

    async fn permission_id(&self, code: &str) -> Result<Option<i64>, sea_orm::DbErr> {
        Ok(permission::Entity::find()
            .filter(permission::Column::Code.eq(code))
            .one(&self.db)
            .await?
            .map(|p| p.id))
    }

    /// Inserts the link a rule stands for; `false` when it already exists or names nothing.
    async fn add_rule(&self, ptype: &str, rule: &[String]) -> Result<bool, sea_orm::DbErr> {
        let [sub, obj] = rule else { return Ok(false) };
        match ptype {
            "p" => {
                let (Some(role_id), Some(permission_id)) =
                    (self.role_id(sub).await?, self.permission_id(obj).await?)
                else {
                    return Ok(false);
                };
                let exists = role_permission::Entity::find()
                    .filter(role_permission::Column::RoleId.eq(role_id))
                    .filter(role_permission::Column::PermissionId.eq(permission_id))
                    .one(&self.db)
                    .await?
                    .is_some();
                if exists {
                    return Ok(false);
                }
                role_permission::ActiveModel {
                    role_id: Set(role_id),
                    permission_id: Set(permission_id),
                    ..Default::default()
                }
                .insert(&self.db)
                .await?;
                Ok(true)
            }
            "g" => {
                let Some(admin_id) = sub
                    .strip_prefix("admin:")
                    .and_then(|s| s.parse::<i64>().ok())
                else {
                    return Ok(false);
                };
                let Some(role_id) = self.role_id(obj).await? else {
                    return Ok(false);
                };
                let exists = admin_role::Entity::find()
                    .filter(admin_role::Column::AdminId.eq(admin_id))
                    .filter(admin_role::Column::RoleId.eq(role_id))
                    .one(&self.db)
                    .await?
                    .is_some();
                if exists {
                    return Ok(false);
                }
                admin_role::ActiveModel {
                    admin_id: Set(admin_id),
                    role_id: Set(role_id),
                    ..Default::default()
                }
                .insert(&self.db)
                .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove_rule(&self, ptype: &str, rule: &[String]) -> Result<bool, sea_orm::DbErr> {
        let [sub, obj] = rule else { return Ok(false) };
        let Some(role_id) = (match ptype {
            "p" => self.role_id(sub).await?,
            "g" => self.role_id(obj).await?,
            _ => None,
        }) else {
            return Ok(false);
        };
        let affected = match ptype {
            "p" => {
                let Some(permission_id) = self.permission_id(obj).await? else {
                    return Ok(false);
                };
                role_permission::Entity::delete_many()
                    .filter(role_permission::Column::RoleId.eq(role_id))
                    .filter(role_permission::Column::PermissionId.eq(permission_id))
                    .exec(&self.db)
                    .await?
                    .rows_affected
            }
            _ => {
                let Some(admin_id) = sub
                    .strip_prefix("admin:")
                    .and_then(|s| s.parse::<i64>().ok())
                else {
                    return Ok(false);
                };
                admin_role::Entity::delete_many()
                    .filter(admin_role::Column::AdminId.eq(admin_id))
                    .filter(admin_role::Column::RoleId.eq(role_id))
                    .exec(&self.db)
                    .await?
                    .rows_affected
            }
        };
        Ok(affected > 0)
    }
}

fn adapter_error(e: sea_orm::DbErr) -> casbin::Error {
    casbin::Error::AdapterError(casbin::error::AdapterError(Box::new(e)))
}

#[async_trait]
impl Adapter for RbacAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let (p_rules, g_rules) = self.derive().await.map_err(adapter_error)?;
        for rule in p_rules {
            m.add_policy("p", "p", rule);
        }
        for rule in g_rules {
            m.add_policy("g", "g", rule);
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        _f: Filter<'a>,
    ) -> casbin::Result<()> {
        self.load_policy(m).await
    }

    /// The tables are the truth; casbin's memory is never written back wholesale.
    async fn save_policy(&mut self, _m: &mut dyn Model) -> casbin::Result<()> {
        Ok(())
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        Ok(())
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        self.add_rule(ptype, &rule).await.map_err(adapter_error)
    }

    async fn add_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let mut any = false;
        for rule in rules {
            any |= self.add_rule(ptype, &rule).await.map_err(adapter_error)?;
        }
        Ok(any)
    }

    async fn remove_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        self.remove_rule(ptype, &rule).await.map_err(adapter_error)
    }

    async fn remove_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let mut any = false;
        for rule in rules {
            any |= self
                .remove_rule(ptype, &rule)
                .await
                .map_err(adapter_error)?;
        }
        Ok(any)
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _field_index: usize,
        _field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        Ok(false)
    }
}

/// The process's enforcer: built on first use, dropped when the RBAC tables change.
pub struct RbacEnforcer {
    db: DatabaseConnection,
    current: RwLock<Option<Arc<Enforcer>>>,
    generation: AtomicU64,
}

impl RbacEnforcer {
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self {
            db,
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
        })
    }

    /// Forgets the loaded policies; the next check reloads them from the tables.
    pub async fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.current.write().await = None;
    }

    async fn enforcer(&self) -> AppResult<Arc<Enforcer>> {
        if let Some(e) = self.current.read().await.as_ref() {
            return Ok(e.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let model = DefaultModel::from_str(MODEL)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("casbin model: {e}")))?;
        let enforcer = Enforcer::new(model, RbacAdapter::new(self.db.clone()))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("casbin load: {e}")))?;
        let enforcer = Arc::new(enforcer);
        // A change that landed while loading makes this copy stale: use it once, don't keep it.
        if self.generation.load(Ordering::SeqCst) == generation {
            *self.current.write().await = Some(enforcer.clone());
        }
        Ok(enforcer)
    }

    /// Whether administrator `admin_id` holds permission `code` through an enabled role.
    pub async fn allows(&self, admin_id: i64, code: &str) -> AppResult<bool> {
        let enforcer = self.enforcer().await?;
        enforcer
            .enforce((admin_subject(admin_id), code.to_owned()))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("casbin enforce: {e}")))
    }
}

/// Drops every instance's loaded policies when roles, permissions or assignments change.
pub struct RbacReloader(pub Arc<RbacEnforcer>);

#[async_trait]
impl Subscriber for RbacReloader {
    fn name(&self) -> &'static str {
        "rbac_reloader"
    }
    fn scope(&self) -> Scope {
        Scope::EveryInstance
    }
    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        if matches!(event, DomainEvent::RbacChanged) {
            self.0.invalidate().await;
        }
        Ok(())
    }
}
