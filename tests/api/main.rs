//! Integration tests: the whole app over HTTP on random ports, one fresh database per test.
#![allow(clippy::unwrap_used)]

mod admin_auth;
mod admin_users;
mod admins;
mod applications;
mod audit;
mod bus;
mod chat;
mod chat_admin;
mod chat_fixtures;
mod cli;
mod configs;
mod counselors;
mod deploy;
mod fake_provider;
mod files;
mod hardening;
mod helpers;
mod lowcode;
mod money;
mod notifications;
mod openapi;
mod orders;
mod payment_channels;
mod payments;
mod platform;
mod privacy_rights;
mod rbac;
mod reviews;
mod settings;
mod stats;
mod user_auth;
mod wallet;
mod web_apps;
mod ws_conformance;
mod ws_credentials;
