//! Applications to become a counselor (入驻): one row per user, re-usable after a rejection. Approval
//! creates the counselor linked to the applicant, its statistics and its (empty) earnings account in one
//! transaction with `ApplicationReviewed`.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::dto::{ApplicationListQuery, ApplicationRequest, ApplicationView, PersonView};
use super::entity::{application, counselor};
use super::service::{
    self, DEFAULT_RATING, MSG_USER_ALREADY_COUNSELOR, STATUS_ENABLED, counselor_of_user,
    ensure_account, ensure_statistics, like_pattern,
};
use crate::bus::{DomainEvent, EventBus};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::http::Pagination;
use crate::modules::{rbac, users};
use crate::state::AppState;

pub const STATUS_PENDING: i32 = 0;
pub const STATUS_APPROVED: i32 = 1;
pub const STATUS_REJECTED: i32 = 2;

pub const MSG_NOT_FOUND: &str = "申请不存在";
pub const MSG_PENDING: &str = "您已提交入驻申请，请等待审核";
pub const MSG_APPROVED: &str = "您的申请已审核通过";
pub const MSG_ALREADY_PROCESSED: &str = "该申请已处理";
/// Price per minute (fen) of a counselor created by an approval; the admin adjusts it afterwards.
pub const APPROVED_DEFAULT_PRICE: i64 = 500;

/// `POST /api/counselor/application`: a new application, or a rejected one submitted again.
///
/// # Errors
/// 403 while one is pending or after approval, or when the user already is a counselor; 400 when a
/// required field or every certificate is missing.
pub async fn submit(state: &AppState, user_id: i64, req: ApplicationRequest) -> AppResult<i64> {
    let existing = find_of_user(&state.db, user_id).await?;
    match existing.as_ref().map(|a| a.status) {
        Some(STATUS_PENDING) => return Err(AppError::forbidden(MSG_PENDING)),
        Some(STATUS_APPROVED) => return Err(AppError::forbidden(MSG_APPROVED)),
        _ => {}
    }
    if counselor_of_user(&state.db, user_id).await?.is_some() {
        return Err(AppError::forbidden("您已是认证咨询师"));
    }
    let trimmed = |s: &str| s.trim().to_owned();
    let (name, phone, title, specialty) = (
        trimmed(&req.name),
        trimmed(&req.phone),
        trimmed(&req.title),
        trimmed(&req.specialty),
    );
    if name.is_empty() || phone.is_empty() || title.is_empty() || specialty.is_empty() {
        return Err(AppError::bad_request("姓名、电话、职称和擅长领域为必填项"));
    }
    let certs = [
        trimmed(&req.certificate_img1),
        trimmed(&req.certificate_img2),
        trimmed(&req.certificate_img3),
    ];
    if certs.iter().all(String::is_empty) {
        return Err(AppError::bad_request("至少需要上传一张资质证书"));
    }
    let [cert1, cert2, cert3] = certs;
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let id = match existing {
        None => {
            application::ActiveModel {
                user_id: Set(user_id),
                name: Set(name),
                gender: Set(trimmed(&req.gender)),
                phone: Set(phone),
                email: Set(trimmed(&req.email)),
                title: Set(title),
                specialty: Set(specialty),
                years_exp: Set(req.years_exp),
                bio: Set(Some(req.bio)),
                certificate_img1: Set(cert1),
                certificate_img2: Set(cert2),
                certificate_img3: Set(cert3),
                status: Set(STATUS_PENDING),
                reject_reason: Set(None),
                reviewer_id: Set(None),
                reviewed_at: Set(None),
                counselor_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(|e| {
                // A second submission racing this one took the user's row.
                if is_unique_violation(&e) {
                    AppError::forbidden(MSG_PENDING)
                } else {
                    e.into()
                }
            })?
            .id
        }
        Some(rejected) => {
            // Back to pending, only if it is still the rejected row we looked at.
            let result = application::Entity::update_many()
                .col_expr(application::Column::Name, Expr::value(name))
                .col_expr(
                    application::Column::Gender,
                    Expr::value(trimmed(&req.gender)),
                )
                .col_expr(application::Column::Phone, Expr::value(phone))
                .col_expr(application::Column::Email, Expr::value(trimmed(&req.email)))
                .col_expr(application::Column::Title, Expr::value(title))
                .col_expr(application::Column::Specialty, Expr::value(specialty))
                .col_expr(application::Column::YearsExp, Expr::value(req.years_exp))
                .col_expr(application::Column::Bio, Expr::value(Some(req.bio)))
                .col_expr(application::Column::CertificateImg1, Expr::value(cert1))
                .col_expr(application::Column::CertificateImg2, Expr::value(cert2))
                .col_expr(application::Column::CertificateImg3, Expr::value(cert3))
                .col_expr(application::Column::Status, Expr::value(STATUS_PENDING))
                .col_expr(
                    application::Column::RejectReason,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    application::Column::ReviewerId,
                    Expr::value(Option::<i64>::None),
                )
                .col_expr(
                    application::Column::ReviewedAt,
                    Expr::value(Option::<chrono::DateTime<Utc>>::None),
                )
                .col_expr(application::Column::CreatedAt, Expr::value(now))
                .col_expr(application::Column::UpdatedAt, Expr::value(now))
                .filter(application::Column::Id.eq(rejected.id))
                .filter(application::Column::Status.eq(STATUS_REJECTED))
                .exec(&txn)
                .await?;
            if result.rows_affected == 0 {
                return Err(AppError::forbidden(MSG_PENDING));
            }
            rejected.id
        }
    };
    EventBus::record(
        &txn,
        &DomainEvent::ApplicationSubmitted {
            application_id: id,
            user_id,
        },
    )
    .await?;
    txn.commit().await?;
    state.bus.notify();
    Ok(id)
}

async fn find_of_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
) -> AppResult<Option<application::Model>> {
    Ok(application::Entity::find()
        .filter(application::Column::UserId.eq(user_id))
        .order_by_desc(application::Column::Id)
        .one(db)
        .await?)
}

