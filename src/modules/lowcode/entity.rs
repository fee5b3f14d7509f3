pub mod lowcode_form {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lowcode_forms")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub title: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        /// JSON text of the field list (array, or an object with `fields`).
        #[sea_orm(column_type = "Text")]
        pub form_json: String,
        pub version: i32,
        pub status: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod lowcode_form_version {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lowcode_form_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub form_id: i64,
        pub version: i32,
        #[sea_orm(column_type = "Text")]
        pub form_json: String,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod lowcode_page {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lowcode_pages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub title: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub page_json: String,
        pub path: String,
        pub status: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod form_data_record {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "form_data_records")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub form_id: i64,
        pub form_version: i32,
        /// JSON text of the submitted object.
        #[sea_orm(column_type = "Text")]
        pub form_data: String,
        pub created_by: Option<i64>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
