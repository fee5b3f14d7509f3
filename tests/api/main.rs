//! Integration tests: the whole app over HTTP on random ports, one fresh database per test.
#![allow(clippy::unwrap_used)]

mod admin_auth;
mod bus;
mod chat;
mod chat_admin;
mod chat_fixtures;
mod cli;
mod helpers;
mod platform;
mod user_auth;
