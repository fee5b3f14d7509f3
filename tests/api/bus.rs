//! The outbox bus: events written with a change are delivered, and a failing subscriber is retried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mychat::bus::{DomainEvent, Subscriber};

use crate::helpers::spawn_app;

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<DomainEvent>>,
    failures_left: AtomicUsize,
}

#[async_trait]
impl Subscriber for Recorder {
    fn name(&self) -> &'static str {
        "test-recorder"
    }

    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            anyhow::bail!("simulated failure");
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

fn config_changed(key: &str) -> DomainEvent {
    DomainEvent::ConfigChanged {
        keys: vec![key.to_owned()],
    }
}

async fn wait_for(recorder: &Recorder, count: usize) -> Vec<DomainEvent> {
    for _ in 0..100 {
        let events = recorder.events.lock().unwrap().clone();
        if events.len() >= count {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    recorder.events.lock().unwrap().clone()
}

#[tokio::test]
async fn registration_announces_the_new_user_through_the_outbox() {
    let app = spawn_app().await;
    let recorder = Arc::new(Recorder::default());
    app.running.state.bus.subscribe(recorder.clone());
    let reply = app.register("nina", "secret123").await;
    reply.assert_status(200);
    let events = wait_for(&recorder, 1).await;
    assert!(events.contains(&DomainEvent::UserRegistered {
        user_id: reply.body["data"]["user_id"].as_i64().unwrap(),
        username: "nina".into(),
    }));
    // The row is acknowledged after its subscribers ran; wait for that rather than race it.
    let mut pending = u64::MAX;
    for _ in 0..100 {
        pending = app.running.state.bus.pending_count().await.unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0, "every outbox row is delivered and acknowledged");
}

#[tokio::test]
async fn a_failing_subscriber_gets_the_event_again() {
    let app = spawn_app().await;
    let recorder = Arc::new(Recorder {
        failures_left: AtomicUsize::new(1),
        ..Default::default()
    });
    app.running.state.bus.subscribe(recorder.clone());
    app.running
        .state
        .bus
        .publish(DomainEvent::RbacChanged)
        .await
        .unwrap();
    // The first delivery fails; the retry comes after a 1 s backoff.
    let mut events = Vec::new();
    for _ in 0..60 {
        events = recorder.events.lock().unwrap().clone();
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events, vec![DomainEvent::RbacChanged]);
}

/// Fails the first delivery of `ConfigChanged` for key "flaky"; records the other `ConfigChanged` keys.
#[derive(Default)]
struct FlakyOnOne {
    seen: Mutex<Vec<String>>,
    failed_once: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Subscriber for FlakyOnOne {
    fn name(&self) -> &'static str {
        "test-flaky-on-one"
    }

    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        let DomainEvent::ConfigChanged { keys } = event else {
            return Ok(());
        };
        if keys == &["flaky"] && !self.failed_once.swap(true, Ordering::SeqCst) {
            anyhow::bail!("simulated failure");
        }
        self.seen.lock().unwrap().extend(keys.iter().cloned());
        Ok(())
    }
}

/// A batch is acknowledged together: the events every subscriber took are processed at once (each
/// delivered once), and only the one a subscriber failed on waits for its retry.
#[tokio::test]
async fn in_a_batch_only_the_failed_event_is_retried() {
    use mychat::bus::{EventBus, outbox};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let app = spawn_app().await;
    let flaky = Arc::new(FlakyOnOne::default());
    app.running.state.bus.subscribe(flaky.clone());
    EventBus::record_all(
        app.db(),
        &[
            config_changed("first"),
            config_changed("flaky"),
            config_changed("last"),
        ],
    )
    .await
    .unwrap();
    app.running.state.bus.notify();
    let seen = || flaky.seen.lock().unwrap().clone();
    assert!(app.eventually(|| async { seen().len() >= 2 }).await);
    assert_eq!(seen(), ["first", "last"]);
    // The retry comes after its 1 s backoff.
    assert!(app.eventually(|| async { seen().len() >= 3 }).await);
    app.running.state.bus.drain().await;
    assert_eq!(seen(), ["first", "last", "flaky"], "each delivered once");
    let rows = outbox::Entity::find()
        .filter(outbox::Column::EventType.eq("config_changed"))
        .all(app.db())
        .await
        .unwrap();
    let attempts = |key: &str| {
        rows.iter()
            .find(|r| r.payload.contains(&format!("\"{key}\"")))
            .map(|r| (r.attempts, r.processed_at.is_some()))
    };
    assert_eq!(attempts("first"), Some((1, true)));
    assert_eq!(attempts("last"), Some((1, true)));
    assert_eq!(attempts("flaky"), Some((2, true)));
}

/// Delivered events are kept for the retention window (the relay replays from them), then deleted;
/// an event still waiting for delivery, or parked as unreadable, is never deleted, however old.
#[tokio::test]
async fn delivered_events_are_deleted_after_retention_and_pending_ones_never() {
    use mychat::bus::{EventBus, outbox};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

    let app = spawn_app().await;
    EventBus::record_all(
        app.db(),
        &[
            config_changed("old"),
            config_changed("recent"),
            config_changed("waiting"),
            config_changed("parked"),
        ],
    )
    .await
    .unwrap();
    // Every row acknowledged before it is aged below: `drain` returns at once when the running
    // dispatcher holds the batch, whose acknowledgement would then overwrite the ages.
    let bus = &app.running.state.bus;
    bus.drain().await;
    assert!(
        app.eventually(|| async { bus.pending_count().await.unwrap() == 0 })
            .await
    );
    // The ids of the outbox rows `filter` selects, in order.
    let ids_where = |filter: sea_orm::sea_query::SimpleExpr| {
        let app = &app;
        async move {
            outbox::Entity::find()
                .filter(filter)
                .order_by_asc(outbox::Column::Id)
                .all(app.db())
                .await
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect::<Vec<i64>>()
        }
    };
    let ids = ids_where(outbox::Column::EventType.eq("config_changed")).await;
    let [old, recent, waiting, parked] = ids[..] else {
        panic!("four events, got {ids:?}");
    };
    let days_ago = |days: i64| chrono::Utc::now() - chrono::Duration::days(days);
    app.exec_sql(
        "UPDATE outbox_events SET processed_at = ?, created_at = ? WHERE id = ?",
        vec![days_ago(8).into(), days_ago(8).into(), old.into()],
    )
    .await;
    // Never delivered: no subscriber could read it.
    app.exec_sql(
        "UPDATE outbox_events SET processed_at = ?, last_error = ? WHERE id = ?",
        vec![
            days_ago(9).into(),
            "unreadable: expected value".into(),
            parked.into(),
        ],
    )
    .await;
    // Recorded long ago, failing since, next try tomorrow: pending.
    app.exec_sql(
        "UPDATE outbox_events SET processed_at = NULL, created_at = ?, available_at = ? WHERE id = ?",
        vec![
            days_ago(30).into(),
            days_ago(-1).into(),
            waiting.into(),
        ],
    )
    .await;

    let week = Duration::from_secs(7 * 24 * 3600);
    let deleted = bus.purge_delivered(week).await.unwrap();
    assert_eq!(deleted, 1);
    let left = ids_where(outbox::Column::Id.is_in([old, recent, waiting, parked])).await;
    assert_eq!(left, [recent, waiting, parked]);
}

/// On PostgreSQL the dispatcher vacuums the outbox after enough deliveries: each delivery leaves a
/// dead row version in the index every claim scans, and nothing else may clean it (this machine's
/// PostgreSQL runs without autovacuum; before, claims grew from 0.1 ms to 12 ms over 100,000 events).
#[tokio::test]
async fn the_dispatcher_vacuums_the_outbox_on_postgres_after_enough_deliveries() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    let app = crate::helpers::spawn_app_with(&[(
        "database.outbox_vacuum_after_rows",
        serde_json::json!(20),
    )])
    .await;
    if app.db().get_database_backend() != DbBackend::Postgres {
        eprintln!("skipped: PostgreSQL only");
        return;
    }
    let vacuums = || async {
        app.db()
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT (vacuum_count + autovacuum_count)::bigint AS n FROM pg_stat_user_tables \
                 WHERE relname = 'outbox_events'",
            ))
            .await
            .unwrap()
            .map_or(0, |row| row.try_get::<i64>("", "n").unwrap())
    };
    let before = vacuums().await;
    for i in 0..30 {
        app.running
            .state
            .bus
            .publish(DomainEvent::ConfigChanged {
                keys: vec![format!("key{i}")],
            })
            .await
            .unwrap();
    }
    assert!(
        app.eventually(|| async { vacuums().await > before }).await,
        "no vacuum of outbox_events after 30 deliveries"
    );
}
