//! Supervision of every long-lived background task (pub/sub listeners, the outbox dispatcher, the Redis
//! watch, periodic jobs): a task that ends or panics is restarted after a backoff with jitter, each loss and
//! each recovery is logged once, and the state of every task is shown in `/health` and as the gauge
//! `mychat_background_task_up{task}` in `/metrics`.
//!
//! A pub/sub listener runs [`listen`], which probes its subscription every [`PROBE_EVERY`]: a connection
//! that died without closing is noticed within seconds, not when the next message would have come.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dashmap::DashMap;
use futures_util::{FutureExt, StreamExt};
use prometheus::{IntGaugeVec, Opts, Registry};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::infra::Subscription;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Short enough that a listener is back within a few seconds of Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A run that lasted this long counts as healthy: the next failure starts from the first backoff again.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How often a listener checks that its subscription still answers.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One task as `/health` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TaskStatus {
    pub up: bool,
    /// Why it is down (absent when up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub restarts: u64,
}

pub struct Supervisor {
    tasks: DashMap<&'static str, TaskStatus>,
    up_gauge: IntGaugeVec,
}

impl Supervisor {
    pub fn new() -> anyhow::Result<Arc<Self>> {
        let up_gauge = IntGaugeVec::new(
            Opts::new(
                "mychat_background_task_up",
                "1 while a background task runs, 0 while it is down and being restarted",
            ),
            &["task"],
        )?;
        Ok(Arc::new(Self {
            tasks: DashMap::new(),
            up_gauge,
        }))
    }

    /// Adds the gauge to the registry `/metrics` serves.
    pub fn register_metrics(&self, registry: &Registry) -> anyhow::Result<()> {
        registry
            .register(Box::new(self.up_gauge.clone()))
            .context("cannot register the background task gauge")
    }

    /// Every task by name.
    pub fn statuses(&self) -> BTreeMap<String, TaskStatus> {
        self.tasks
            .iter()
            .map(|t| ((*t.key()).to_owned(), t.value().clone()))
            .collect()
    }

    /// Whether every task is up.
    pub fn all_up(&self) -> bool {
        self.tasks.iter().all(|t| t.up)
    }

    /// Runs `run` until `shutdown`, restarting it whenever it returns or panics before that.
    pub fn spawn<F, Fut>(
        self: &Arc<Self>,
        name: &'static str,
        shutdown: watch::Receiver<bool>,
        mut run: F,
    ) -> JoinHandle<()>
    where
        F: FnMut(Task, watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let task = Task {
            supervisor: self.clone(),
            name,
        };
        self.tasks.insert(
            name,
            TaskStatus {
                up: true,
                reason: None,
                restarts: 0,
            },
        );
        self.up_gauge.with_label_values(&[name]).set(1);
        tokio::spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                let started = Instant::now();
                let outcome = AssertUnwindSafe(run(task.clone(), shutdown.clone()))
                    .catch_unwind()
                    .await;
                if *shutdown.borrow() {
                    return;
                }
                let reason = match outcome {
                    Ok(Ok(())) => anyhow::anyhow!("ended"),
                    Ok(Err(e)) => e,
                    Err(_) => anyhow::anyhow!("panicked"),
                };
                task.failing(&reason);
                if started.elapsed() >= STABLE_AFTER {
                    backoff = FIRST_BACKOFF;
                }
                let mut stop = shutdown.clone();
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(with_jitter(backoff)) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if let Some(mut status) = task.supervisor.tasks.get_mut(name) {
                    status.restarts += 1;
                }
            }
        })
    }

    /// Runs `pass` every `every` until `shutdown`; a failing pass marks the task down until one succeeds.
    pub fn every<S, F, Fut>(
        self: &Arc<Self>,
        name: &'static str,
        every: Duration,
        shutdown: watch::Receiver<bool>,
        state: S,
        pass: F,
    ) -> JoinHandle<()>
    where
        S: Clone + Send + Sync + 'static,
        F: Fn(S) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
    {
        self.spawn(name, shutdown, move |task, mut shutdown| {
            let (state, pass) = (state.clone(), pass.clone());
            async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = shutdown.changed() => return Ok(()),
                        _ = tick.tick() => match pass(state.clone()).await {
                            Ok(n) => {
                                task.up();
                                if n > 0 {
                                    tracing::info!(task = name, count = n, "background pass did work");
                                }
                            }
                            Err(e) => task.failing(&e),
                        }
                    }
                }
            }
        })
    }
}

