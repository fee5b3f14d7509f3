//! Bus subscribers that act on live sockets, on whichever instance they are connected: new
//! notifications are pushed to the receiver, and the sockets of a user whose credentials stopped
//! working (token revoked, account disabled, password changed) are closed.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::hub::{Hub, Target, frame};
use crate::bus::{DomainEvent, Realm, Subscriber};
use crate::modules::notifications::service as notifications;

pub struct NotificationPusher {
    pub db: DatabaseConnection,
    pub hub: Arc<Hub>,
}

#[async_trait]
impl Subscriber for NotificationPusher {
    fn name(&self) -> &'static str {
        "chat.notification_pusher"
    }

    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        let DomainEvent::NotificationCreated {
            notification_id,
            user_id,
        } = event
        else {
            return Ok(());
        };
        // Nobody to push to: skip reading it (the usual case; the list shows it when they come back).
        // Presence that cannot be read is no answer, so then it is pushed as usual.
        if let Ok(false) = self.hub.is_online(*user_id).await {
            return Ok(());
        }
        let Some(n) = notifications::find(&self.db, *notification_id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        else {
            return Ok(());
        };
        let data = json!({
            "id": n.id,
            "type": n.kind,
            "level": n.level,
            "title": n.title,
            "content": n.content.unwrap_or_default(),
            "created_at": n.created_at,
        });
        // A socket that misses it still finds it in the notification list.
        self.hub
            .send(
                Target::Users(vec![*user_id]),
                &frame("notification", 0, data),
            )
            .await;
        Ok(())
    }
}

/// Closes sockets whose credentials no longer work, as REST would refuse them: runs once per event, and
/// the hub carries the close to every instance.
pub struct CredentialWatcher {
    pub hub: Arc<Hub>,
}

#[async_trait]
impl Subscriber for CredentialWatcher {
    fn name(&self) -> &'static str {
        "chat.credential_watcher"
    }

    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        match event {
            DomainEvent::TokenRevoked { account_id, jti } => {
                self.hub
                    .disconnect(*account_id, Some(jti), "token revoked")
                    .await;
            }
            DomainEvent::AccountDisabled {
                realm: Realm::User,
                account_id,
            } => {
                self.hub
                    .disconnect(*account_id, None, "account disabled")
                    .await;
            }
            DomainEvent::PasswordChanged {
                realm: Realm::User,
                account_id,
            } => {
                self.hub
                    .disconnect(*account_id, None, "password changed")
                    .await;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Bus subscribers of this module (called from `app::build_state`).
pub fn register_subscribers(state: &crate::state::AppState) {
    state.bus.subscribe(Arc::new(NotificationPusher {
        db: state.db.clone(),
        hub: state.realtime.clone(),
    }));
    state.bus.subscribe(Arc::new(CredentialWatcher {
        hub: state.realtime.clone(),
    }));
}
