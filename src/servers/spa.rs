//! A built single-page app (the user web app on the user port, the console on the admin port).
//!
//! GET and HEAD of a file under the app's directory serve it with its content type; any other GET path
//! gets `index.html` (the app's router takes it from there), except the API paths, which keep the 404
//! envelope. Hashed build assets are cached as immutable; `index.html` and other files are revalidated
//! every time (ETag / Last-Modified). A `.br` or `.gz` sibling made at build time is served instead of
//! the file when the client accepts that encoding.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use actix_files::NamedFile;
use actix_web::http::header::{
    self, AcceptEncoding, CacheControl, CacheDirective, ContentEncoding, Encoding, Header,
};
use actix_web::{HttpRequest, HttpResponse, guard, web};
use anyhow::Context;

use crate::error::AppError;

/// Paths that belong to the servers, never to the app: an unknown one answers the 404 envelope.
const API_PREFIXES: &[&str] = &[
    "/api",
    "/api-docs",
    "/admin/online",
    "/admin/broadcast",
    "/uploads",
    "/swagger",
    "/health",
    "/livez",
    "/readyz",
    "/metrics",
    "/ws",
];

const IMMUTABLE_SECS: u32 = 365 * 24 * 3600;

/// The directory of one built app.
#[derive(Debug, Clone)]
pub struct Spa {
    root: PathBuf,
}

impl Spa {
    /// The app configured by `setting` (its value `dir`), or `None` when it is empty. A directory that
    /// does not exist or has no `index.html` is a start-up error.
    pub fn open(setting: &str, dir: &str) -> anyhow::Result<Option<Arc<Self>>> {
        let dir = dir.trim();
        if dir.is_empty() {
            return Ok(None);
        }
        let root = std::fs::canonicalize(dir)
            .with_context(|| format!("{setting} = {dir:?}: the directory cannot be opened"))?;
        anyhow::ensure!(
            root.join("index.html").is_file(),
            "{setting} = {dir:?}: there is no index.html in it (is it the build output, e.g. dist/?)"
        );
        Ok(Some(Arc::new(Self { root })))
    }

    /// Registers the app for GET and HEAD of every path outside [`API_PREFIXES`]. Mount it before a
    /// catch-all scope (the admin port's authenticated `""` scope would answer 401 first), after any
    /// other non-API route.
    pub fn mount(self: Arc<Self>, cfg: &mut web::ServiceConfig) {
        cfg.service(
            web::resource(FALLBACK_PATTERN)
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .guard(guard::fn_guard(|ctx| !is_api_path(ctx.head().uri.path())))
                .to(move |req: HttpRequest| {
                    let spa = self.clone();
                    async move { spa.serve(&req).await }
                }),
        );
    }

    async fn serve(&self, req: &HttpRequest) -> Result<HttpResponse, AppError> {
        let path = req.path();
        let file = relative(path)
            .map(|rel| self.root.join(rel))
            .filter(|p| p.is_file());
        match file {
            Some(file) => {
                let immutable = is_hashed(file.strip_prefix(&self.root).unwrap_or(&file));
                serve_file(req, &file, immutable).await
            }
            None => serve_file(req, &self.root.join("index.html"), false).await,
        }
    }
}

/// The app's catch-all resource. Its guards refuse API paths, so a request that matches only this
/// pattern is for no route at all (the admin guard answers it 404).
pub const FALLBACK_PATTERN: &str = "/{path:.*}";

