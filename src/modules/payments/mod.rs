//! Payments and the user wallet: payments for orders and recharges on WeChat Pay v3, Alipay (RSA2), the
//! wallet balance or the development sandbox; signed provider callbacks applied exactly once; refunds
//! (partial or full); and the append-only wallet ledger that alone moves `users.balance`.
//!
//! Tables: `payments`, `payment_refunds`, `user_transactions`. Publishes: `PaymentConfirmed`,
//! `PaymentAmountMismatch`, `PaymentRefunded`, `WalletChanged` (and `OrderStatusChanged` through
//! `orders::service::transition`). Consumes: none.

pub mod alipay;
pub mod crypto;
pub mod dto;
pub mod entity;
pub mod routes;
pub mod sandbox;
pub mod service;
pub mod wallet;
pub mod wechat;

pub use routes::user_routes;
pub use wallet::credit_refund;

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
