//! Integration tests: the whole app over HTTP on random ports, one fresh database per test.
#![allow(clippy::unwrap_used)]

mod admin_auth;
mod admin_users;
mod admins;
mod audit;
mod bus;
mod cli;
mod configs;
mod helpers;
mod platform;
mod rbac;
mod stats;
mod user_auth;
