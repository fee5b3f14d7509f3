//! Order states, with the numbers the clients know.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "i32", try_from = "i32")]
pub enum OrderStatus {
    PendingPayment = 0,
    Paid = 1,
    Completed = 2,
    Cancelled = 3,
    Refunded = 4,
}

impl From<OrderStatus> for i32 {
    fn from(s: OrderStatus) -> i32 {
        s as i32
    }
}

impl TryFrom<i32> for OrderStatus {
    type Error = String;

    fn try_from(v: i32) -> Result<Self, Self::Error> {
        Ok(match v {
            0 => Self::PendingPayment,
            1 => Self::Paid,
            2 => Self::Completed,
            3 => Self::Cancelled,
            4 => Self::Refunded,
            other => return Err(format!("unknown order status {other}")),
        })
    }
}

/// Who moves an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    User,
    Counselor,
    System,
    Admin,
}

impl Actor {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Counselor => "counselor",
            Self::System => "system",
            Self::Admin => "admin",
        }
    }
}
