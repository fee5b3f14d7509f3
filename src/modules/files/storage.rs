//! Upload reading and storage. Types come from the bytes (magic numbers), never from the client's
//! Content-Type or file name; stored names are random.

use std::path::{Component, Path, PathBuf};

use actix_multipart::Multipart;
use futures_util::TryStreamExt;

use crate::error::{AppError, AppResult};

/// One file read from a multipart body.
pub struct UploadedFile {
    pub original_name: String,
    pub bytes: Vec<u8>,
}

/// Reads the multipart field `field_name`, refusing more than `max_bytes`.
/// Other fields are skipped.
pub async fn read_file_field(
    mut payload: Multipart,
    field_name: &str,
    max_bytes: usize,
    too_large_msg: &str,
) -> AppResult<UploadedFile> {
    let bad =
        |e: actix_multipart::MultipartError| AppError::invalid_input(format!("文件上传失败: {e}"));
    while let Some(mut field) = payload.try_next().await.map_err(bad)? {
        if field.name() != Some(field_name) {
            while field.try_next().await.map_err(bad)?.is_some() {}
            continue;
        }
        let original_name = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(sanitize_original_name)
            .unwrap_or_default();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(bad)? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(AppError::bad_request(too_large_msg));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Err(AppError::bad_request("文件内容为空"));
        }
        return Ok(UploadedFile {
            original_name,
            bytes,
        });
    }
    Err(AppError::invalid_input(format!(
        "文件上传失败: 缺少文件字段 {field_name}"
    )))
}

/// Keeps only the last path segment of a client file name, without control characters.
fn sanitize_original_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    last.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// A detected content type and the extension we store it under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub mime: &'static str,
    pub extension: &'static str,
}

/// Detects the type from the first bytes.
pub fn sniff(bytes: &[u8]) -> Option<Sniffed> {
    let kind = infer::get(bytes)?;
    Some(Sniffed {
        mime: kind.mime_type(),
        extension: kind.extension(),
    })
}

pub const JPEG_PNG: &[&str] = &["image/jpeg", "image/png"];
pub const WEB_IMAGES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/gif"];

/// Sniffs `bytes` and accepts only the listed MIME types.
pub fn sniff_allowed(bytes: &[u8], allowed: &[&str], refusal: &str) -> AppResult<Sniffed> {
    sniff(bytes)
        .filter(|s| allowed.contains(&s.mime))
        .ok_or_else(|| AppError::bad_request(refusal))
}

/// Where a stored file lives, relative to the uploads dir, and its public URL.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// e.g. `avatars/3f2a….png`
    pub relative_path: String,
    /// e.g. `/uploads/avatars/3f2a….png`
    pub url: String,
    pub size: usize,
}

/// Writes `bytes` under `<uploads_dir>/<category>/<random>.<ext>`.
pub async fn store(
    uploads_dir: &Path,
    category: &str,
    extension: &str,
    bytes: &[u8],
) -> AppResult<StoredFile> {
    let name = format!("{}.{}", uuid::Uuid::new_v4().simple(), extension);
    let dir = uploads_dir.join(category);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| anyhow::Error::new(e).context("cannot create upload dir"))?;
    tokio::fs::write(dir.join(&name), bytes)
        .await
        .map_err(|e| anyhow::Error::new(e).context("cannot write upload"))?;
    let relative_path = format!("{category}/{name}");
    Ok(StoredFile {
        url: format!("/uploads/{relative_path}"),
        relative_path,
        size: bytes.len(),
    })
}

/// The on-disk path of one of our `/uploads/...` URLs; `None` for anything else (external URLs,
/// `..` tricks), which is then left alone.
pub fn local_path_of(uploads_dir: &Path, url: &str) -> Option<PathBuf> {
    let relative = url.strip_prefix("/uploads/")?;
    let rel = Path::new(relative);
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Some(uploads_dir.join(rel))
    } else {
        None
    }
}

/// Removes a stored file by URL; a missing file is not an error.
pub async fn remove(uploads_dir: &Path, url: &str) {
    if let Some(path) = local_path_of(uploads_dir, url)
        && let Err(e) = tokio::fs::remove_file(&path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove upload");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0];

    #[test]
    fn sniffing_reads_content_not_names() {
        assert_eq!(sniff(PNG).map(|s| s.mime), Some("image/png"));
        assert!(sniff_allowed(b"<html>not an image</html>", JPEG_PNG, "no").is_err());
        assert!(sniff_allowed(PNG, JPEG_PNG, "no").is_ok());
    }

    #[test]
    fn only_plain_upload_urls_map_to_disk() {
        let dir = Path::new("/data/uploads");
        assert_eq!(
            local_path_of(dir, "/uploads/avatars/a.png"),
            Some(PathBuf::from("/data/uploads/avatars/a.png"))
        );
        assert_eq!(local_path_of(dir, "/uploads/../secrets.json"), None);
        assert_eq!(local_path_of(dir, "https://cdn/x.png"), None);
        assert_eq!(sanitize_original_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_original_name("C:\\x\\a.png"), "a.png");
    }
}
