//! Turns domain events into notifications. Runs once per event (outbox delivery) and is idempotent:
//! each notification carries a dedupe key naming the fact, and the unique column refuses a second copy.
//! Events of modules that do not exist yet are handled the same way; nothing here calls them.

use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::service::{self, NewNotification};
use crate::bus::{DomainEvent, Subscriber};
use crate::modules::counselors;
use crate::modules::orders::status::OrderStatus;

/// Fen as `12.50`.
fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// What the subscriber had to look up to word an event.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context {
    /// The user account of the counselor the event is about, when it has one.
    pub counselor_user_id: Option<i64>,
}

/// The notifications an event produces (pure: the wording and the dedupe keys).
pub fn notifications_for(event: &DomainEvent, ctx: Context) -> Vec<NewNotification> {
    let mut out = Vec::new();
    match event {
        DomainEvent::OrderStatusChanged {
            order_id,
            user_id,
            counselor_id,
            to,
            ..
        } => {
            let key = format!("order_status_changed:{order_id}:{to}");
            let extra = json!({ "order_id": order_id, "counselor_id": counselor_id, "status": to });
            let buyer = |level, title: &str, content: String| NewNotification {
                user_id: *user_id,
                kind: "order",
                level,
                title: title.to_owned(),
                content,
                extra_data: extra.clone(),
                dedupe_key: key.clone(),
            };
            match OrderStatus::try_from(*to) {
                Ok(OrderStatus::Paid) => {
                    out.push(buyer(
                        "success",
                        "订单已支付",
                        format!("您的订单 #{order_id} 已支付成功，请按预约时间进入咨询"),
                    ));
                    if let Some(counselor_user) = ctx.counselor_user_id {
                        out.push(NewNotification {
                            user_id: counselor_user,
                            kind: "order",
                            level: "info",
                            title: "您有新的订单".into(),
                            content: format!("订单 #{order_id} 已支付，请按预约时间提供咨询"),
                            extra_data: extra.clone(),
                            dedupe_key: format!("{key}:counselor"),
                        });
                    }
                }
                Ok(OrderStatus::Completed) => out.push(buyer(
                    "success",
                    "咨询已完成",
                    format!("您的订单 #{order_id} 已完成，欢迎评价本次咨询"),
                )),
                Ok(OrderStatus::Cancelled) => out.push(buyer(
                    "warning",
                    "订单已取消",
                    format!("您的订单 #{order_id} 已取消"),
                )),
                Ok(OrderStatus::Refunded) => out.push(buyer(
                    "info",
                    "订单已退款",
                    format!("您的订单 #{order_id} 已退款"),
                )),
                Ok(OrderStatus::PendingPayment) | Err(_) => {}
            }
        }
        DomainEvent::PaymentRefunded {
            payment_id,
            user_id,
            order_id,
            amount,
        } => out.push(NewNotification {
            user_id: *user_id,
            kind: "payment",
            level: "success",
            title: "退款成功".into(),
            content: format!("¥{} 已退回您的支付账户", yuan(*amount)),
            extra_data: json!({ "payment_id": payment_id, "order_id": order_id, "amount": crate::money::to_yuan(*amount) }),
            // The event has no refund id: payment and amount tell two partial refunds apart.
            dedupe_key: format!("payment_refunded:{payment_id}:{amount}"),
        }),
        DomainEvent::ApplicationReviewed {
            application_id,
            user_id,
            approved,
            counselor_id,
            reviewed_at_ms,
        } => out.push(NewNotification {
            user_id: *user_id,
            kind: "system",
            level: if *approved { "success" } else { "warning" },
            title: if *approved {
                "入驻申请已通过".into()
            } else {
                "入驻申请未通过".into()
            },
            content: if *approved {
                "恭喜，您的咨询师入驻申请已审核通过".into()
            } else {
                "很抱歉，您的咨询师入驻申请未通过审核，可修改后重新提交".into()
            },
            extra_data: json!({ "application_id": application_id, "approved": approved, "counselor_id": counselor_id }),
            dedupe_key: format!("application_reviewed:{application_id}:{reviewed_at_ms}"),
        }),
        DomainEvent::WalletChanged {
            user_id,
            delta,
            balance,
            kind,
        } if kind == "recharge" => out.push(NewNotification {
            user_id: *user_id,
            kind: "payment",
            level: "success",
            title: "充值成功".into(),
            content: format!("充值 ¥{} 已到账，当前余额 ¥{}", yuan(*delta), yuan(*balance)),
            extra_data: json!({ "amount": crate::money::to_yuan(*delta), "balance": crate::money::to_yuan(*balance) }),
            dedupe_key: format!("wallet_changed:{user_id}:recharge:{balance}:{delta}"),
        }),
        DomainEvent::SessionBilled {
            session_id,
            order_id,
            user_id,
            counselor_id,
            total_amount,
            counselor_fee,
            refund_amount,
        } => {
            let extra = json!({ "session_id": session_id, "order_id": order_id, "counselor_id": counselor_id });
            let mut content = format!("本次咨询费用 ¥{}", yuan(*total_amount));
            if *refund_amount > 0 {
                content.push_str(&format!("，未使用的 ¥{} 已退回余额", yuan(*refund_amount)));
            }
            out.push(NewNotification {
                user_id: *user_id,
                kind: "chat",
                level: "success",
                title: "咨询已结算".into(),
                content,
                extra_data: extra.clone(),
                dedupe_key: format!("session_billed:{session_id}:user"),
            });
            if let Some(counselor_user) = ctx.counselor_user_id {
                out.push(NewNotification {
                    user_id: counselor_user,
                    kind: "chat",
                    level: "success",
                    title: "咨询收入到账".into(),
                    content: format!("订单 #{order_id} 的咨询收入 ¥{} 已入账", yuan(*counselor_fee)),
                    extra_data: extra,
                    dedupe_key: format!("session_billed:{session_id}:counselor"),
                });
            }
        }
        DomainEvent::WithdrawalReviewed {
            withdraw_id,
            amount,
            approved,
            ..
        } => {
            if let Some(counselor_user) = ctx.counselor_user_id {
                out.push(NewNotification {
                    user_id: counselor_user,
                    kind: "system",
                    level: if *approved { "success" } else { "warning" },
                    title: if *approved {
                        "提现申请已通过".into()
                    } else {
                        "提现申请被拒绝".into()
                    },
                    content: if *approved {
                        format!("您的提现申请 ¥{} 已审核通过，等待打款", yuan(*amount))
                    } else {
                        format!("您的提现申请 ¥{} 未通过审核，资金已退回可用余额", yuan(*amount))
                    },
                    extra_data: json!({ "withdraw_id": withdraw_id, "approved": approved }),
                    dedupe_key: format!("withdrawal_reviewed:{withdraw_id}"),
                });
            }
        }
        DomainEvent::WithdrawalTransferred {
            withdraw_id,
            amount,
            ..
        } => {
            if let Some(counselor_user) = ctx.counselor_user_id {
                out.push(NewNotification {
                    user_id: counselor_user,
                    kind: "system",
                    level: "success",
                    title: "提现已打款".into(),
                    content: format!("您的提现 ¥{} 已打款，请注意查收", yuan(*amount)),
                    extra_data: json!({ "withdraw_id": withdraw_id }),
                    dedupe_key: format!("withdrawal_transferred:{withdraw_id}"),
                });
            }
        }
        _ => {}
    }
    out
}

