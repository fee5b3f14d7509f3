//! The one route → permission table of the admin API, and the middleware that enforces it.
//!
//! Every route inside the protected admin scope is listed here: either with the permission code it needs,
//! or as one of the caller's own account routes (no permission). Anything not listed is refused (deny by
//! default). Matching happens before routing, so paths are matched against the patterns here, with
//! `{name}` standing for one path segment; the most literal pattern wins.

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
    /// The caller's own account: any logged-in administrator.
    Own,
    /// A permission code.
    Code(&'static str),
}

use Access::{Code, Own};

const GET: &str = "GET";
const POST: &str = "POST";
const PUT: &str = "PUT";
const DELETE: &str = "DELETE";

/// `(method, path pattern, access)`.
pub const ROUTES: &[(&str, &str, Access)] = &[
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
    (GET, "/api/admin/orders/{id}", Code("business:order:list")),
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

/// The matched route: its access rule and the path parameters (e.g. the target id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub access: Access,
    pub pattern: &'static str,
    pub params: Vec<String>,
}

fn match_pattern(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut pat = pattern.split('/');
    let mut segs = path.split('/');
    let mut params = Vec::new();
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with('}') => {
                if s.is_empty() {
                    return None;
                }
                params.push(s.to_owned());
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}

/// The table entry for `method` + `path`; the one with the fewest parameters wins.
pub fn lookup(method: &Method, path: &str) -> Option<RouteMatch> {
    ROUTES
        .iter()
        .filter(|(m, _, _)| *m == method.as_str())
        .filter_map(|(_, pattern, access)| {
            match_pattern(pattern, path).map(|params| RouteMatch {
                access: *access,
                pattern,
                params,
            })
        })
        .min_by_key(|m| m.params.len())
}

/// Every admin handler lives under one of these; an unlisted path inside them is refused (403).
fn in_admin_namespace(path: &str) -> bool {
    ["/api/admin/", "/api/admin2/", "/admin/"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "/api/admin"
        || path == "/api/admin2"
        || path == "/admin"
}

/// Middleware on the protected admin scope (inside `require_admin`): the route's permission or 403.
pub async fn require_permission(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let admin = req
        .extensions()
        .get::<CurrentAdmin>()
        .cloned()
        .ok_or_else(|| AppError::unauthorized("未提供认证token"))?;
    let allowed = match lookup(req.method(), req.path()) {
        Some(RouteMatch { access: Own, .. }) => true,
        Some(RouteMatch {
            access: Code(code), ..
        }) => {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| anyhow::anyhow!("AppState missing"))
                .map_err(AppError::Internal)?;
            state.rbac.allows(admin.0.id, code).await?
        }
        // Outside the admin namespaces no handler exists: answer the usual 404 here, without routing.
        None if !in_admin_namespace(req.path()) => {
            return Err(AppError::not_found("接口不存在").into());
        }
        None => false,
    };
    if !allowed {
        return Err(AppError::forbidden(MSG_FORBIDDEN).into());
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_over_parameters() {
        let m = lookup(&Method::GET, "/api/admin/orders/statistics").unwrap();
        assert_eq!(m.access, Code("business:order:statistics"));
        let m = lookup(&Method::GET, "/api/admin/orders/12").unwrap();
        assert_eq!(m.access, Code("business:order:list"));
        assert_eq!(m.params, vec!["12"]);
        let m = lookup(&Method::GET, "/api/admin/permissions/tree").unwrap();
        assert_eq!(m.access, Code("system:permission:list"));
    }

    #[test]
    fn method_and_every_segment_must_match() {
        assert!(lookup(&Method::PATCH, "/api/admin/users/1").is_none());
        assert!(lookup(&Method::GET, "/api/admin/users/1/extra").is_none());
        assert!(lookup(&Method::GET, "/api/admin/users/").is_none());
        assert!(lookup(&Method::GET, "/api/admin/unknown").is_none());
        assert_eq!(
            lookup(&Method::DELETE, "/api/admin/lowcode/forms/3/data/9")
                .unwrap()
                .params,
            vec!["3", "9"]
        );
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
    fn own_account_routes_need_no_permission() {
        assert_eq!(
            lookup(&Method::GET, "/api/admin2/info").unwrap().access,
            Own
        );
        assert_eq!(
            lookup(&Method::POST, "/api/admin2/password")
                .unwrap()
                .access,
            Own
        );
    }

    #[test]
    fn every_code_in_the_table_is_seeded() {
        for (m, p, access) in ROUTES {
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
}