fn is_api_path(path: &str) -> bool {
    API_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The request path as a path under the app's directory, or `None` for anything that would leave it
/// (`..`, a root or a drive) or names a hidden file.
fn relative(path: &str) -> Option<PathBuf> {
    let decoded = urlencoding::decode(path).ok()?;
    let rel = Path::new(decoded.trim_start_matches('/'));
    let clean = rel.components().all(|c| match c {
        Component::Normal(part) => !part.to_string_lossy().starts_with('.'),
        _ => false,
    });
    (clean && !rel.as_os_str().is_empty()).then(|| rel.to_path_buf())
}

/// Whether a build output file's name carries a content hash: it is under Vite's `assets/` directory,
/// or a part of its name between dots or dashes looks like one (`app.3f9a1c7e.js`).
fn is_hashed(rel: &Path) -> bool {
    if rel.starts_with("assets") {
        return true;
    }
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parts: Vec<&str> = name.split(['.', '-']).collect();
    parts.len() > 2
        && parts[1..parts.len() - 1].iter().any(|part| {
            (8..=32).contains(&part.len())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && part.chars().any(|c| c.is_ascii_digit())
        })
}

async fn serve_file(
    req: &HttpRequest,
    file: &Path,
    immutable: bool,
) -> Result<HttpResponse, AppError> {
    let content_type = file
        .extension()
        .map(|ext| actix_files::file_extension_to_mime(&ext.to_string_lossy()))
        .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
    // The precompressed siblings on disk, best first.
    let mut siblings = Vec::new();
    for (encoding, content_encoding, ext) in [
        (Encoding::brotli(), ContentEncoding::Brotli, "br"),
        (Encoding::gzip(), ContentEncoding::Gzip, "gz"),
    ] {
        let mut name = file.as_os_str().to_owned();
        name.push(format!(".{ext}"));
        let sibling = PathBuf::from(name);
        if tokio::fs::metadata(&sibling)
            .await
            .is_ok_and(|m| m.is_file())
        {
            siblings.push((encoding, content_encoding, sibling));
        }
    }
    let chosen = match AcceptEncoding::parse(req) {
        Ok(accept) if !siblings.is_empty() => {
            let offered: Vec<Encoding> = siblings
                .iter()
                .map(|(e, ..)| e.clone())
                .chain([Encoding::identity()])
                .collect();
            accept
                .negotiate(offered.iter())
                .and_then(|best| siblings.iter().find(|(e, ..)| *e == best))
        }
        _ => None,
    };
    let named = match chosen {
        Some((_, content_encoding, sibling)) => NamedFile::open_async(sibling)
            .await
            .map_err(anyhow::Error::from)?
            .set_content_encoding(*content_encoding),
        None => NamedFile::open_async(file)
            .await
            .map_err(anyhow::Error::from)?,
    };
    let mut res = named
        .set_content_type(content_type)
        .prefer_utf8(true)
        .disable_content_disposition()
        .into_response(req);
    let cache = if immutable {
        CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(IMMUTABLE_SECS),
            CacheDirective::Extension("immutable".into(), None),
        ])
    } else {
        CacheControl(vec![CacheDirective::NoCache])
    };
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_str(&cache.to_string())
            .map_err(|e| anyhow::anyhow!("cache-control header: {e}"))?,
    );
    if !siblings.is_empty() {
        res.headers_mut().insert(
            header::VARY,
            header::HeaderValue::from_static("accept-encoding"),
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_never_the_apps() {
        for path in [
            "/api",
            "/api/x",
            "/ws/chat/1",
            "/swagger/",
            "/uploads/a.png",
            "/metrics",
        ] {
            assert!(is_api_path(path), "{path}");
        }
        for path in ["/", "/apidocs", "/chat/1", "/admin/users", "/websites"] {
            assert!(!is_api_path(path), "{path}");
        }
    }

    #[test]
    fn paths_stay_inside_the_app() {
        assert_eq!(relative("/assets/a.js"), Some(PathBuf::from("assets/a.js")));
        assert_eq!(relative("/../etc/passwd"), None);
        assert_eq!(relative("/a/%2e%2e/%2e%2e/x"), None);
        assert_eq!(relative("/.env"), None);
        assert_eq!(relative("/"), None);
    }

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed(Path::new("assets/index.css")));
        assert!(is_hashed(Path::new("app.3f9a1c7e.js")));
        assert!(is_hashed(Path::new("chunk-vendors-5b2c9d10.js")));
        assert!(!is_hashed(Path::new("favicon.ico")));
        assert!(!is_hashed(Path::new("index.html")));
        assert!(!is_hashed(Path::new("robots.txt")));
    }
}