pub async fn find_application<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> AppResult<Option<application::Model>> {
    Ok(application::Entity::find_by_id(id).one(db).await?)
}

/// `GET /api/counselor/my-application`: the caller's application, if any.
pub async fn my_application(
    db: &DatabaseConnection,
    user_id: i64,
) -> AppResult<Option<ApplicationView>> {
    match find_of_user(db, user_id).await? {
        None => Ok(None),
        Some(app) => Ok(Some(views(db, vec![app]).await?.remove(0))),
    }
}

/// Builds views with `user` and `reviewer` filled in.
async fn views(
    db: &DatabaseConnection,
    apps: Vec<application::Model>,
) -> AppResult<Vec<ApplicationView>> {
    let user_ids: Vec<i64> = apps.iter().map(|a| a.user_id).collect();
    let users = users::service::find_many(db, &user_ids).await?;
    let mut out = Vec::with_capacity(apps.len());
    for app in &apps {
        let user = users.get(&app.user_id).map(|u| PersonView {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone().unwrap_or_default(),
            phone: u.phone.clone(),
            avatar: u.avatar.clone(),
        });
        let reviewer = match app.reviewer_id {
            None => None,
            Some(admin_id) => rbac::service::find_admin(db, admin_id)
                .await?
                .map(|a| PersonView {
                    id: a.id,
                    username: a.username,
                    email: a.email.unwrap_or_default(),
                    phone: a.phone,
                    avatar: a.avatar,
                }),
        };
        out.push(ApplicationView::new(app, user, reviewer));
    }
    Ok(out)
}

/// The application lists (both APIs): `status` exact, `keyword` on name, phone or email; newest first.
pub async fn list_applications(
    db: &DatabaseConnection,
    q: &ApplicationListQuery,
    paging: &Pagination,
) -> AppResult<(Vec<ApplicationView>, u64)> {
    let mut cond = Condition::all();
    // Like the original, a status that is not an integer is ignored rather than refused.
    if let Some(status) = q
        .status
        .as_deref()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        cond = cond.add(application::Column::Status.eq(status));
    }
    if let Some(kw) = q
        .keyword
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let kw: String = kw.chars().take(100).collect();
        cond = cond.add(
            Condition::any()
                .add(application::Column::Name.like(like_pattern(&kw)))
                .add(application::Column::Phone.like(like_pattern(&kw)))
                .add(application::Column::Email.like(like_pattern(&kw))),
        );
    }
    let query = application::Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(application::Column::CreatedAt)
        .order_by_desc(application::Column::Id)
        .offset(paging.offset())
        .limit(paging.page_size)
        .all(db)
        .await?;
    Ok((views(db, rows).await?, total))
}

