//! Rules for recorded uploads (`files`): what may be uploaded, who may read a file, and deletion that
//! really removes it. Other modules record files they store here too (avatars: [`RELATION_AVATAR`]).
//! The name a chat file (relation `session`/`message`) was uploaded under is sealed at rest with the
//! chat keys, bound to the file's stored path; [`open_file`] is the one way it is read back.

use actix_multipart::Multipart;
use async_trait::async_trait;
use chrono::Utc;
use futures_util::TryStreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::entity::{self, Model as File, STATUS_DELETED, STATUS_NORMAL};
use super::storage::{self, Sniffed};
use crate::error::{AppError, AppResult};
use crate::modules::chat::crypto;
use crate::state::AppState;

pub const MSG_NOT_FOUND: &str = "文件不存在";
pub const MSG_TYPE_REFUSED: &str = "文件类型不支持";

/// The `file_type` values (user_api.md §4.6). Anything else is refused: it names a directory.
pub const FILE_TYPES: &[&str] = &["avatar", "document", "image", "audio", "video", "other"];

/// Content types accepted by `POST /api/upload`, by what the bytes are.
const ALLOWED_MIME: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/zip",
    "audio/mpeg",
    "audio/x-wav",
    "audio/wav",
    "audio/mp4",
    "video/mp4",
    "video/quicktime",
    "video/x-msvideo",
    "text/plain",
];

/// Sniffs an upload: known binary formats by magic number, otherwise UTF-8 text without control
/// characters is plain text. Executables, HTML and the like are refused.
pub fn sniff_upload(bytes: &[u8]) -> AppResult<Sniffed> {
    let sniffed = storage::sniff(bytes).or_else(|| {
        let text = std::str::from_utf8(bytes).ok()?;
        let plain = text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
        let markup = text.trim_start().starts_with('<');
        (plain && !markup).then_some(Sniffed {
            mime: "text/plain",
            extension: "txt",
        })
    });
    let sniffed = sniffed
        .filter(|s| ALLOWED_MIME.contains(&s.mime))
        .ok_or_else(|| AppError::bad_request(MSG_TYPE_REFUSED))?;
    storage::refuse_active_content(sniffed, bytes)?;
    Ok(sniffed)
}

/// The parts of an upload form.
pub struct UploadForm {
    pub original_name: String,
    pub bytes: Vec<u8>,
    pub file_type: String,
    pub relation_type: String,
    pub relation_id: Option<i64>,
}

const MAX_TEXT_FIELD: usize = 1024;

