//! Rules for app accounts: registration, lookup, profile and password changes, and avatars (recorded in
//! the files module as the account's own uploads, so that only those are ever deleted).

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait,
};
use validator::ValidateEmail;

use super::account_states::AccountStates;
use super::entity::{self, Entity as Users, Model as User, STATUS_ACTIVE};
use crate::bus::{DomainEvent, EventBus, Realm};
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::modules::auth::AccountAuthState;
use crate::modules::files::{self, storage};
use crate::modules::{counselors, rbac};
use crate::state::AppState;

pub const MSG_NOT_FOUND: &str = "用户不存在";
pub const MSG_USERNAME_TAKEN: &str = "用户名已存在";
pub const MSG_EMAIL_TAKEN: &str = "邮箱已被使用";

pub const MSG_USERNAME_LENGTH: &str = "用户名长度为3-50个字符";

/// The one spelling of a username: NFKC-normalized (full-width and compatibility forms fold to their
/// plain letters), trimmed, then 3–50 characters, with no control, format (zero-width, bidi override)
/// or other invisible characters, so two names that look alike are one name.
///
/// # Errors
/// 400 `参数错误: username: ...` for a name outside those rules.
pub fn normalize_username(raw: &str) -> AppResult<String> {
    use unicode_normalization::UnicodeNormalization;
    let name: String = raw.nfkc().collect::<String>().trim().to_owned();
    if !(3..=50).contains(&name.chars().count()) {
        return Err(AppError::invalid_input(format!(
            "参数错误: username: {MSG_USERNAME_LENGTH}"
        )));
    }
    if name.chars().any(is_invisible) {
        return Err(AppError::invalid_input(
            "参数错误: username: 用户名不能包含控制字符或不可见字符",
        ));
    }
    Ok(name)
}

/// Control characters, and the format characters that change how text shows without showing
/// themselves: zero-width spaces and joiners, bidi embeddings/overrides/isolates, the word joiner and
/// invisible operators, the BOM, the soft hyphen.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// Trims and turns an empty email into `None`, after checking its format.
pub fn normalize_email(email: &str) -> AppResult<Option<String>> {
    let email = email.trim();
    if email.is_empty() {
        return Ok(None);
    }
    if !email.validate_email() {
        return Err(AppError::invalid_input("参数错误: email: 邮箱格式不正确"));
    }
    Ok(Some(email.to_owned()))
}

/// A phone number is optional; when given it is 11 digits (the client's `1[3-9]xxxxxxxxx`).
pub fn normalize_phone(phone: &str) -> AppResult<String> {
    let phone = phone.trim();
    if phone.is_empty() || (phone.len() == 11 && phone.chars().all(|c| c.is_ascii_digit())) {
        Ok(phone.to_owned())
    } else {
        Err(AppError::invalid_input(
            "参数错误: phone: 手机号应为11位数字",
        ))
    }
}

