//! Wire shapes of the counselors module. Money leaves as yuan, ratings as numbers with two decimals.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::entity::{application, counselor, review};
use crate::money;

/// A counselor rated at least this (hundredths) with at least [`RECOMMENDED_MIN_SERVICES`] completed
/// orders is shown as recommended.
pub const RECOMMENDED_MIN_RATING: i32 = 450;
pub const RECOMMENDED_MIN_SERVICES: i64 = 5;

/// `rating >= 4.5 && service_count >= 5`, as the original computes it.
pub fn is_recommended(rating: i32, service_count: i64) -> bool {
    rating >= RECOMMENDED_MIN_RATING && service_count >= RECOMMENDED_MIN_SERVICES
}

/// Hundredths to the JSON number the clients show (485 → 4.85).
pub fn rating_to_wire(hundredths: i32) -> f64 {
    f64::from(hundredths) / 100.0
}

/// The counselor object (user_api.md §4.2, admin_api.md §2.3) with its computed statistics.
#[derive(Serialize, Clone, Debug)]
pub struct CounselorView {
    pub id: i64,
    /// The linked `users.id`; 0 when the counselor has no account.
    pub user_id: i64,
    pub name: String,
    pub title: String,
    pub avatar: String,
    pub bio: String,
    pub specialty: String,
    /// Yuan per minute.
    pub price: f64,
    pub years_exp: i32,
    pub rating: f64,
    pub status: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub service_count: i64,
    pub review_count: i64,
    pub is_recommended: bool,
}

impl CounselorView {
    pub fn new(c: &counselor::Model, service_count: i64, review_count: i64) -> Self {
        Self {
            id: c.id,
            user_id: c.user_id.unwrap_or_default(),
            name: c.name.clone(),
            title: c.title.clone(),
            avatar: c.avatar.clone(),
            bio: c.bio.clone().unwrap_or_default(),
            specialty: c.specialty.clone(),
            price: money::to_yuan(c.price),
            years_exp: c.years_exp,
            rating: rating_to_wire(c.rating),
            status: c.status,
            created_at: c.created_at,
            updated_at: c.updated_at,
            service_count,
            review_count,
            is_recommended: is_recommended(c.rating, service_count),
        }
    }
}