/// Reads `file`, `file_type`, `relation_type` and `relation_id` from a multipart body.
pub async fn read_upload_form(mut payload: Multipart, max_bytes: usize) -> AppResult<UploadForm> {
    let bad =
        |e: actix_multipart::MultipartError| AppError::invalid_input(format!("文件上传失败: {e}"));
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    while let Some(mut field) = payload.try_next().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" && file.is_none() {
            let original = field
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(|n| {
                    let last = n.rsplit(['/', '\\']).next().unwrap_or_default();
                    last.chars().filter(|c| !c.is_control()).take(200).collect()
                })
                .unwrap_or_default();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.try_next().await.map_err(bad)? {
                if bytes.len() + chunk.len() > max_bytes {
                    return Err(AppError::bad_request(format!(
                        "文件大小不能超过{}MB",
                        max_bytes / (1024 * 1024)
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            file = Some((original, bytes));
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.try_next().await.map_err(bad)? {
                if value.len() + chunk.len() > MAX_TEXT_FIELD {
                    return Err(AppError::invalid_input(format!("参数错误: {name} 过长")));
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value)
                .map_err(|_| AppError::invalid_input(format!("参数错误: {name} 不是文本")))?;
            fields.push((name, value.trim().to_owned()));
        }
    }
    let (original_name, bytes) = file.ok_or_else(|| AppError::bad_request("请选择文件"))?;
    if bytes.is_empty() {
        return Err(AppError::bad_request("文件内容为空"));
    }
    let field = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let file_type = match field("file_type") {
        t if t.is_empty() => "other".to_owned(),
        t if FILE_TYPES.contains(&t.as_str()) => t,
        _ => {
            return Err(AppError::invalid_input(
                "参数错误: file_type 应为 avatar、document、image、audio、video 或 other",
            ));
        }
    };
    let relation_type = field("relation_type");
    if relation_type.chars().count() > 50 {
        return Err(AppError::invalid_input("参数错误: relation_type 过长"));
    }
    let relation_id = match field("relation_id") {
        id if id.is_empty() => None,
        id => match id.parse::<i64>() {
            Ok(0) => None,
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(AppError::invalid_input(
                    "参数错误: relation_id 应为非负整数",
                ));
            }
        },
    };
    Ok(UploadForm {
        original_name,
        bytes,
        file_type,
        relation_type,
        relation_id,
    })
}

/// Stores an upload under `<uploads>/<file_type>/<random>.<ext>` and records it.
pub async fn upload(state: &AppState, uploader_id: i64, form: UploadForm) -> AppResult<File> {
    let sniffed = sniff_upload(&form.bytes)?;
    let stored = storage::store(
        &state.settings.uploads_dir(),
        &form.file_type,
        sniffed.extension,
        &form.bytes,
    )
    .await?;
    let record = Record {
        uploader_id,
        original_name: form.original_name,
        file_type: form.file_type,
        relation_type: form.relation_type,
        relation_id: form.relation_id,
    };
    record_stored(state, record, &stored, sniffed.mime).await
}

/// Who stored a file and what it belongs to.
pub struct Record {
    pub uploader_id: i64,
    pub original_name: String,
    pub file_type: String,
    pub relation_type: String,
    pub relation_id: Option<i64>,
}

/// `relation_type` of an account's avatar upload (`relation_id` the account).
pub const RELATION_AVATAR: &str = "avatar";

/// Records a file already written by [`storage::store`]; the bytes are removed if recording fails.
pub async fn record_stored(
    state: &AppState,
    record: Record,
    stored: &storage::StoredFile,
    mime: &str,
) -> AppResult<File> {
    let file_name = stored
        .relative_path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let now = Utc::now();
    let plain_name = record.original_name.clone();
    let (original_name, name_key_id) = if is_chat_file(&record.relation_type) {
        let sealed = state
            .chat_keys
            .seal(
                record.original_name.as_bytes(),
                &crypto::file_name_ad(&stored.relative_path),
            )
            .map_err(|e| {
                AppError::Internal(anyhow::Error::new(e).context("sealing a file name"))
            })?;
        (sealed.text, Some(sealed.key_id))
    } else {
        (record.original_name, None)
    };
    let inserted = entity::ActiveModel {
        file_name: Set(file_name),
        original_name: Set(original_name),
        name_key_id: Set(name_key_id),
        file_type: Set(record.file_type),
        file_path: Set(stored.relative_path.clone()),
        file_url: Set(stored.url.clone()),
        file_size: Set(i64::try_from(stored.size).unwrap_or(i64::MAX)),
        mime_type: Set(mime.to_owned()),
        uploader_id: Set(record.uploader_id),
        relation_id: Set(record.relation_id),
        relation_type: Set(record.relation_type),
        status: Set(STATUS_NORMAL),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await;
    match inserted {
        Ok(file) => Ok(File {
            original_name: plain_name,
            ..file
        }),
        Err(e) => {
            storage::remove(&state.settings.uploads_dir(), &stored.url).await;
            Err(e.into())
        }
    }
}

/// Whether files of `relation_type` belong to a chat (their names are sealed at rest).
pub fn is_chat_file(relation_type: &str) -> bool {
    matches!(relation_type, "session" | "message")
}

/// Shown in place of a file name that does not open; the cause is logged.
pub const UNREADABLE_NAME: &str = "[无法解密的文件名]";

/// The one way a stored file's `original_name` becomes readable: a sealed chat file name (`name_key_id`
/// set) is opened with its key and stored path; any other name is returned as it is.
pub fn open_file(keys: &crypto::Keyring, mut file: File) -> File {
    if let Some(key_id) = file.name_key_id {
        match keys.open_text(
            key_id,
            &file.original_name,
            &crypto::file_name_ad(&file.file_path),
        ) {
            Ok(name) => file.original_name = name,
            Err(e) => {
                tracing::error!(file_id = file.id, key_id, error = %e, "a chat file name does not decrypt");
                file.original_name = UNREADABLE_NAME.to_owned();
            }
        }
    }
    file
}

/// The live file at `url` that `owner_id` uploaded, if any.
pub async fn owned_file_at(state: &AppState, owner_id: i64, url: &str) -> AppResult<Option<File>> {
    Ok(entity::Entity::find()
        .filter(entity::Column::FileUrl.eq(url))
        .filter(entity::Column::UploaderId.eq(owner_id))
        .filter(entity::Column::Status.eq(STATUS_NORMAL))
        .one(&state.db)
        .await?
        .map(|f| open_file(&state.chat_keys, f)))
}

/// A file that exists and is not deleted.
pub async fn get_live_file(state: &AppState, id: i64) -> AppResult<File> {
    entity::Entity::find_by_id(id)
        .filter(entity::Column::Status.eq(STATUS_NORMAL))
        .one(&state.db)
        .await?
        .map(|f| open_file(&state.chat_keys, f))
        .ok_or_else(|| AppError::not_found(MSG_NOT_FOUND))
}

/// Seals with the active chat key up to `batch` chat file names after id `after_id` that are plaintext
/// or sealed with another key, in one transaction (`mychat admin rotate-chat-key`; see
/// `chat::service::reseal_messages`, whose report it shares).
pub async fn reseal_file_names(
    state: &AppState,
    after_id: i64,
    batch: u64,
) -> AppResult<crate::modules::chat::service::Resealed> {
    let keys = &state.chat_keys;
    let active = keys.active_id();
    let txn = crate::db::begin_read_then_write(&state.db).await?;
    let rows = entity::Entity::find()
        .filter(entity::Column::Id.gt(after_id))
        .filter(entity::Column::RelationType.is_in(["session", "message"]))
        .filter(
            Condition::any()
                .add(entity::Column::NameKeyId.is_null())
                .add(entity::Column::NameKeyId.ne(active)),
        )
        .order_by_asc(entity::Column::Id)
        .limit(batch)
        .all(&txn)
        .await?;
    let mut done = crate::modules::chat::service::Resealed {
        last_id: after_id,
        rows: rows.len() as u64,
        ..Default::default()
    };
    for row in rows {
        done.last_id = row.id;
        let ad = crypto::file_name_ad(&row.file_path);
        let plain = match row.name_key_id {
            None => row.original_name.clone(),
            Some(key_id) => match keys.open_text(key_id, &row.original_name, &ad) {
                Ok(plain) => plain,
                Err(e) => {
                    tracing::error!(file_id = row.id, key_id, error = %e, "a chat file name does not decrypt; left as it is");
                    done.failed += 1;
                    continue;
                }
            },
        };
        let sealed = keys.seal(plain.as_bytes(), &ad).map_err(|e| {
            AppError::Internal(anyhow::Error::new(e).context("sealing a file name"))
        })?;
        let same_key = match row.name_key_id {
            Some(key_id) => entity::Column::NameKeyId.eq(key_id),
            None => entity::Column::NameKeyId.is_null(),
        };
        let updated = entity::Entity::update_many()
            .col_expr(entity::Column::OriginalName, Expr::value(sealed.text))
            .col_expr(entity::Column::NameKeyId, Expr::value(sealed.key_id))
            .filter(entity::Column::Id.eq(row.id))
            .filter(entity::Column::OriginalName.eq(row.original_name))
            .filter(same_key)
            .exec(&txn)
            .await?;
        done.resealed += updated.rows_affected;
    }
    txn.commit().await?;
    Ok(done)
}

/// Decides whether someone other than the owner may read a file that belongs to something (its
/// `relation_type`/`relation_id`). One hook per relation type; see [`sharing_hook`].
#[async_trait]
pub trait FileAccess: Send + Sync {
    async fn can_read(&self, state: &AppState, user_id: i64, file: &File) -> AppResult<bool>;
}

/// Files shared in a chat (`relation_type` `session` or `message`, `relation_id` the session or message
/// id) are readable by both members of that session; the chat module decides who they are.
pub struct ChatFileAccess;

#[async_trait]
impl FileAccess for ChatFileAccess {
    async fn can_read(&self, state: &AppState, user_id: i64, file: &File) -> AppResult<bool> {
        let Some(relation_id) = file.relation_id else {
            return Ok(false);
        };
        let relation = match file.relation_type.as_str() {
            "session" => crate::modules::chat::service::SharedIn::Session(relation_id),
            "message" => crate::modules::chat::service::SharedIn::Message(relation_id),
            _ => return Ok(false),
        };
        crate::modules::chat::service::takes_part_in(&state.db, user_id, relation).await
    }
}

/// The hook that rules on files of `relation_type`, if any.
fn sharing_hook(relation_type: &str) -> Option<&'static dyn FileAccess> {
    match relation_type {
        r if is_chat_file(r) => Some(&ChatFileAccess),
        _ => None,
    }
}

/// Whether user `user_id` may read `file`: its owner always; others only through the hook of the file's
/// relation type.
pub async fn can_read(state: &AppState, user_id: i64, file: &File) -> AppResult<bool> {
    if file.uploader_id == user_id {
        return Ok(true);
    }
    match sharing_hook(&file.relation_type) {
        Some(hook) => hook.can_read(state, user_id, file).await,
        None => Ok(false),
    }
}

/// `GET /api/file/:id`.
///
/// # Errors
/// 404 unknown or deleted; 403 not readable by the caller.
pub async fn read_file(state: &AppState, user_id: i64, id: i64) -> AppResult<File> {
    let file = get_live_file(state, id).await?;
    if !can_read(state, user_id, &file).await? {
        return Err(AppError::forbidden("无权访问此文件"));
    }
    Ok(file)
}

/// `DELETE /api/file/:id`: the owner only. Marks the row deleted (status 0) and removes the bytes.
pub async fn delete_file(state: &AppState, user_id: i64, id: i64) -> AppResult<()> {
    let file = get_live_file(state, id).await?;
    if file.uploader_id != user_id {
        return Err(AppError::forbidden("无权删除此文件"));
    }
    discard(state, &file).await
}

/// Marks a live file deleted and removes its bytes. The caller has decided that it may go.
///
/// # Errors
/// 404 when it was deleted meanwhile.
pub async fn discard(state: &AppState, file: &File) -> AppResult<()> {
    let result = entity::Entity::update_many()
        .col_expr(entity::Column::Status, Expr::value(STATUS_DELETED))
        .col_expr(entity::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(entity::Column::Id.eq(file.id))
        .filter(entity::Column::Status.eq(STATUS_NORMAL))
        .exec(&state.db)
        .await?;
    if result.rows_affected == 0 {
        return Err(AppError::not_found(MSG_NOT_FOUND));
    }
    storage::remove(&state.settings.uploads_dir(), &file.file_url).await;
    Ok(())
}

/// `relation_type`s of files shared in a chat.
pub const CHAT_RELATIONS: [&str; 2] = ["session", "message"];

fn chat_files_before(cutoff: chrono::DateTime<Utc>) -> sea_orm::Select<entity::Entity> {
    entity::Entity::find()
        .filter(entity::Column::Status.eq(STATUS_NORMAL))
        .filter(entity::Column::RelationType.is_in(CHAT_RELATIONS))
        .filter(entity::Column::CreatedAt.lt(cutoff))
}

/// How many live chat files a retention purge at `cutoff` would remove (the dry run).
pub async fn purgeable_chat_files(
    state: &AppState,
    cutoff: chrono::DateTime<Utc>,
) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(chat_files_before(cutoff).count(&state.db).await?)
}

/// Removes up to `limit` chat files older than `cutoff` (row marked deleted, bytes removed); returns how
/// many. Call until it returns less than `limit`.
pub async fn purge_chat_files(
    state: &AppState,
    cutoff: chrono::DateTime<Utc>,
    limit: u64,
) -> AppResult<u64> {
    use sea_orm::{QueryOrder, QuerySelect};
    let batch = chat_files_before(cutoff)
        .order_by_asc(entity::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok(discard_all(state, &batch).await)
}

/// Discards each file; one removed meanwhile (by another instance, or its owner) is skipped.
async fn discard_all(state: &AppState, files: &[File]) -> u64 {
    let mut removed = 0;
    for file in files {
        match discard(state, file).await {
            Ok(()) => removed += 1,
            Err(AppError::NotFound(_)) => {}
            Err(e) => {
                tracing::warn!(error.cause_chain = ?e, file_id = file.id, "file removal failed")
            }
        }
    }
    removed
}

/// Live files `user_id` uploaded (metadata with their names opened, for the user's export).
pub async fn files_of(state: &AppState, user_id: i64) -> AppResult<Vec<File>> {
    use sea_orm::QueryOrder;
    let rows = entity::Entity::find()
        .filter(entity::Column::UploaderId.eq(user_id))
        .filter(entity::Column::Status.eq(STATUS_NORMAL))
        .order_by_asc(entity::Column::Id)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|f| open_file(&state.chat_keys, f))
        .collect())
}

/// An account's erasure: removes every live file it uploaded (avatars included), and every file shared
/// in the chat sessions and messages being erased with it. Returns how many.
pub async fn erase_files(
    state: &AppState,
    user_id: i64,
    session_ids: &[i64],
    message_ids: &[i64],
) -> AppResult<u64> {
    let mut removed = discard_all(state, &files_of(state, user_id).await?).await;
    let chat = sea_orm::Condition::any()
        .add(
            sea_orm::Condition::all()
                .add(entity::Column::RelationType.eq("session"))
                .add(entity::Column::RelationId.is_in(session_ids.iter().copied())),
        )
        .add(
            sea_orm::Condition::all()
                .add(entity::Column::RelationType.eq("message"))
                .add(entity::Column::RelationId.is_in(message_ids.iter().copied())),
        );
    if !session_ids.is_empty() || !message_ids.is_empty() {
        let shared = entity::Entity::find()
            .filter(entity::Column::Status.eq(STATUS_NORMAL))
            .filter(chat)
            .all(&state.db)
            .await?;
        removed += discard_all(state, &shared).await;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_judged_by_their_bytes() {
        assert_eq!(sniff_upload(b"hello\nworld").unwrap().mime, "text/plain");
        assert!(sniff_upload(b"<html><script>x</script></html>").is_err());
        assert!(sniff_upload(b"MZ\x90\x00\x03\x00\x00\x00").is_err());
        assert!(sniff_upload(&[0u8, 1, 2, 3]).is_err());
        assert_eq!(
            sniff_upload(b"%PDF-1.4\n%...").unwrap().mime,
            "application/pdf"
        );
    }
}
