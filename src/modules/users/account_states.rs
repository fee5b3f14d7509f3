//! This instance's short-lived copy of what the auth check reads about user accounts (enabled, not
//! deleted, tokens valid after), so a burst of requests from one user reads the account once.
//!
//! Read-your-writes on this instance: every change of those columns goes through `users::service`,
//! which forgets the account right after its commit, and a read that raced with a change is not kept
//! (the generation check in [`AccountStates::keep`]). Other instances forget it when the change's
//! `AccountDisabled`/`PasswordChanged` reaches them over the event relay ([`AccountStateWatcher`]),
//! and the copy is only used while this instance's relay listener is subscribed; at worst an entry
//! lives `auth.account_cache_ms`. Only usable accounts are kept: a disabled or deleted one is read every
//! time, so re-enabling works at once. Admin accounts are not cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::bus::{DomainEvent, Realm, Scope, Subscriber};
use crate::modules::auth::AccountAuthState;

/// More entries than this and the stale ones go; if that is not enough, all of them.
const MAX_ENTRIES: usize = 50_000;

pub struct AccountStates {
    ttl: Duration,
    entries: Mutex<HashMap<i64, (AccountAuthState, Instant)>>,
    /// Bumped by every [`AccountStates::forget`]: a read that began before it is not kept.
    generation: AtomicU64,
}

impl AccountStates {
    /// `ttl` zero: nothing is kept.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// The kept state of `user_id`, if it is younger than the TTL.
    pub fn get(&self, user_id: i64) -> Option<AccountAuthState> {
        let entries = self.entries.lock().ok()?;
        let (state, at) = entries.get(&user_id)?;
        (at.elapsed() < self.ttl).then(|| state.clone())
    }

    /// Taken before reading an account: hand it to [`AccountStates::keep`] with what was read.
    pub fn ticket(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `state`, read with `ticket`, unless an account changed since the ticket was taken (the
    /// read may predate that change) or the account cannot be used.
    pub fn keep(&self, user_id: i64, state: &AccountAuthState, ticket: u64) {
        if self.ttl.is_zero() || !state.enabled {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        // Under the lock: a forget bumps the generation before it takes the lock to remove.
        if self.generation.load(Ordering::Acquire) != ticket {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(user_id, (state.clone(), Instant::now()));
    }

    /// Drops what is kept of `user_id`: call it after committing a change of its auth state.
    pub fn forget(&self, user_id: i64) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&user_id);
        }
    }
}

/// Forgets accounts changed on any instance, as their events arrive over the relay.
pub struct AccountStateWatcher {
    pub states: std::sync::Arc<AccountStates>,
}

#[async_trait]
impl Subscriber for AccountStateWatcher {
    fn name(&self) -> &'static str {
        "users.account_state_watcher"
    }

    fn scope(&self) -> Scope {
        Scope::EveryInstance
    }

    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        if let DomainEvent::AccountDisabled {
            realm: Realm::User,
            account_id,
        }
        | DomainEvent::PasswordChanged {
            realm: Realm::User,
            account_id,
        } = event
        {
            self.states.forget(*account_id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(name: &str) -> AccountAuthState {
        AccountAuthState {
            username: name.into(),
            enabled: true,
            tokens_valid_after: 0,
        }
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_kept() {
        let states = AccountStates::new(Duration::from_secs(60));
        let ticket = states.ticket();
        // The account changes (and is forgotten) while the read of its old state is under way.
        states.forget(7);
        states.keep(7, &usable("old"), ticket);
        assert_eq!(states.get(7), None, "the old state must not be kept");
        let ticket = states.ticket();
        states.keep(7, &usable("new"), ticket);
        assert_eq!(states.get(7), Some(usable("new")));
    }

    #[test]
    fn forgetting_drops_the_entry_and_disabled_accounts_are_never_kept() {
        let states = AccountStates::new(Duration::from_secs(60));
        states.keep(1, &usable("a"), states.ticket());
        assert!(states.get(1).is_some());
        states.forget(1);
        assert_eq!(states.get(1), None);
        let disabled = AccountAuthState {
            enabled: false,
            ..usable("b")
        };
        states.keep(2, &disabled, states.ticket());
        assert_eq!(states.get(2), None);
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_keeps_nothing() {
        let states = AccountStates::new(Duration::from_millis(30));
        states.keep(1, &usable("a"), states.ticket());
        assert!(states.get(1).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(states.get(1), None);
        let off = AccountStates::new(Duration::ZERO);
        off.keep(1, &usable("a"), off.ticket());
        assert_eq!(off.get(1), None);
    }
}
