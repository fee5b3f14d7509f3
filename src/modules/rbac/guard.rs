//! The one route → access table of the admin API, and the middleware that enforces it.
//!
//! Every route inside the protected admin scope is listed here: either with the permission code it needs,
//! or as one of the caller's own account routes (no permission); the public routes inside the admin
//! namespaces are listed as public so a wrong method on them answers 405. A matched route that is not
//! listed is refused (deny by default).
//!
//! The route is the one actix routes to: its resource map matched against the percent-decoded path
//! actix routes on (never the raw path, where `%73tatistics` would look like an `{id}`). This happens
//! before routing, ahead of authentication, so an unknown path answers 404 and a known path with another
//! method 405 without a token.
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};

use crate::error::AppError;
use crate::modules::auth::CurrentAdmin;
use crate::state::AppState;

pub const MSG_FORBIDDEN: &str = "没有权限";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: a public route (login), registered outside the protected scope.
    Public,
    /// The caller's own account: any logged-in administrator.
    Own,
    /// A permission code.
    Code(&'static str),
}

use Access::{Code, Own, Public};

const GET: &str = "GET";
const POST: &str = "POST";
const PUT: &str = "PUT";
const DELETE: &str = "DELETE";

/// `(method, resource pattern as registered, access)`.
pub const ROUTES: &[(&str, &str, Access)] = &[
    // Public routes inside the admin namespaces.
    (POST, "/api/admin2/login", Public),
    (POST, "/api/admin/login", Public),
    // The caller's own account.
    (GET, "/api/admin2/info", Own),
    (GET, "/api/admin/user/info", Own),
    (GET, "/api/admin/profile", Own),
    (GET, "/api/admin2/permissions", Own),
    (GET, "/api/admin/user/permissions", Own),
    (POST, "/api/admin2/logout", Own),
    (POST, "/api/admin/logout", Own),
    (PUT, "/api/admin2/profile", Own),
    (PUT, "/api/admin/profile", Own),
    (POST, "/api/admin2/password", Own),
    (POST, "/api/admin/user/password", Own),
    // Administrators.
    (GET, "/api/admin2/administrators", Code("system:admin:list")),
    (
        GET,
        "/api/admin2/administrators/{id}",
        Code("system:admin:list"),
    ),
    (
        POST,
        "/api/admin2/administrators",
        Code("system:admin:create"),
    ),
    (
        PUT,
        "/api/admin2/administrators/{id}",
        Code("system:admin:edit"),
    ),
    (
        DELETE,
        "/api/admin2/administrators/{id}",
        Code("system:admin:delete"),
    ),
    (
        POST,
        "/api/admin2/administrators/{id}/password",
        Code("system:admin:reset"),
    ),
    (
        PUT,
        "/api/admin2/administrators/{id}/status",
        Code("system:admin:edit"),
    ),
    // App users.
    (GET, "/api/admin/users", Code("system:user:list")),
    (GET, "/api/admin/users/{id}", Code("system:user:list")),
    (POST, "/api/admin/users", Code("system:user:create")),
    (PUT, "/api/admin/users/{id}", Code("system:user:edit")),
    (DELETE, "/api/admin/users/{id}", Code("system:user:delete")),
    (
        POST,
        "/api/admin/users/{id}/password",
        Code("system:user:reset"),
    ),
    // Counselors.
    (GET, "/api/admin/counselors", Code("system:counselor:list")),
    (
        GET,
        "/api/admin/counselors/{id}",
        Code("system:counselor:list"),
    ),
    (
        POST,
        "/api/admin/counselors",
        Code("system:counselor:create"),
    ),
    (
        PUT,
        "/api/admin/counselors/{id}",
        Code("system:counselor:edit"),
    ),
    (
        DELETE,
        "/api/admin/counselors/{id}",
        Code("system:counselor:delete"),
    ),
    // Counselor applications.
    (
        GET,
        "/api/admin/counselor/applications",
        Code("business:application:list"),
    ),
    (
        GET,
        "/api/admin/counselor/applications/{id}",
        Code("business:application:list"),
    ),
    (
        PUT,
        "/api/admin/counselor/applications/{id}/review",
        Code("business:application:review"),
    ),
    (
        POST,
        "/api/admin/counselor/applications/{id}/review",
        Code("business:application:review"),
    ),
    // Orders.
    (GET, "/api/admin/orders", Code("business:order:list")),
    (
        GET,
        "/api/admin/orders/statistics",
        Code("business:order:statistics"),
    ),
    (
        PUT,
        "/api/admin/orders/{id}/status",
        Code("business:order:edit"),
    ),
    // Dashboard statistics.
    (GET, "/api/admin/statistics", Code("dashboard:view")),
    (
        GET,
        "/api/admin/dashboard/statistics",
        Code("dashboard:view"),
    ),
    (
        GET,
        "/api/admin/stats/counselor/ranking",
        Code("dashboard:view"),
    ),
    (GET, "/api/admin/stats/order/trend", Code("dashboard:view")),
    // Chat records.
    (GET, "/api/admin/chat/sessions", Code("business:chat:list")),
    (
        GET,
        "/api/admin/chat/sessions/{id}/messages",
        Code("business:chat:list"),
    ),
    (
        GET,
        "/api/admin/chat/statistics",
        Code("business:chat:list"),
    ),
    (
        GET,
        "/api/admin/chat/messages/search",
        Code("business:chat:list"),
    ),
    (
        DELETE,
        "/api/admin/chat/sessions/{id}",
        Code("business:chat:manage"),
    ),
    // Withdrawals and finance.
    (GET, "/api/admin/withdraws", Code("finance:withdraw:list")),
    (
        GET,
        "/api/admin/withdraws/pending",
        Code("finance:withdraw:list"),
    ),
    (
        POST,
        "/api/admin/withdraw/{id}/approve",
        Code("finance:withdraw:approve"),
    ),
    (
        POST,
        "/api/admin/withdraw/{id}/transfer",
        Code("finance:withdraw:transfer"),
    ),
    (
        GET,
        "/api/admin/finance/stats",
        Code("finance:statistics:view"),
    ),
    (
        GET,
        "/api/admin/finance/revenue",
        Code("finance:report:view"),
    ),
    (
        GET,
        "/api/admin/finance/reports",
        Code("finance:report:view"),
    ),
    (
        GET,
        "/api/admin/finance/accounts",
        Code("finance:account:list"),
    ),
    (
        GET,
        "/api/admin/finance/accounts/{id}",
        Code("finance:account:list"),
    ),
    // Presence and broadcast, with and without the `/api` prefix (the online page drops it).
    (GET, "/api/admin/session/stats", Code("system:online:list")),
    (GET, "/api/admin/online/users", Code("system:online:list")),
    (
        GET,
        "/api/admin/online/users/detailed",
        Code("system:online:list"),
    ),
    (
        GET,
        "/api/admin/online/statistics",
        Code("system:online:list"),
    ),
    (
        POST,
        "/api/admin/online/users/{id}/kick",
        Code("system:online:manage"),
    ),
    (POST, "/api/admin/online/mute", Code("system:online:manage")),
    (
        POST,
        "/api/admin/online/users/{id}/message",
        Code("system:online:manage"),
    ),
    (POST, "/api/admin/broadcast", Code("system:online:manage")),
    (GET, "/admin/online/users", Code("system:online:list")),
    (
        GET,
        "/admin/online/users/detailed",
        Code("system:online:list"),
    ),
    (GET, "/admin/online/statistics", Code("system:online:list")),
    (
        POST,
        "/admin/online/users/{id}/kick",
        Code("system:online:manage"),
    ),
    (POST, "/admin/online/mute", Code("system:online:manage")),
    (
        POST,
        "/admin/online/users/{id}/message",
        Code("system:online:manage"),
    ),
    (POST, "/admin/broadcast", Code("system:online:manage")),
    // Roles, permissions, menus.
    (GET, "/api/admin/roles", Code("system:role:list")),
    (GET, "/api/admin/roles/{id}", Code("system:role:list")),
    (POST, "/api/admin/roles", Code("system:role:create")),
    (PUT, "/api/admin/roles/{id}", Code("system:role:edit")),
    (DELETE, "/api/admin/roles/{id}", Code("system:role:delete")),
    (
        GET,
        "/api/admin/roles/{id}/permissions",
        Code("system:role:list"),
    ),
    (
        PUT,
        "/api/admin/roles/{id}/permissions",
        Code("system:role:edit"),
    ),
    (
        POST,
        "/api/admin/roles/{id}/permissions",
        Code("system:role:edit"),
    ),
    (GET, "/api/admin/roles/{id}/users", Code("system:role:list")),
    (
        GET,
        "/api/admin/permissions",
        Code("system:permission:list"),
    ),
    (
        GET,
        "/api/admin/permissions/tree",
        Code("system:permission:list"),
    ),
    (
        GET,
        "/api/admin/permissions/{id}",
        Code("system:permission:list"),
    ),
    (
        POST,
        "/api/admin/permissions",
        Code("system:permission:create"),
    ),
    (
        PUT,
        "/api/admin/permissions/{id}",
        Code("system:permission:edit"),
    ),
    (
        DELETE,
        "/api/admin/permissions/{id}",
        Code("system:permission:delete"),
    ),
    (GET, "/api/admin/menus", Code("system:menu:list")),
    (GET, "/api/admin/menus/tree", Code("system:menu:list")),
    (GET, "/api/admin/menus/{id}", Code("system:menu:list")),
    (POST, "/api/admin/menus", Code("system:menu:create")),
    (PUT, "/api/admin/menus/{id}", Code("system:menu:edit")),
    (DELETE, "/api/admin/menus/{id}", Code("system:menu:delete")),
    // System: audit log and configs.
    (GET, "/api/admin/logs", Code("system:log:list")),
    // Privacy: the retention dry run and purge.
    (
        GET,
        "/api/admin/privacy/retention",
        Code("system:privacy:view"),
    ),
    (
        POST,
        "/api/admin/privacy/retention/purge",
        Code("system:privacy:purge"),
    ),
    (GET, "/api/admin/configs", Code("system:config:list")),
    (GET, "/api/admin/configs/{id}", Code("system:config:list")),
    (POST, "/api/admin/configs", Code("system:config:edit")),
    (POST, "/api/admin/configs/batch", Code("system:config:edit")),
    (PUT, "/api/admin/configs/{id}", Code("system:config:edit")),
    (
        DELETE,
        "/api/admin/configs/{id}",
        Code("system:config:edit"),
    ),
    // Low-code.
    (GET, "/api/admin/lowcode/forms", Code("lowcode:form:design")),
    (
        GET,
        "/api/admin/lowcode/forms/{id}",
        Code("lowcode:form:design"),
    ),
    (
        POST,
        "/api/admin/lowcode/forms",
        Code("lowcode:form:design"),
    ),
    (
        PUT,
        "/api/admin/lowcode/forms/{id}",
        Code("lowcode:form:design"),
    ),
    (
        DELETE,
        "/api/admin/lowcode/forms/{id}",
        Code("lowcode:form:design"),
    ),
    (
        GET,
        "/api/admin/lowcode/forms/{id}/data",
        Code("lowcode:data:manage"),
    ),
    (
        POST,
        "/api/admin/lowcode/forms/{id}/data",
        Code("lowcode:data:manage"),
    ),
    (
        POST,
        "/api/admin/lowcode/forms/{id}/submit",
        Code("lowcode:data:manage"),
    ),
    (
        DELETE,
        "/api/admin/lowcode/forms/{id}/data/{data_id}",
        Code("lowcode:data:manage"),
    ),
    (GET, "/api/admin/lowcode/pages", Code("lowcode:page:design")),
    (
        GET,
        "/api/admin/lowcode/pages/{id}",
        Code("lowcode:page:design"),
    ),
    (
        GET,
        "/api/admin/lowcode/pages/{id}/preview",
        Code("lowcode:page:design"),
    ),
    (
        POST,
        "/api/admin/lowcode/pages",
        Code("lowcode:page:design"),
    ),
    (
        PUT,
        "/api/admin/lowcode/pages/{id}",
        Code("lowcode:page:design"),
    ),
    (
        DELETE,
        "/api/admin/lowcode/pages/{id}",
        Code("lowcode:page:design"),
    ),
    // Uploads.
    (POST, "/api/admin/upload/image", Code("system:upload")),
    (POST, "/api/admin/upload/file", Code("system:upload")),
    (POST, "/api/admin/upload", Code("system:upload")),
];

