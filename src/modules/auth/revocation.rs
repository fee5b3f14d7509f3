//! Durable token revocation. Every revocation is written to `revoked_tokens` and to the fast list (Redis,
//! or memory without it). A check asks the fast list, and the table when the list cannot answer (Redis
//! down, or restarted empty and not yet rebuilt). [`rebuild`] loads the table into the list: at start and
//! after every Redis reconnection.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::revoked_token;
use crate::infra::TokenRevocation;

pub struct DurableRevocation {
    db: DatabaseConnection,
    fast: Arc<dyn TokenRevocation>,
}

impl DurableRevocation {
    pub fn new(db: DatabaseConnection, fast: Arc<dyn TokenRevocation>) -> Arc<Self> {
        Arc::new(Self { db, fast })
    }
}

#[async_trait]
impl TokenRevocation for DurableRevocation {
    async fn revoke(&self, jti: &str, ttl: Duration) -> anyhow::Result<()> {
        let expires_at = Utc::now() + chrono::Duration::from_std(ttl)?;
        revoked_token::Entity::insert(revoked_token::ActiveModel {
            jti: Set(jti.to_owned()),
            expires_at: Set(expires_at),
        })
        .on_conflict_do_nothing_on([revoked_token::Column::Jti])
        .exec(&self.db)
        .await?;
        // The table is the record; the fast list catches up at the next rebuild if this fails.
        if let Err(e) = self.fast.revoke(jti, ttl).await {
            tracing::debug!(error.cause_chain = ?e, "fast revocation list unavailable; the database has it");
        }
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> anyhow::Result<bool> {
        match self.fast.is_revoked(jti).await {
            Ok(revoked) => Ok(revoked),
            Err(e) => {
                tracing::debug!(error.cause_chain = ?e, "fast revocation list unavailable; asking the database");
                let rows = revoked_token::Entity::find()
                    .filter(revoked_token::Column::Jti.eq(jti))
                    .filter(revoked_token::Column::ExpiresAt.gt(Utc::now()))
                    .count(&self.db)
                    .await?;
                Ok(rows > 0)
            }
        }
    }

    async fn restore(&self, entries: &[(String, Duration)]) -> anyhow::Result<()> {
        self.fast.restore(entries).await
    }
}

/// Forgets expired rows, then loads the rest into `revocation`'s fast list. Returns how many were loaded.
pub async fn rebuild(
    db: &DatabaseConnection,
    revocation: &dyn TokenRevocation,
) -> anyhow::Result<usize> {
    purge_expired(db).await?;
    let now = Utc::now();
    let entries: Vec<(String, Duration)> = revoked_token::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            let ttl = (row.expires_at - now).to_std().unwrap_or_default();
            (row.jti, ttl)
        })
        .collect();
    revocation.restore(&entries).await?;
    Ok(entries.len())
}

/// Drops expired rows (a periodic job). Returns how many.
pub async fn purge_expired(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let res = revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
