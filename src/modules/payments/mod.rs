//! Payments and the user wallet: payments for orders and recharges on WeChat Pay v3, Alipay (RSA2), the
//! wallet balance or the development sandbox; signed provider callbacks applied exactly once; refunds
//! (partial or full) through the one refund path of [`refunds`], settled by the channel's reply, its
//! refund notification or the Alipay refund query job; the
//! providers' signatures on their replies to our calls; and the append-only wallet ledger that alone
//! moves `users.balance`.
//!
//! Tables: `payments`, `payment_refunds`, `user_transactions`. Publishes: `PaymentConfirmed`,
//! `PaymentAmountMismatch`, `PaymentRefunded`, `PaymentRefundFailed`, `WalletChanged` (and
//! `OrderStatusChanged` through `orders::service::transition`). Consumes: none.

pub mod alipay;
pub mod crypto;
pub mod dto;
pub mod entity;
pub mod refunds;
pub mod routes;
pub mod sandbox;
pub mod service;
pub mod wallet;
pub mod wechat;

pub use routes::user_routes;
pub use wallet::credit_refund;

use crate::error::AppError;

/// The message an unverifiable provider reply answers with (503: the channel cannot be trusted now).
pub const MSG_UNTRUSTED_REPLY: &str = "支付渠道应答验签失败";

/// The error for a provider reply whose signature does not verify: nothing it says is applied.
pub fn untrusted_reply() -> AppError {
    AppError::Unavailable(MSG_UNTRUSTED_REPLY.into())
}

/// Whether `e` says the provider answered but its answer could not be trusted (the outcome is unknown).
pub fn is_untrusted_reply(e: &AppError) -> bool {
    matches!(e, AppError::Unavailable(m) if m == MSG_UNTRUSTED_REPLY)
}

/// Logs every configured WeChat platform key that cannot verify anything now (unreadable, a
/// certificate filed under another serial, or outside its validity).
/// Also says loudly when the sandbox gateway is on: anyone holding a checkout link can then confirm
/// that payment without paying, which must never go unnoticed outside development.
pub fn log_configuration_problems(settings: &crate::config::PaymentSettings) {
    if settings.sandbox_enabled {
        tracing::warn!(
            "PAYMENT SANDBOX IS ON (payments.sandbox_enabled = true): payments without merchant keys are \
             confirmed by a simulated checkout, not by real money; turn it off outside development"
        );
    }
    let now = chrono::Utc::now().timestamp();
    for (serial, reason) in wechat::platform_key_problems(&settings.wechat, now) {
        tracing::error!(
            serial,
            reason,
            "wechat platform key unusable: callbacks and replies under this serial will be refused"
        );
    }
}

/// Makes ring the process-wide rustls provider (reqwest is built without one, to avoid aws-lc).
/// Installing twice is refused harmlessly; whichever provider came first stays.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client for provider calls (rustls with ring, system roots).
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    install_tls_provider();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))
}
