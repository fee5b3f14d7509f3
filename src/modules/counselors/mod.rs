//! Counselors: the public directory (list, detail, reviews), reviews of completed orders, applications to
//! become a counselor, and the admin side of both.
//!
//! Tables: `counselors`, `counselor_statistics`, `counselor_applications`, `counselor_reviews`; it also
//! inserts the empty `counselor_accounts` row of a new counselor (finance will own that).
//! Publishes: `CounselorChanged` (every create/update/delete/approval), `ReviewCreated`,
//! `ApplicationSubmitted`, `ApplicationReviewed`.
//! Consumes (every instance): `CounselorChanged`, `ReviewCreated`, `OrderStatusChanged{to: 2}`,
//! `SessionBilled`, `ApplicationReviewed{approved}` to drop the cached directory pages.
//!
//! The directory pages are cached in `state.infra.cache` under keys that embed a "generation"; a change
//! bumps the generation (directly after the commit, and again through the bus on every instance).
//! In front of it each instance keeps the serialized pages (`state.counselor_pages`), used only under the
//! generation they were filled in, so a hit is one generation read and no JSON work.
//! Statistics are fed by the modules that own the facts, inside their own transactions:
//! [`service::record_order_created`], [`service::record_order_cancelled`],
//! [`service::record_completed_order`]. Deleting a counselor that has orders or reviews (per those
//! statistics) is refused with 400; the admin disables it instead.
//!
//! Route order: `routes::user_detail_routes` (`GET /api/counselor/{id}`) must be registered after every
//! other `/api/counselor/<word>` route of any module.

pub mod applications;
pub mod dto;
pub mod entity;
pub mod privacy;
pub mod reviews;
pub mod routes;
pub mod service;

use std::sync::Arc;

pub use routes::{admin_public_routes, admin_routes, user_detail_routes, user_routes};

use crate::state::AppState;

/// Subscribes the directory cache invalidation to the bus.
pub fn register_subscribers(state: &AppState) {
    state
        .bus
        .subscribe(Arc::new(service::CounselorCacheInvalidator {
            cache: state.infra.cache.clone(),
        }));
}
