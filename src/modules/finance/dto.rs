use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::entity::{account, withdrawal};
use crate::money;

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: i64,
    pub counselor_id: i64,
    pub total_income: f64,
    pub withdrawn: f64,
    pub balance: f64,
    pub frozen_amount: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = Option<crate::openapi::shapes::ChatCounselor>)]
    pub counselor: Value,
}

impl AccountView {
    pub fn new(a: &account::Model, counselor: Value) -> Self {
        Self {
            id: a.id,
            counselor_id: a.counselor_id,
            total_income: money::to_yuan(a.total_income),
            withdrawn: money::to_yuan(a.withdrawn),
            balance: money::to_yuan(a.balance),
            frozen_amount: money::to_yuan(a.frozen_amount),
            created_at: a.created_at,
            updated_at: a.updated_at,
            counselor,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WithdrawView {
    pub id: i64,
    pub counselor_id: i64,
    pub amount: f64,
    pub status: i32,
    pub bank_name: String,
    pub bank_account: String,
    pub account_name: String,
    pub rejected_reason: String,
    pub audited_at: Option<DateTime<Utc>>,
    pub transferred_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = Option<crate::openapi::shapes::ChatCounselor>)]
    pub counselor: Value,
}

impl WithdrawView {
    pub fn new(w: &withdrawal::Model, counselor: Value) -> Self {
        Self {
            id: w.id,
            counselor_id: w.counselor_id,
            amount: money::to_yuan(w.amount),
            status: w.status,
            bank_name: w.bank_name.clone(),
            bank_account: w.bank_account.clone(),
            account_name: w.account_name.clone(),
            rejected_reason: w.rejected_reason.clone(),
            audited_at: w.audited_at,
            transferred_at: w.transferred_at,
            created_at: w.created_at,
            updated_at: w.updated_at,
            counselor,
        }
    }
}

/// `POST /api/admin/withdraw/{id}/approve`: `false` is a valid value (a rejection).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ApproveRequest {
    pub approved: bool,
    #[serde(default)]
    pub rejected_reason: String,
}
