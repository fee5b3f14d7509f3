//! Dashboard reporting: counts, revenue, trends and the counselor ranking.
//!
//! Documented exception to "a module never reads another module's tables": this module is read-only
//! reporting over `users`, `counselors`, `orders` and `chat_sessions`. It never writes, and every figure
//! is aggregated in SQL (COUNT / SUM / GROUP BY; a trend puts each row in its time bucket with one CASE); rows
//! are never loaded. `orders::service::statistics` shares the SQL helpers of [`service`].
//! Revenue counts paid (1) and completed (2) orders, minus what was refunded; day, week, month and year
//! windows are computed in `stats.timezone` (Asia/Shanghai by default).
//!
//! Tables: none of its own. Publishes: none. Consumes: none.

pub mod dto;
pub mod routes;
pub mod service;

pub use routes::admin_routes;
