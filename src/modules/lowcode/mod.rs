//! Low-code forms, pages and form submissions (admin back office, issue 5).
//!
//! Owns `lowcode_forms`, `lowcode_form_versions`, `lowcode_pages` and `form_data_records`.
//! `form_json`, `page_json` and `form_data` stay JSON *strings* on the wire. A form's field list is validated
//! when saved; submissions are validated against the current field list and stored with the version they were
//! validated against. Editing the field list of a form that has submissions creates a new version.
//! Publishes and consumes no events.

pub mod dto;
pub mod entity;
pub mod fields;
pub mod routes;
pub mod service;

pub use routes::admin_routes;
