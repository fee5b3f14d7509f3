//! Counselors: the public directory (list, detail, reviews), reviews of completed orders, applications to
//! become a counselor, and the admin side of both.
//!
//! Tables: `counselors`, `counselor_statistics`, `counselor_applications`, `counselor_reviews`.
//! Publishes: see `crate::bus::DomainEvent`. Consumes: order events (statistics).

pub mod entity;
pub mod service;
