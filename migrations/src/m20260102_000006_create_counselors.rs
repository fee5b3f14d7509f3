//! Counselors, their statistics, applications to become one, and reviews of their orders.
//! Money is fen; `rating` is hundredths (500 = 5.00).

use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "counselors",
            vec![
                id("id"),
                int64_null("user_id"),
                varchar("name", 50),
                varchar("title", 50),
                varchar("avatar", 255),
                long_text_null("bio"),
                varchar("specialty", 255),
                int64_default("price", 0),
                int32_default("years_exp", 0),
                int32_default("rating", 500),
                int32_default("status", 1),
                created,
                updated,
            ],
            vec![
                index("counselors", &["user_id"], true),
                index("counselors", &["status", "rating"], false),
            ],
        )
        .await?;

        create_table(
            manager,
            "counselor_statistics",
            vec![
                id("id"),
                int64("counselor_id"),
                int64_default("total_orders", 0),
                int64_default("completed_orders", 0),
                int64_default("cancelled_orders", 0),
                int64_default("total_duration", 0),
                int64_default("total_amount", 0),
                int64_default("review_count", 0),
                int64_default("sum_rating", 0),
                utc_time_null(b, "last_order_time"),
                utc_time_required(b, "updated_at"),
            ],
            vec![index("counselor_statistics", &["counselor_id"], true)],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "counselor_applications",
            vec![
                id("id"),
                int64("user_id"),
                varchar("name", 50),
                varchar("gender", 10),
                varchar("phone", 20),
                varchar("email", 100),
                varchar("title", 50),
                varchar("specialty", 500),
                int32_default("years_exp", 0),
                long_text_null("bio"),
                varchar("certificate_img1", 255),
                varchar("certificate_img2", 255),
                varchar("certificate_img3", 255),
                int32_default("status", 0),
                long_text_null("reject_reason"),
                int64_null("reviewer_id"),
                utc_time_null(b, "reviewed_at"),
                int64_null("counselor_id"),
                created,
                updated,
            ],
            vec![
                index("counselor_applications", &["user_id"], true),
                index("counselor_applications", &["status"], false),
            ],
        )
        .await?;

        let [created, updated] = timestamps(b);
        create_table(
            manager,
            "counselor_reviews",
            vec![
                id("id"),
                int64("order_id"),
                int64("user_id"),
                int64("counselor_id"),
                int32_default("rating", 5),
                long_text_null("comment"),
                boolean_default("is_anonymous", false),
                boolean_default("is_visible", true),
                created,
                updated,
            ],
            vec![
                index("counselor_reviews", &["order_id"], true),
                index("counselor_reviews", &["counselor_id", "is_visible"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "counselor_reviews",
                "counselor_applications",
                "counselor_statistics",
                "counselors",
            ],
        )
        .await
    }
}