/// `data` of the counselor lists: `counselors` (user client) and `list` (admin console) are the same array.
#[derive(Serialize, Clone, Debug)]
pub struct CounselorPage {
    pub counselors: Vec<CounselorView>,
    pub list: Vec<CounselorView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// The list filters as the query string carries them; parsed leniently into [`super::service::ListFilter`].
#[derive(Deserialize, Default, Debug)]
pub struct ListQuery {
    pub keyword: Option<String>,
    pub specialty: Option<String>,
    pub min_price: Option<String>,
    pub max_price: Option<String>,
    pub status: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
}

/// `POST /api/admin/counselors`. `status` and `rating` are honoured when given, including 0.
#[derive(Deserialize, Validate, Debug)]
pub struct CreateCounselorRequest {
    /// Checked by `counselor_name` in the service (trimmed, 2–50).
    pub name: String,
    #[serde(default)]
    #[validate(length(max = 50, message = "职称过长"))]
    pub title: String,
    #[serde(default)]
    #[validate(length(max = 255, message = "头像地址过长"))]
    pub avatar: String,
    #[serde(default)]
    #[validate(length(max = 5000, message = "简介过长"))]
    pub bio: String,
    #[serde(default)]
    #[validate(length(max = 255, message = "擅长领域过长"))]
    pub specialty: String,
    /// Yuan per minute, > 0.
    pub price: f64,
    #[serde(default)]
    #[validate(range(min = 0, max = 80, message = "从业年限应为0-80"))]
    pub years_exp: i32,
    /// 0–5; defaults to 5.
    pub rating: Option<f64>,
    /// 0 or 1; defaults to 1.
    pub status: Option<i32>,
    /// Links an existing user account (one counselor per user).
    pub user_id: Option<i64>,
}

/// `PUT /api/admin/counselors/:id`: every present field is applied, zero values included. The console
/// sends the whole row (with `id`, `created_at`, computed fields…), which are ignored.
#[derive(Deserialize, Validate, Debug)]
pub struct UpdateCounselorRequest {
    /// Checked like on create.
    pub name: Option<String>,
    #[validate(length(max = 50, message = "职称过长"))]
    pub title: Option<String>,
    #[validate(length(max = 255, message = "头像地址过长"))]
    pub avatar: Option<String>,
    #[validate(length(max = 5000, message = "简介过长"))]
    pub bio: Option<String>,
    #[validate(length(max = 255, message = "擅长领域过长"))]
    pub specialty: Option<String>,
    pub price: Option<f64>,
    #[validate(range(min = 0, max = 80, message = "从业年限应为0-80"))]
    pub years_exp: Option<i32>,
    pub rating: Option<f64>,
    pub status: Option<i32>,
    /// A number links that user, 0 unlinks; absent (or null) leaves the link alone.
    pub user_id: Option<i64>,
}

/// The reviewer shown beside a review; blank for anonymous reviews.
#[derive(Serialize, Clone, Debug, Default)]
pub struct ReviewUser {
    pub id: i64,
    pub username: String,
    pub avatar: String,
}

/// A review as `GET /api/counselor/:id/reviews` returns it (user_api.md §4.12).
#[derive(Serialize, Clone, Debug)]
pub struct ReviewView {
    pub id: i64,
    pub order_id: i64,
    /// 0 for anonymous reviews.
    pub user_id: i64,
    pub counselor_id: i64,
    pub rating: i32,
    pub comment: String,
    pub is_anonymous: bool,
    pub is_visible: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub user: ReviewUser,
}

pub const ANONYMOUS_NAME: &str = "匿名用户";

impl ReviewView {
    /// Anonymous reviews carry no trace of who wrote them (BUG-C2 fixed).
    pub fn new(r: &review::Model, author: Option<ReviewUser>) -> Self {
        let user = if r.is_anonymous {
            ReviewUser {
                id: 0,
                username: ANONYMOUS_NAME.into(),
                avatar: String::new(),
            }
        } else {
            author.unwrap_or_default()
        };
        Self {
            id: r.id,
            order_id: r.order_id,
            user_id: if r.is_anonymous { 0 } else { r.user_id },
            counselor_id: r.counselor_id,
            rating: r.rating,
            comment: r.comment.clone().unwrap_or_default(),
            is_anonymous: r.is_anonymous,
            is_visible: r.is_visible,
            created_at: r.created_at,
            updated_at: r.updated_at,
            user,
        }
    }
}

/// `POST /api/counselor/review` as Orders.vue sends it. `counselor_id` is accepted and checked against the
/// order, which is the authority.
#[derive(Deserialize, Validate, Debug)]
pub struct CreateReviewRequest {
    pub order_id: i64,
    pub counselor_id: Option<i64>,
    #[validate(range(min = 1, max = 5, message = "评分应为1-5"))]
    pub rating: i32,
    #[serde(default)]
    #[validate(length(max = 2000, message = "评价内容不能超过2000字"))]
    pub comment: String,
    #[serde(default)]
    pub is_anonymous: bool,
}

/// `POST /api/counselor/application`.
#[derive(Deserialize, Validate, Debug)]
pub struct ApplicationRequest {
    #[serde(default)]
    #[validate(length(max = 50, message = "姓名过长"))]
    pub name: String,
    #[serde(default)]
    #[validate(length(max = 10, message = "性别过长"))]
    pub gender: String,
    #[serde(default)]
    #[validate(length(max = 20, message = "电话过长"))]
    pub phone: String,
    #[serde(default)]
    #[validate(length(max = 100, message = "邮箱过长"))]
    pub email: String,
    #[serde(default)]
    #[validate(length(max = 50, message = "职称过长"))]
    pub title: String,
    #[serde(default)]
    #[validate(length(max = 500, message = "擅长领域过长"))]
    pub specialty: String,
    #[serde(default)]
    #[validate(range(min = 0, max = 80, message = "从业年限应为0-80"))]
    pub years_exp: i32,
    #[serde(default)]
    #[validate(length(max = 5000, message = "简介过长"))]
    pub bio: String,
    #[serde(default)]
    #[validate(length(max = 255, message = "证书地址过长"))]
    pub certificate_img1: String,
    #[serde(default)]
    #[validate(length(max = 255, message = "证书地址过长"))]
    pub certificate_img2: String,
    #[serde(default)]
    #[validate(length(max = 255, message = "证书地址过长"))]
    pub certificate_img3: String,
}

/// `PUT …/review` of an application: `status` 1 approves, 2 rejects (with a reason).
#[derive(Deserialize, Validate, Debug)]
pub struct ReviewApplicationRequest {
    pub status: i32,
    #[serde(default)]
    #[validate(length(max = 1000, message = "拒绝原因过长"))]
    pub reject_reason: String,
}

/// A user shown beside an application (`user`, `reviewer`).
#[derive(Serialize, Clone, Debug, Default)]
pub struct PersonView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub avatar: String,
}

/// An application (user_api.md §4.13, admin_api.md §2.4). `reviewer` is omitted when nobody reviewed it.
#[derive(Serialize, Clone, Debug)]
pub struct ApplicationView {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub gender: String,
    pub phone: String,
    pub email: String,
    pub title: String,
    pub specialty: String,
    pub years_exp: i32,
    pub bio: String,
    pub certificate_img1: String,
    pub certificate_img2: String,
    pub certificate_img3: String,
    pub status: i32,
    pub reject_reason: String,
    pub reviewer_id: Option<i64>,
    /// Same as `reviewer_id` (0 when none), the user API's name for it.
    pub reviewed_by: i64,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub counselor_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub user: PersonView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<PersonView>,
}

impl ApplicationView {
    pub fn new(
        a: &application::Model,
        user: Option<PersonView>,
        reviewer: Option<PersonView>,
    ) -> Self {
        Self {
            id: a.id,
            user_id: a.user_id,
            name: a.name.clone(),
            gender: a.gender.clone(),
            phone: a.phone.clone(),
            email: a.email.clone(),
            title: a.title.clone(),
            specialty: a.specialty.clone(),
            years_exp: a.years_exp,
            bio: a.bio.clone().unwrap_or_default(),
            certificate_img1: a.certificate_img1.clone(),
            certificate_img2: a.certificate_img2.clone(),
            certificate_img3: a.certificate_img3.clone(),
            status: a.status,
            reject_reason: a.reject_reason.clone().unwrap_or_default(),
            reviewer_id: a.reviewer_id,
            reviewed_by: a.reviewer_id.unwrap_or_default(),
            reviewed_at: a.reviewed_at,
            counselor_id: a.counselor_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
            user: user.unwrap_or_default(),
            reviewer,
        }
    }
}

/// Filters of the application lists.
#[derive(Deserialize, Default, Debug)]
pub struct ApplicationListQuery {
    pub status: Option<String>,
    pub keyword: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendation_needs_both_rating_and_services() {
        assert!(is_recommended(450, 5));
        assert!(!is_recommended(449, 100));
        assert!(!is_recommended(500, 4));
        assert_eq!(rating_to_wire(485), 4.85);
    }
}
