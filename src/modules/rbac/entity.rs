//! The RBAC tables. `admin_roles` links administrators to roles; the original's `user_roles` was never used.

pub mod administrator {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "administrator")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub username: String,
        pub password: String,
        pub real_name: String,
        pub email: Option<String>,
        pub phone: String,
        pub avatar: String,
        /// 1 normal, 0 disabled.
        pub status: i32,
        pub last_login: Option<DateTimeUtc>,
        pub tokens_valid_after: i64,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod role {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "roles")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub code: String,
        pub description: String,
        pub sort: i32,
        pub status: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod permission {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "permissions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub parent_id: i64,
        pub name: String,
        pub code: String,
        /// `menu`, `button` or `api`.
        #[sea_orm(column_name = "type")]
        pub kind: String,
        pub path: String,
        pub icon: String,
        pub component: String,
        pub sort: i32,
        pub status: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod role_permission {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "role_permissions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub role_id: i64,
        pub permission_id: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod admin_role {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "admin_roles")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub admin_id: i64,
        pub role_id: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod menu {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "menus")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub parent_id: Option<i64>,
        pub name: String,
        /// 1 directory, 2 menu, 3 button.
        #[sea_orm(column_name = "type")]
        pub kind: i32,
        pub path: String,
        pub component: String,
        pub permission: String,
        pub icon: String,
        pub sort: i32,
        pub status: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
