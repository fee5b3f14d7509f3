//! Counselor finance: accounts (balance, frozen, totals) with an append-only ledger, and withdrawals
//! (request → approve/reject → transfer), user and admin routes.
//!
//! Tables: `counselor_accounts`, `account_transactions`, `withdraw_records`.
//! Publishes: `WithdrawalRequested`, `WithdrawalReviewed`, `WithdrawalTransferred`. Consumes: none
//! (billing credits income through [`service::credit_session_income`] in its own transaction).

pub mod admin;
pub mod dto;
pub mod entity;
pub mod service;
