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
