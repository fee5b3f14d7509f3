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