/// One application with its user and reviewer.
pub async fn application_view(db: &DatabaseConnection, id: i64) -> AppResult<ApplicationView> {
    let app = find_application(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_NOT_FOUND))?;
    Ok(views(db, vec![app]).await?.remove(0))
}

/// Who reviews an application.
#[derive(Debug, Clone, Copy)]
pub enum Reviewer {
    /// An administrator (admin API); recorded as `reviewer_id`.
    Admin(i64),
    /// A user with `is_admin` (the legacy user-API route). `reviewer_id` refers to administrators, so
    /// such a review records no reviewer; the log keeps who it was.
    LegacyUserAdmin(i64),
}

/// Approves (`status` 1) or rejects (`status` 2, with a reason) a pending application. Returns the
/// counselor created on approval.
///
/// # Errors
/// 404 unknown; 400 already processed, bad status or a rejection without reason; 409 when the applicant
/// already is a counselor.
pub async fn review(
    state: &AppState,
    id: i64,
    reviewer: Reviewer,
    status: i32,
    reject_reason: &str,
) -> AppResult<Option<i64>> {
    let app = find_application(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_NOT_FOUND))?;
    if app.status != STATUS_PENDING {
        return Err(AppError::bad_request(MSG_ALREADY_PROCESSED));
    }
    if status != STATUS_APPROVED && status != STATUS_REJECTED {
        return Err(AppError::bad_request("状态错误，1-通过，2-拒绝"));
    }
    let reason = reject_reason.trim();
    if status == STATUS_REJECTED && reason.is_empty() {
        return Err(AppError::bad_request("请填写拒绝原因"));
    }
    let approved = status == STATUS_APPROVED;
    if approved && counselor_of_user(&state.db, app.user_id).await?.is_some() {
        return Err(AppError::conflict(MSG_USER_ALREADY_COUNSELOR));
    }
    let reviewer_id = match reviewer {
        Reviewer::Admin(admin_id) => Some(admin_id),
        Reviewer::LegacyUserAdmin(user_id) => {
            tracing::info!(
                application_id = id,
                reviewer_user_id = user_id,
                "application reviewed through the user API"
            );
            None
        }
    };
    let avatar = users::service::find_active(&state.db, app.user_id)
        .await?
        .map(|u| u.avatar)
        .unwrap_or_default();
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let claimed = application::Entity::update_many()
        .col_expr(application::Column::Status, Expr::value(status))
        .col_expr(
            application::Column::RejectReason,
            Expr::value((!approved).then(|| reason.to_owned())),
        )
        .col_expr(application::Column::ReviewerId, Expr::value(reviewer_id))
        .col_expr(application::Column::ReviewedAt, Expr::value(Some(now)))
        .col_expr(application::Column::UpdatedAt, Expr::value(now))
        .filter(application::Column::Id.eq(id))
        .filter(application::Column::Status.eq(STATUS_PENDING))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Err(AppError::bad_request(MSG_ALREADY_PROCESSED));
    }
    let counselor_id = if approved {
        let created = counselor::ActiveModel {
            user_id: Set(Some(app.user_id)),
            name: Set(app.name.clone()),
            title: Set(app.title.clone()),
            avatar: Set(avatar),
            bio: Set(app.bio.clone()),
            specialty: Set(app.specialty.chars().take(255).collect()),
            price: Set(APPROVED_DEFAULT_PRICE),
            years_exp: Set(app.years_exp),
            rating: Set(DEFAULT_RATING),
            status: Set(STATUS_ENABLED),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::conflict(MSG_USER_ALREADY_COUNSELOR)
            } else {
                e.into()
            }
        })?;
        ensure_statistics(&txn, created.id).await?;
        ensure_account(&txn, created.id).await?;
        application::Entity::update_many()
            .col_expr(
                application::Column::CounselorId,
                Expr::value(Some(created.id)),
            )
            .filter(application::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        EventBus::record(
            &txn,
            &DomainEvent::CounselorChanged {
                counselor_id: created.id,
            },
        )
        .await?;
        Some(created.id)
    } else {
        None
    };
    EventBus::record(
        &txn,
        &DomainEvent::ApplicationReviewed {
            application_id: id,
            user_id: app.user_id,
            approved,
            counselor_id,
            reviewed_at_ms: now.timestamp_millis(),
        },
    )
    .await?;
    txn.commit().await?;
    if approved {
        service::invalidate_list_cache(state.infra.cache.as_ref()).await;
    }
    state.bus.notify();
    Ok(counselor_id)
}