/// The counselor an event is about, if its notifications may go to the counselor's user.
fn counselor_of(event: &DomainEvent) -> Option<i64> {
    match event {
        DomainEvent::OrderStatusChanged {
            counselor_id, to, ..
        } if *to == OrderStatus::Paid as i32 => Some(*counselor_id),
        DomainEvent::SessionBilled { counselor_id, .. }
        | DomainEvent::WithdrawalReviewed { counselor_id, .. }
        | DomainEvent::WithdrawalTransferred { counselor_id, .. } => Some(*counselor_id),
        _ => None,
    }
}

pub struct NotificationSubscriber {
    pub db: DatabaseConnection,
}

impl NotificationSubscriber {
    /// Creates the notifications of `events`: one lookup of the counselors' accounts, one transaction.
    async fn create_for(&self, events: &[&DomainEvent]) -> anyhow::Result<()> {
        let mut counselor_ids: Vec<i64> = events.iter().filter_map(|e| counselor_of(e)).collect();
        counselor_ids.sort_unstable();
        counselor_ids.dedup();
        let accounts = counselors::service::user_ids_of(&self.db, &counselor_ids).await?;
        let news = events
            .iter()
            .flat_map(|event| {
                let ctx = Context {
                    counselor_user_id: counselor_of(event)
                        .and_then(|id| accounts.get(&id).copied()),
                };
                notifications_for(event, ctx)
            })
            .collect();
        service::create_all_once(&self.db, news).await?;
        Ok(())
    }
}

#[async_trait]
impl Subscriber for NotificationSubscriber {
    fn name(&self) -> &'static str {
        "notifications.creator"
    }

    async fn handle(&self, event: &DomainEvent) -> anyhow::Result<()> {
        self.create_for(&[event]).await
    }

    /// The whole batch at once; when that fails, each event on its own, so that one that cannot be
    /// written does not hold the others back.
    async fn handle_batch(&self, events: &[&DomainEvent]) -> Vec<anyhow::Result<()>> {
        match self.create_for(events).await {
            Ok(()) => events.iter().map(|_| Ok(())).collect(),
            Err(e) if events.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(events = events.len(), error.cause_chain = ?e, "notifications of a batch failed; creating them one event at a time");
                crate::bus::one_by_one(self, events).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_orders_notify_the_buyer_and_a_counselor_with_an_account() {
        let event = DomainEvent::OrderStatusChanged {
            order_id: 7,
            user_id: 3,
            counselor_id: 2,
            from: 0,
            to: 1,
            actor: "system".into(),
        };
        let with = notifications_for(
            &event,
            Context {
                counselor_user_id: Some(9),
            },
        );
        assert_eq!(with.len(), 2);
        assert_eq!(with[0].user_id, 3);
        assert_eq!(with[0].dedupe_key, "order_status_changed:7:1");
        assert_eq!(with[1].user_id, 9);
        assert_ne!(with[0].dedupe_key, with[1].dedupe_key);
        assert_eq!(notifications_for(&event, Context::default()).len(), 1);
    }

    #[test]
    fn events_without_a_reader_produce_nothing() {
        let pending = DomainEvent::OrderStatusChanged {
            order_id: 1,
            user_id: 1,
            counselor_id: 1,
            from: 0,
            to: 0,
            actor: "user".into(),
        };
        assert!(notifications_for(&pending, Context::default()).is_empty());
        let consume = DomainEvent::WalletChanged {
            user_id: 1,
            delta: -100,
            balance: 0,
            kind: "consume".into(),
        };
        assert!(notifications_for(&consume, Context::default()).is_empty());
        assert_eq!(yuan(1250), "12.50");
        assert_eq!(yuan(-5), "-0.05");
    }
}