pub async fn find_active<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<Option<User>> {
    Ok(Users::find_by_id(id)
        .filter(entity::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

pub async fn get_active<C: ConnectionTrait>(db: &C, id: i64) -> AppResult<User> {
    find_active(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(MSG_NOT_FOUND))
}

/// The live account a login names. Names are unique ignoring case, so the match ignores case too
/// (after NFKC); an exact match wins should older data hold two names differing only in case.
pub async fn find_by_username<C: ConnectionTrait>(
    db: &C,
    username: &str,
) -> AppResult<Option<User>> {
    use unicode_normalization::UnicodeNormalization;
    let username: String = username.nfkc().collect::<String>().trim().to_owned();
    let mut found = Users::find()
        .filter(username_matches(&username))
        .filter(entity::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    if let Some(exact) = found.iter().position(|u| u.username == username) {
        return Ok(Some(found.swap_remove(exact)));
    }
    Ok((found.len() == 1).then(|| found.swap_remove(0)))
}

/// `LOWER(username) = lower(name)`. SQL `LOWER` folds ASCII letters on every back end (SQLite only
/// those), so the name is lowered the same way.
fn username_matches(name: &str) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::Func;
    Expr::expr(Func::lower(Expr::col(entity::Column::Username))).eq(name.to_ascii_lowercase())
}

/// What a user token's check needs about account `id` (`None` when it is gone): from this instance's
/// short-lived copy while it hears every account change (see [`super::account_states`]), else from
/// the database.
pub async fn auth_state(state: &AppState, id: i64) -> AppResult<Option<AccountAuthState>> {
    let cached = state.bus.is_listening();
    if cached && let Some(kept) = state.account_states.get(id) {
        return Ok(Some(kept));
    }
    let ticket = state.account_states.ticket();
    let read = read_auth_state(&state.db, id).await?;
    if cached && let Some(read) = &read {
        state.account_states.keep(id, read, ticket);
    }
    Ok(read)
}

async fn read_auth_state(db: &DatabaseConnection, id: i64) -> AppResult<Option<AccountAuthState>> {
    use entity::Column as C;
    // Only what the check needs: it runs on every authenticated request, and the whole row carries
    // the password hash.
    let row: Option<(String, i32, i64)> = Users::find_by_id(id)
        .select_only()
        .columns([C::Username, C::Status, C::TokensValidAfter])
        .filter(C::DeletedAt.is_null())
        .into_tuple()
        .one(db)
        .await?;
    Ok(
        row.map(|(username, status, tokens_valid_after)| AccountAuthState {
            enabled: status == STATUS_ACTIVE,
            username,
            tokens_valid_after,
        }),
    )
}

pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub email: Option<String>,
    pub phone: String,
    pub avatar: String,
    /// 1 active; the console may create a disabled (0) account.
    pub status: i32,
}

/// Creates a user (by registration or from the console) and announces it, in one transaction. The name
/// is normalized first ([`normalize_username`]).
///
/// # Errors
/// 400 for a bad name; 400 `用户名已存在` when the name is taken ignoring case (also by a deleted
/// account); 409 when the email is.
pub async fn register(
    db: &DatabaseConnection,
    bus: &EventBus,
    mut new: NewUser,
) -> AppResult<User> {
    new.username = normalize_username(&new.username)?;
    let taken = Users::find()
        .filter(username_matches(&new.username))
        .one(db)
        .await?
        .is_some();
    if taken {
        return Err(AppError::bad_request(MSG_USERNAME_TAKEN));
    }
    ensure_email_free(db, new.email.as_deref(), None).await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let user = entity::ActiveModel {
        username: Set(new.username.clone()),
        password: Set(new.password_hash),
        email: Set(new.email),
        phone: Set(new.phone),
        avatar: Set(new.avatar),
        balance: Set(0),
        status: Set(new.status),
        is_admin: Set(false),
        tokens_valid_after: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            AppError::bad_request(MSG_USERNAME_TAKEN)
        } else {
            e.into()
        }
    })?;
    EventBus::record(
        &txn,
        &DomainEvent::UserRegistered {
            user_id: user.id,
            username: user.username.clone(),
        },
    )
    .await?;
    txn.commit().await?;
    bus.notify();
    Ok(user)
}

async fn ensure_email_free<C: ConnectionTrait>(
    db: &C,
    email: Option<&str>,
    except_user: Option<i64>,
) -> AppResult<()> {
    let Some(email) = email else { return Ok(()) };
    let mut query = Users::find().filter(entity::Column::Email.eq(email));
    if let Some(id) = except_user {
        query = query.filter(entity::Column::Id.ne(id));
    }
    if query.one(db).await?.is_some() {
        return Err(AppError::conflict(MSG_EMAIL_TAKEN));
    }
    Ok(())
}

pub struct ProfileChange {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub avatar: Option<String>,
}

