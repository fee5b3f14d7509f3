//! Payments and the user wallet.
//!
//! Tables: `payments`, `payment_refunds`, `user_transactions`. Publishes: `PaymentConfirmed`,
//! `PaymentRefunded`, `WalletChanged`.

pub mod wallet;
