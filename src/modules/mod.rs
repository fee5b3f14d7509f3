//! The feature modules. Each owns its tables; they talk through service calls and the event bus.

pub mod auth;
pub mod chat;
pub mod counselors;
pub mod demo;
pub mod files;
pub mod finance;
pub mod health;
pub mod lowcode;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod privacy;
pub mod rbac;
pub mod stats;
pub mod system;
pub mod users;