/// Applies the non-empty fields of a profile change.
pub async fn update_profile(
    db: &DatabaseConnection,
    user_id: i64,
    change: ProfileChange,
) -> AppResult<()> {
    if change.email.is_none() && change.phone.is_none() && change.avatar.is_none() {
        return Err(AppError::bad_request("没有需要更新的字段"));
    }
    let user = get_active(db, user_id).await?;
    ensure_email_free(db, change.email.as_deref(), Some(user_id)).await?;
    let mut active: entity::ActiveModel = user.into();
    if let Some(email) = change.email {
        active.email = Set(Some(email));
    }
    if let Some(phone) = change.phone {
        active.phone = Set(phone);
    }
    if let Some(avatar) = change.avatar {
        active.avatar = Set(avatar);
    }
    active.updated_at = Set(Utc::now());
    active.update(db).await.map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict(MSG_EMAIL_TAKEN)
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Replaces the password hash and voids every token issued before now, announcing it.
pub async fn set_password(
    db: &DatabaseConnection,
    bus: &EventBus,
    states: &AccountStates,
    user_id: i64,
    password_hash: String,
) -> AppResult<()> {
    let user = get_active(db, user_id).await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let mut active: entity::ActiveModel = user.into();
    active.password = Set(password_hash);
    active.tokens_valid_after = Set(now.timestamp_millis());
    active.updated_at = Set(now);
    active.update(&txn).await?;
    EventBus::record(
        &txn,
        &DomainEvent::PasswordChanged {
            realm: Realm::User,
            account_id: user_id,
        },
    )
    .await?;
    txn.commit().await?;
    states.forget(user_id);
    bus.notify();
    Ok(())
}

pub const MSG_AVATAR_NOT_OWN: &str = "参数错误: avatar: 只能使用自己上传的图片";

/// What `PUT /api/user/profile` may set as the avatar: the current one, or an image this account
/// uploaded itself. Naming someone else's upload is refused: it is theirs to show and to delete.
///
/// # Errors
/// 400 [`MSG_AVATAR_NOT_OWN`].
pub async fn check_avatar_choice(state: &AppState, user_id: i64, url: String) -> AppResult<String> {
    let user = get_active(&state.db, user_id).await?;
    if user.avatar == url {
        return Ok(url);
    }
    match files::service::owned_file_at(state, user_id, &url).await? {
        Some(file) if file.mime_type.starts_with("image/") => Ok(url),
        _ => Err(AppError::invalid_input(MSG_AVATAR_NOT_OWN)),
    }
}

/// `POST /api/upload/avatar`: stores and records the image as this account's, makes it the avatar,
/// and removes the previous avatar only if it is an avatar upload of this same account that no other
/// account shows. Returns the new URL.
pub async fn replace_avatar(
    state: &AppState,
    user_id: i64,
    file: storage::UploadedFile,
    sniffed: storage::Sniffed,
) -> AppResult<String> {
    let uploads = state.settings.uploads_dir();
    let stored = storage::store(&uploads, "avatars", sniffed.extension, &file.bytes).await?;
    let record = files::service::Record {
        uploader_id: user_id,
        original_name: file.original_name,
        file_type: "avatar".into(),
        relation_type: files::service::RELATION_AVATAR.into(),
        relation_id: Some(user_id),
    };
    let recorded = files::service::record_stored(state, record, &stored, sniffed.mime).await?;
    let previous = match set_avatar(&state.db, user_id, &stored.url).await {
        Ok(previous) => previous,
        Err(e) => {
            if let Err(e) = files::service::discard(state, &recorded).await {
                tracing::warn!(error.cause_chain = ?e, "cannot discard an unused avatar upload");
            }
            return Err(e);
        }
    };
    release_avatar(state, user_id, &previous).await?;
    Ok(stored.url)
}

/// Deletes a former avatar when it is safe: an avatar upload of `user_id`, shown by no account now.
async fn release_avatar(state: &AppState, user_id: i64, url: &str) -> AppResult<()> {
    if url.is_empty() {
        return Ok(());
    }
    let Some(file) = files::service::owned_file_at(state, user_id, url).await? else {
        return Ok(());
    };
    if file.relation_type != files::service::RELATION_AVATAR {
        return Ok(());
    }
    let shown = Users::find()
        .filter(entity::Column::Avatar.eq(url))
        .one(&state.db)
        .await?
        .is_some()
        || counselors::service::shows_avatar(&state.db, url).await?
        || rbac::service::shows_avatar(&state.db, url).await?;
    if !shown {
        files::service::discard(state, &file).await?;
    }
    Ok(())
}

/// Sets the avatar URL and returns the previous one.
async fn set_avatar(db: &DatabaseConnection, user_id: i64, url: &str) -> AppResult<String> {
    let user = get_active(db, user_id).await?;
    let previous = user.avatar.clone();
    let mut active: entity::ActiveModel = user.into();
    active.avatar = Set(url.to_owned());
    active.updated_at = Set(Utc::now());
    active.update(db).await?;
    Ok(previous)
}

/// Ids of users whose name contains `keyword` (escaped), at most `limit`.
pub async fn ids_matching(
    db: &DatabaseConnection,
    keyword: &str,
    limit: u64,
) -> AppResult<Vec<i64>> {
    use sea_orm::sea_query::ExprTrait;
    use sea_orm::{QuerySelect, sea_query::Expr};
    Ok(Users::find()
        .select_only()
        .column(entity::Column::Id)
        .filter(Expr::col(entity::Column::Username).like(crate::db::like_pattern(keyword)))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?)
}

/// The users among `ids` (deleted ones included, so old records still show who wrote them), by id.
pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, User>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    Ok(Users::find()
        .filter(entity::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect())
}

/// Adds `amount` fen to the balance with a conditional SQL update (never read-modify-write) and returns
/// the new balance. Only the wallet calls this, inside its ledger transaction.
///
/// # Errors
/// 404 when the user does not exist.
pub async fn credit_balance<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    amount: i64,
) -> AppResult<i64> {
    let res = Users::update_many()
        .col_expr(
            entity::Column::Balance,
            Expr::col(entity::Column::Balance).add(amount),
        )
        .filter(entity::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::not_found(MSG_NOT_FOUND));
    }
    balance_of(db, user_id).await
}