/// `pause` ± 25 %, so instances that lost the same dependency do not all come back at the same instant.
fn with_jitter(pause: Duration) -> Duration {
    let quarter = pause.as_millis() as u64 / 4;
    let millis = pause.as_millis() as u64 - quarter + rand::random_range(0..=2 * quarter);
    Duration::from_millis(millis)
}

/// A supervised task's handle on its own state.
#[derive(Clone)]
pub struct Task {
    supervisor: Arc<Supervisor>,
    name: &'static str,
}

impl Task {
    /// The task works (again). Returns whether it had been down: a recovery.
    pub fn up(&self) -> bool {
        let Some(mut status) = self.supervisor.tasks.get_mut(self.name) else {
            return false;
        };
        let recovered = !status.up;
        status.up = true;
        status.reason = None;
        drop(status);
        if recovered {
            self.supervisor
                .up_gauge
                .with_label_values(&[self.name])
                .set(1);
            tracing::info!(task = self.name, "background task recovered");
        }
        recovered
    }

    /// The task is down, or running but failing, because of `reason`. Logged once per loss.
    pub fn failing(&self, reason: &anyhow::Error) {
        let Some(mut status) = self.supervisor.tasks.get_mut(self.name) else {
            return;
        };
        let lost = status.up;
        status.up = false;
        status.reason = Some(format!("{reason:#}"));
        drop(status);
        if lost {
            self.supervisor
                .up_gauge
                .with_label_values(&[self.name])
                .set(0);
            tracing::warn!(task = self.name, error.cause_chain = ?reason, "background task lost");
        } else {
            tracing::debug!(task = self.name, error.cause_chain = ?reason, "background task still down");
        }
    }
}

/// Hands every message of `subscription` to `handle` until `shutdown` (then `Ok`). Returns an error when the
/// subscription ends or its probe fails, for the supervisor to subscribe again.
pub async fn listen<F, Fut>(
    mut subscription: Subscription,
    shutdown: &mut watch::Receiver<bool>,
    mut handle: F,
) -> anyhow::Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut probe = tokio::time::interval(PROBE_EVERY);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    probe.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            next = subscription.messages.next() => match next {
                Some(payload) => handle(payload).await,
                None => anyhow::bail!("the subscription ended"),
            },
            _ = probe.tick() => {
                if let Some(check) = subscription.probe.as_mut() {
                    tokio::time::timeout(PROBE_TIMEOUT, check())
                        .await
                        .map_err(|_| anyhow::anyhow!("the subscription's probe got no answer"))?
                        .context("the subscription's probe failed")?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_ends_is_restarted_and_reported_down_until_it_is_up_again() {
        let supervisor = Supervisor::new().unwrap();
        let (stop, shutdown) = watch::channel(false);
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = runs.clone();
        let handle = supervisor.spawn("flaky", shutdown, move |task, mut shutdown| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n == 0 {
                    anyhow::bail!("connection refused");
                }
                task.up();
                let _ = shutdown.changed().await;
                Ok(())
            }
        });
        let mut saw_down = false;
        for _ in 0..200 {
            let status = supervisor.statuses()["flaky"].clone();
            if !status.up {
                saw_down = true;
                assert!(status.reason.unwrap().contains("connection refused"));
            }
            if saw_down && status.up && status.restarts == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(saw_down, "the failure was visible");
        assert!(supervisor.all_up(), "restarted and up again");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
        stop.send(true).unwrap();
        handle.await.unwrap();
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            let d = with_jitter(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(750) && d <= Duration::from_millis(1250));
        }
    }
}
