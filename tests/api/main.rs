//! Integration tests: the whole app over HTTP on random ports, one fresh database per test.
#![allow(clippy::unwrap_used)]

mod admin_auth;
mod bus;
mod cli;
mod fake_provider;
mod helpers;
mod orders;
mod payments;
mod platform;
mod user_auth;
mod wallet;
