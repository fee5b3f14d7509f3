//! `mychat seed-demo`: demo counselors with their user accounts, and a client, for trying the platform
//! out. Idempotent: existing names are skipped.
//! Each demo account's password is printed once.

use crate::modules::auth::service::{Registration, register_user};
use crate::modules::counselors::dto::CreateCounselorRequest;
use crate::modules::counselors::service as counselors;
use crate::modules::rbac::seed::random_password;
use crate::modules::users::service as users;
use crate::state::AppState;

/// `(username, name, title, specialty, yuan per minute)` of the demo counselors.
pub const DEMO_COUNSELORS: &[(&str, &str, &str, &str, f64)] = &[
    (
        "demo_counselor_li",
        "李静",
        "国家二级心理咨询师",
        "情绪管理,焦虑,抑郁",
        2.5,
    ),
    (
        "demo_counselor_wang",
        "王明",
        "心理治疗师",
        "婚姻家庭,人际关系",
        3.0,
    ),
    (
        "demo_counselor_zhang",
        "张晓",
        "临床心理学家",
        "青少年成长,学业压力",
        2.0,
    ),
];

pub const DEMO_CLIENT: &str = "demo_user";

/// Creates the demo accounts that are missing and returns a summary.
pub async fn seed(state: &AppState) -> anyhow::Result<String> {
    let mut created = Vec::new();
    let names = DEMO_COUNSELORS
        .iter()
        .map(|c| c.0)
        .chain(std::iter::once(DEMO_CLIENT));
    for username in names {
        if users::find_by_username(&state.db, username)
            .await?
            .is_some()
        {
            continue;
        }
        let password = random_password();
        register_user(
            state,
            Registration {
                username: username.to_owned(),
                password: password.clone(),
                email: String::new(),
                phone: String::new(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot create {username}: {e}"))?;
        created.push(format!("{username} / {password}"));
    }
    for (username, name, title, specialty, price) in DEMO_COUNSELORS {
        let Some(user) = users::find_by_username(&state.db, username).await? else {
            continue;
        };
        if counselors::counselor_of_user(&state.db, user.id)
            .await?
            .is_some()
        {
            continue;
        }
        counselors::create_counselor(
            state,
            CreateCounselorRequest {
                name: (*name).to_owned(),
                title: (*title).to_owned(),
                avatar: String::new(),
                bio: format!("{name}，{title}，擅长{specialty}。"),
                specialty: (*specialty).to_owned(),
                price: *price,
                years_exp: 8,
                rating: None,
                status: None,
                user_id: Some(user.id),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot create counselor {name}: {e}"))?;
        created.push(format!("counselor {name} (account {username})"));
    }
    Ok(if created.is_empty() {
        "nothing new (demo accounts already exist)".into()
    } else {
        format!(
            "accounts (username / password):\n  {}",
            created.join("\n  ")
        )
    })
}
