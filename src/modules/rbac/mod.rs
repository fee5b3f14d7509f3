//! Back-office access: administrators, roles, permissions (one namespace of codes), their links, and the
//! console menus. Seeds the intended permission and menu trees and the first administrator.
//!
//! Tables: `administrator`, `roles`, `permissions`, `role_permissions`, `admin_roles`, `menus`.
//! Publishes: `PasswordChanged{realm: admin}`. Consumes: none yet.

pub mod dto;
pub mod entity;
pub mod seed;
pub mod service;
