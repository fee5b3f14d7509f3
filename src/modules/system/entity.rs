pub mod system_config {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "system_configs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Wire name `key` (a reserved word in SQL, hence the column name).
        pub config_key: String,
        /// JSON text: `"text"`, `true`, `30`.
        #[sea_orm(column_type = "Text")]
        pub value: String,
        pub category: String,
        pub label: String,
        /// UI widget: string, boolean, number, textarea, password, select, radio, slider, json.
        #[sea_orm(column_name = "type")]
        pub kind: String,
        pub is_system: bool,
        pub sort: i32,
        pub remark: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod system_log {
    use sea_orm::entity::prelude::*;

    /// One audited admin request.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "system_logs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub admin_id: Option<i64>,
        pub operator: String,
        /// The permission code of the route (or `account` for the caller's own account routes).
        pub action: String,
        pub module: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        pub method: String,
        pub path: String,
        pub target: String,
        pub ip_address: String,
        pub user_agent: String,
        /// The JSON body with secrets replaced by `***`.
        #[sea_orm(column_type = "Text", nullable)]
        pub request_data: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub response: Option<String>,
        pub status_code: i32,
        /// 1 success (HTTP < 400), 0 failure.
        pub status: i32,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