/// The table entry actix routed a request to: its access rule, pattern and path parameters (the
/// target ids the audit log records). Set by [`resolve_route`] in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// `None` for a matched route the table does not list: refused.
    pub access: Option<Access>,
    pub pattern: String,
    pub params: Vec<String>,
}

/// What the table says about a request, given the resource pattern actix matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No route has this path.
    NotFound,
    /// The path is routed, but not for this method.
    MethodNotAllowed,
    /// The table's rule for the route.
    Route(Access),
    /// A route in the admin namespaces that the table does not list: refused.
    Unlisted,
}

/// The rule for `method` on the matched resource `pattern` (`None`: no resource matched the path).
///
/// A pattern the table lists only with other methods is a wrong method; an unlisted pattern outside
/// the admin namespaces is a public route (health, metrics, the counselor directory) reached with a
/// method it does not serve, since with the right one it would have been routed before this scope.
pub fn decide(method: &Method, pattern: Option<&str>) -> Decision {
    let Some(pattern) = pattern.filter(|p| *p != crate::servers::spa::FALLBACK_PATTERN) else {
        return Decision::NotFound;
    };
    let mut listed = false;
    for (m, p, access) in ROUTES {
        if same_route(p, pattern) {
            if *m == method.as_str() {
                return Decision::Route(*access);
            }
            listed = true;
        }
    }
    if listed || !in_admin_namespace(pattern) {
        Decision::MethodNotAllowed
    } else {
        Decision::Unlisted
    }
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// The same pattern up to the names of its parameters (`{id}` in the table, `{session_id}` registered).
fn same_route(listed: &str, registered: &str) -> bool {
    listed.split('/').count() == registered.split('/').count()
        && listed
            .split('/')
            .zip(registered.split('/'))
            .all(|(a, b)| a == b || (is_param(a) && is_param(b)))
}

/// `path`'s segments in the places of `pattern`'s `{name}` segments.
fn path_params(pattern: &str, path: &str) -> Vec<String> {
    pattern
        .split('/')
        .zip(path.split('/'))
        .filter(|(p, _)| is_param(p))
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// Every admin handler lives under one of these.
fn in_admin_namespace(path: &str) -> bool {
    ["/api/admin/", "/api/admin2/", "/admin/"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "/api/admin"
        || path == "/api/admin2"
        || path == "/admin"
}

/// The resource pattern actix routes `req` to, matched on the decoded path it routes on.
fn matched_pattern(req: &ServiceRequest) -> Option<String> {
    let path = req.match_info().as_str();
    req.request().resource_map().match_pattern(path)
}

/// Outermost middleware of the protected admin scope: finds the route before authentication, answers
/// 404 / 405 for paths and methods no handler serves, and leaves the [`RouteMatch`] for the audit log
/// and [`require_permission`].
pub async fn resolve_route(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let pattern = matched_pattern(&req);
    let access = match decide(req.method(), pattern.as_deref()) {
        Decision::NotFound => return Err(AppError::not_found("接口不存在").into()),
        Decision::MethodNotAllowed => {
            return Err(AppError::MethodNotAllowed("请求方法不允许".into()).into());
        }
        // A public route never reaches this scope with its own method: refuse rather than guess.
        Decision::Route(Public) | Decision::Unlisted => None,
        Decision::Route(access) => Some(access),
    };
    let pattern = pattern.unwrap_or_default();
    let params = path_params(&pattern, req.match_info().as_str());
    req.extensions_mut().insert(RouteMatch {
        access,
        pattern,
        params,
    });
    next.call(req).await
}

/// Innermost middleware of the protected admin scope (inside `require_admin`): the route's permission
/// or 403.
pub async fn require_permission(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let admin = req
        .extensions()
        .get::<CurrentAdmin>()
        .cloned()
        .ok_or_else(|| AppError::unauthorized("未提供认证token"))?;
    let access = req.extensions().get::<RouteMatch>().and_then(|m| m.access);
    let allowed = match access {
        Some(Own) => true,
        Some(Code(code)) => {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| anyhow::anyhow!("AppState missing"))
                .map_err(AppError::Internal)?;
            state.rbac.allows(admin.0.id, code).await?
        }
        Some(Public) | None => false,
    };
    if !allowed {
        return Err(AppError::forbidden(MSG_FORBIDDEN).into());
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use actix_web::body::BoxBody;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use actix_web::middleware::from_fn;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse};

    use super::*;

    #[test]
    fn the_pattern_and_method_decide() {
        assert_eq!(
            decide(&Method::GET, Some("/api/admin/orders/statistics")),
            Decision::Route(Code("business:order:statistics"))
        );
        assert_eq!(
            decide(&Method::GET, Some("/api/admin/users/{user_id}")),
            Decision::Route(Code("system:user:list"))
        );
        assert_eq!(decide(&Method::GET, None), Decision::NotFound);
        assert_eq!(
            decide(&Method::PATCH, Some("/api/admin/users/{id}")),
            Decision::MethodNotAllowed
        );
        assert_eq!(
            decide(&Method::DELETE, Some("/api/admin2/login")),
            Decision::MethodNotAllowed
        );
        assert_eq!(
            decide(&Method::POST, Some("/health")),
            Decision::MethodNotAllowed
        );
        // A route somebody registered without listing it is refused, not allowed.
        assert_eq!(
            decide(&Method::GET, Some("/api/admin/new/thing")),
            Decision::Unlisted
        );
    }

    #[test]
    fn params_come_from_the_pattern_positions() {
        assert_eq!(
            path_params(
                "/api/admin/lowcode/forms/{id}/data/{data_id}",
                "/api/admin/lowcode/forms/3/data/9"
            ),
            vec!["3", "9"]
        );
        assert!(path_params("/api/admin/orders", "/api/admin/orders").is_empty());
        assert!(same_route("/api/admin/x/{id}/y", "/api/admin/x/{x_id}/y"));
        assert!(!same_route("/api/admin/x/{id}", "/api/admin/x/{id}/y"));
        assert!(!same_route("/api/admin/x/statistics", "/api/admin/x/{id}"));
    }

    #[test]
    fn the_admin_namespaces_are_recognised() {
        assert!(in_admin_namespace("/api/admin/anything"));
        assert!(in_admin_namespace("/api/admin2/x"));
        assert!(in_admin_namespace("/admin/online/users"));
        assert!(!in_admin_namespace("/api/administrator"));
        assert!(!in_admin_namespace("/api/definitely/not/here"));
    }

    #[test]
    fn every_code_in_the_table_is_seeded_and_every_route_is_in_a_namespace() {
        for (m, p, access) in ROUTES {
            assert!(in_admin_namespace(p), "{m} {p}");
            if let Code(code) = access {
                assert!(
                    crate::modules::rbac::seed::PERMISSIONS
                        .iter()
                        .any(|seed| seed.0 == *code),
                    "{m} {p} needs unseeded {code}"
                );
            }
        }
    }

    #[test]
    fn every_entry_is_unique() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[i + 1..].iter().any(|(m2, p2, _)| m == m2 && p == p2),
                "duplicate {m} {p}"
            );
        }
    }

    const PATTERN: HeaderName = HeaderName::from_static("x-test-pattern");
    const GUARD: HeaderName = HeaderName::from_static("x-test-guard");
    const NO_HANDLER: HeaderName = HeaderName::from_static("x-test-no-handler");

    /// Records what the guard resolves before routing, and the pattern actix routed to after.
    async fn probe(
        req: ServiceRequest,
        next: Next<BoxBody>,
    ) -> Result<ServiceResponse<BoxBody>, Error> {
        let guard = matched_pattern(&req).unwrap_or_default();
        let mut res = next.call(req).await?;
        let routed = if res.headers().contains_key(&NO_HANDLER) {
            String::new()
        } else {
            res.request().match_pattern().unwrap_or_default()
        };
        for (name, value) in [(PATTERN, routed), (GUARD, guard)] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(name, v);
            }
        }
        Ok(res)
    }

    /// `pattern` with every `{param}` filled in, and variants with one literal character of each
    /// literal segment percent-encoded.
    fn concrete_paths(pattern: &str) -> Vec<String> {
        let segments: Vec<String> = pattern
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "7".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect();
        let mut out = vec![segments.join("/")];
        for (i, seg) in segments.iter().enumerate() {
            if pattern
                .split('/')
                .nth(i)
                .is_some_and(|p| p.starts_with('{'))
            {
                continue;
            }
            if let Some(c) = seg.chars().next() {
                let mut encoded = segments.clone();
                encoded[i] = format!("%{:02X}{}", c as u32, &seg[c.len_utf8()..]);
                out.push(encoded.join("/"));
            }
        }
        out
    }

    /// The guard's view of a request is the route actix routes it to, for every entry of the table and
    /// with any literal character percent-encoded; and every method actix serves on a listed pattern is
    /// listed.
    #[actix_web::test]
    async fn the_guard_resolves_every_route_exactly_as_actix_routes_it() {
        let app = actix_test::init_service(
            App::new().service(
                web::scope("")
                    .wrap(from_fn(probe))
                    .configure(crate::servers::admin_api::protected_routes)
                    .default_service(web::to(|| async {
                        HttpResponse::NotFound()
                            .insert_header((NO_HANDLER, "1"))
                            .finish()
                    })),
            ),
        )
        .await;
        let mut problems = Vec::new();
        for (method, pattern, access) in ROUTES {
            if *access == Public {
                continue;
            }
            for path in concrete_paths(pattern) {
                let req = actix_test::TestRequest::default()
                    .method(method.parse().unwrap())
                    .uri(&path)
                    .to_request();
                let res = actix_test::call_service(&app, req).await;
                let header = |n: &HeaderName| {
                    res.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                if res.headers().contains_key(&NO_HANDLER) {
                    problems.push(format!("{method} {path} has no handler"));
                } else if !same_route(pattern, &header(&PATTERN))
                    || header(&GUARD) != header(&PATTERN)
                {
                    problems.push(format!(
                        "{method} {path}: actix routes it to {}, the guard to {}",
                        header(&PATTERN),
                        header(&GUARD)
                    ));
                }
            }
        }
        // A method that a listed pattern is served with must be listed too.
        for (_, pattern, access) in ROUTES {
            if *access == Public {
                continue;
            }
            let path = &concrete_paths(pattern)[0];
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ] {
                let req = actix_test::TestRequest::default()
                    .method(method.clone())
                    .uri(path)
                    .to_request();
                let res = actix_test::call_service(&app, req).await;
                if res.headers().contains_key(&NO_HANDLER) {
                    continue;
                }
                let routed = res
                    .headers()
                    .get(&PATTERN)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if !matches!(decide(&method, Some(&routed)), Decision::Route(_)) {
                    problems.push(format!(
                        "{method} {path} is served by {routed} but not listed"
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
