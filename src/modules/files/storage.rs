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

/// Sniffs `bytes` and accepts only the listed MIME types, without active content.
pub fn sniff_allowed(bytes: &[u8], allowed: &[&str], refusal: &str) -> AppResult<Sniffed> {
    let sniffed = sniff(bytes)
        .filter(|s| allowed.contains(&s.mime))
        .ok_or_else(|| AppError::bad_request(refusal))?;
    refuse_active_content(sniffed, bytes)?;
    Ok(sniffed)
}

pub const MSG_ACTIVE_CONTENT: &str = "文件包含不允许的脚本或网页内容";

/// Markup that makes a browser (or a sniffing one) treat bytes as a page, matched ignoring ASCII case.
const MARKUP_MARKERS: &[&[u8]] = &[
    b"<script",
    b"<html",
    b"<!doctype",
    b"<body",
    b"<head",
    b"<iframe",
    b"<svg",
    b"<object",
    b"<embed",
    b"<?xml",
    b"<?php",
    b"javascript:",
    b"onerror=",
    b"onload=",
];

/// PDF names that run code or act on their own when the document opens.
const PDF_ACTIVE_NAMES: &[&[u8]] = &[b"/javascript", b"/js", b"/openaction", b"/aa", b"/launch"];

/// Refuses polyglots: an image whose bytes also hold HTML or script (GIF/HTML, a PNG with a page
/// appended) and a PDF with JavaScript or automatic actions. Real photos and documents have neither;
/// a compressed stream matching one of these words by chance is vanishingly rare. Names hidden inside
/// compressed object streams are not seen; the download headers of `/uploads` cover those.
///
/// # Errors
/// 400 [`MSG_ACTIVE_CONTENT`].
pub fn refuse_active_content(sniffed: Sniffed, bytes: &[u8]) -> AppResult<()> {
    let active = if sniffed.mime.starts_with("image/") {
        MARKUP_MARKERS
            .iter()
            .any(|m| contains_ignore_case(bytes, m))
    } else if sniffed.mime == "application/pdf" {
        PDF_ACTIVE_NAMES
            .iter()
            .any(|name| has_pdf_name(bytes, name))
    } else {
        false
    };
    if active {
        Err(AppError::bad_request(MSG_ACTIVE_CONTENT))
    } else {
        Ok(())
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether the PDF name `name` (`/JS`) occurs as a whole name: not as the start of a longer one
/// (`/JSFoo`). PDF names are case-sensitive, but readers are lenient, so case is ignored.
fn has_pdf_name(bytes: &[u8], name: &[u8]) -> bool {
    bytes.windows(name.len() + 1).any(|w| {
        w[..name.len()].eq_ignore_ascii_case(name) && !w[name.len()].is_ascii_alphanumeric()
    }) || bytes
        .len()
        .checked_sub(name.len())
        .is_some_and(|start| bytes[start..].eq_ignore_ascii_case(name))
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
    fn polyglots_are_refused_and_plain_files_pass() {
        let png = sniff(PNG).unwrap();
        let mut with_page = PNG.to_vec();
        with_page.extend_from_slice(b"IEND<HTML><Script>alert(1)</script>");
        assert!(refuse_active_content(png, PNG).is_ok());
        assert!(refuse_active_content(png, &with_page).is_err());
        let gif = b"GIF89a/*\x00\x00*/=1;<script>alert(1)</script>";
        assert!(sniff_allowed(gif, WEB_IMAGES, "no").is_err());
        let pdf = Sniffed {
            mime: "application/pdf",
            extension: "pdf",
        };
        assert!(refuse_active_content(pdf, b"%PDF-1.4 1 0 obj << /Type /Page >>").is_ok());
        assert!(refuse_active_content(pdf, b"%PDF-1.4 << /JSFont 1 >>").is_ok());
        for bad in [
            &b"%PDF-1.4 << /OpenAction 2 0 R >>"[..],
            b"%PDF-1.4 << /S /JavaScript /JS (app.alert(1)) >>",
            b"%PDF-1.4 << /JS(x) >>",
            b"%PDF-1.4 << /AA << /O 3 0 R >> >>",
        ] {
            assert!(refuse_active_content(pdf, bad).is_err());
        }
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