/// Takes `amount` fen from the balance only if it covers it (`WHERE balance >= amount`). Returns the
/// new balance, or `None` when the balance is short. Only the wallet calls this.
pub async fn debit_balance<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    amount: i64,
) -> AppResult<Option<i64>> {
    let res = Users::update_many()
        .col_expr(
            entity::Column::Balance,
            Expr::col(entity::Column::Balance).sub(amount),
        )
        .filter(entity::Column::Id.eq(user_id))
        .filter(entity::Column::Balance.gte(amount))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    Ok(Some(balance_of(db, user_id).await?))
}

/// The wallet balance in fen.
pub async fn balance_of<C: ConnectionTrait>(db: &C, user_id: i64) -> AppResult<i64> {
    Users::find_by_id(user_id)
        .one(db)
        .await?
        .map(|u| u.balance)
        .ok_or_else(|| AppError::not_found(MSG_NOT_FOUND))
}

/// Users for the console (deleted ones excluded), newest first.
pub async fn admin_list(
    db: &DatabaseConnection,
    keyword: Option<&str>,
    status: Option<i32>,
    page: &crate::http::Pagination,
) -> AppResult<(Vec<User>, u64)> {
    use crate::db::like_pattern as like_contains;
    use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
    let mut query = Users::find().filter(entity::Column::DeletedAt.is_null());
    if let Some(kw) = keyword.map(str::trim).filter(|k| !k.is_empty()) {
        query = query.filter(
            sea_orm::Condition::any()
                .add(entity::Column::Username.like(like_contains(kw)))
                .add(entity::Column::Email.like(like_contains(kw)))
                .add(entity::Column::Phone.like(like_contains(kw))),
        );
    }
    if let Some(status) = status {
        query = query.filter(entity::Column::Status.eq(status));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(entity::Column::CreatedAt)
        .order_by_desc(entity::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(db)
        .await?;
    Ok((rows, total))
}

pub struct AdminUserChange {
    pub email: Option<Option<String>>,
    pub phone: Option<String>,
    pub avatar: Option<String>,
    pub status: Option<i32>,
}

/// Applies a console edit; disabling announces `AccountDisabled` (the next request of the user fails).
pub async fn admin_update(
    db: &DatabaseConnection,
    bus: &EventBus,
    states: &AccountStates,
    id: i64,
    change: AdminUserChange,
) -> AppResult<User> {
    if change.email.is_none()
        && change.phone.is_none()
        && change.avatar.is_none()
        && change.status.is_none()
    {
        return Err(AppError::bad_request("没有需要更新的字段"));
    }
    let user = get_active(db, id).await?;
    if let Some(email) = &change.email {
        ensure_email_free(db, email.as_deref(), Some(id)).await?;
    }
    let disabling = change.status == Some(0) && user.status != 0;
    let txn = db.begin().await?;
    let mut active: entity::ActiveModel = user.into();
    if let Some(v) = change.email {
        active.email = Set(v);
    }
    if let Some(v) = change.phone {
        active.phone = Set(v);
    }
    if let Some(v) = change.avatar {
        active.avatar = Set(v);
    }
    if let Some(v) = change.status {
        active.status = Set(v);
    }
    active.updated_at = Set(Utc::now());
    let user = active.update(&txn).await.map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict(MSG_EMAIL_TAKEN)
        } else {
            e.into()
        }
    })?;
    if disabling {
        EventBus::record(&txn, &DomainEvent::account_disabled(Realm::User, id)).await?;
    }
    txn.commit().await?;
    // Whatever the status read before the update said: another console may have enabled the
    // account meanwhile.
    if change.status == Some(0) {
        states.forget(id);
    }
    bus.notify();
    Ok(user)
}

