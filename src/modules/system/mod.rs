//! System configuration the console edits (typed JSON values) and, later, the audit log.
//!
//! Tables: `system_configs`, `system_logs`. Publishes: `ConfigChanged` (later). Consumes: none.

pub mod entity;
pub mod seed;
pub mod service;