/// Soft delete: the row stays (orders reference it), the account is gone for login and lists.
pub async fn admin_soft_delete(
    db: &DatabaseConnection,
    bus: &EventBus,
    states: &AccountStates,
    id: i64,
) -> AppResult<()> {
    let user = get_active(db, id).await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let mut active: entity::ActiveModel = user.into();
    active.deleted_at = Set(Some(now));
    active.updated_at = Set(now);
    active.update(&txn).await?;
    EventBus::record(&txn, &DomainEvent::account_disabled(Realm::User, id)).await?;
    txn.commit().await?;
    states.forget(id);
    bus.notify();
    Ok(())
}

/// The username an erased account keeps: unique, and nothing about the person.
pub fn erased_username(id: i64) -> String {
    format!("deleted_{id}")
}

/// Erases an account's personal data (`POST /api/user/delete`): the username becomes
/// [`erased_username`], email, phone, avatar and the password hash are emptied (no password can match
/// an empty hash), and the account is disabled and marked deleted, announcing `AccountDisabled` (every
/// token stops working and every socket closes). The row stays: orders, payments and the wallet ledger
/// refer to it, and its `balance` is a money record.
pub async fn erase_account(
    db: &DatabaseConnection,
    bus: &EventBus,
    states: &AccountStates,
    id: i64,
) -> AppResult<()> {
    let user = get_active(db, id).await?;
    let now = Utc::now();
    let txn = db.begin().await?;
    let mut active: entity::ActiveModel = user.into();
    active.username = Set(erased_username(id));
    active.email = Set(None);
    active.phone = Set(String::new());
    active.avatar = Set(String::new());
    active.password = Set(String::new());
    active.status = Set(0);
    active.tokens_valid_after = Set(now.timestamp_millis());
    active.deleted_at = Set(Some(now));
    active.updated_at = Set(now);
    active.update(&txn).await?;
    EventBus::record(&txn, &DomainEvent::account_disabled(Realm::User, id)).await?;
    txn.commit().await?;
    states.forget(id);
    bus.notify();
    Ok(())
}
