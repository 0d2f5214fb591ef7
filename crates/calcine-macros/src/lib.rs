//! calcine's derive macros: `#[derive(Model)]`, re-exported as `calcine_orm::Model` (and
//! `calcine::orm::Model`). See [`macro@Model`] for the attribute syntax.

mod model;

use proc_macro::TokenStream;

/// Maps a struct with named fields to a table: implements `calcine_orm::Model` (the `Table`
/// definition, row ↔ struct conversion, relationship declarations) and adds one typed column
/// handle per mapped field (`User::NAME: Col<User, String>`) and one relationship handle per
/// relationship field (`User::POSTS: Rel<User, Post>`).
///
/// ```ignore
/// #[derive(Model, Debug, Clone)]
/// #[calcine(table = "users")]       // default: snake_case plural of the struct name (BlogPost -> blog_posts)
/// pub struct User {
///     #[calcine(primary_key)]       // a single integer primary key autoincrements
///     pub id: Option<i64>,          // Option<T>: nullable (and, on the key, server-generated)
///     #[calcine(sql_type = "varchar(50)", unique, index)]
///     pub name: String,             // not Option: NOT NULL
///     #[calcine(foreign_key = "users.id", on_delete = "cascade")]
///     pub manager_id: Option<i64>,
///     #[calcine(column = "created", server_default = "CURRENT_TIMESTAMP")]
///     pub created_at: Option<chrono::NaiveDateTime>,
///     #[calcine(default = 0)]
///     pub score: i32,
///     #[calcine(skip)]              // not a column; filled with Default::default() on load
///     pub scratch: Vec<u8>,
///     #[calcine(relationship(back_populates = "author", lazy = "selectin",
///                            cascade = "all, delete-orphan", order_by = "id desc"))]
///     pub posts: Many<Post>,        // one-to-many: a relationship, not a column
///     pub manager: One<User>,       // many-to-one through manager_id, all defaults
/// }
///
/// #[derive(Model)]
/// pub struct Post {
///     #[calcine(primary_key)]
///     pub id: Option<i64>,
///     #[calcine(foreign_key = "users.id")]
///     pub user_id: i64,
///     #[calcine(relationship(back_populates = "posts", foreign_key = "user_id"))]
///     pub author: One<User>,
///     #[calcine(relationship(secondary = PostTag))]   // many-to-many through post_tags
///     pub tags: Many<Tag>,
/// }
/// ```
///
/// # Struct attributes
/// * `table = "name"`: the table name.
/// * `crate = "path"`: the path of the ORM crate (default `::calcine::orm`; use
///   `"calcine_orm"` when depending on `calcine-orm` directly).
///
/// # Field attributes
/// * `primary_key`: part of the primary key (several fields make a composite key). At least one
///   field must be marked.
/// * `column = "name"`: the column name (default: the field name).
/// * `sql_type = "..."`: the column type, overriding the one inferred from the field type:
///   `smallint`, `integer`, `bigint`, `float`, `double`, `numeric(P, S)`, `text`, `varchar(N)`,
///   `boolean`, `bytes` (`blob`, `bytea`), `date`, `time`, `timestamp`, `timestamptz`, `uuid`,
///   `json`.
/// * `nullable` / `nullable = bool`: overrides nullability (default: `Option<T>` is nullable,
///   anything else `NOT NULL`).
/// * `autoincrement = bool`: forces autoincrement of the key column on or off.
/// * `default = literal`: a client-side default (integer, float, bool or string literal).
/// * `server_default = "SQL"`: a server-side default, SQL rendered verbatim.
/// * `unique`, `index`: a `UNIQUE` constraint, an index `ix_<table>_<column>`.
/// * `foreign_key = "table.column"`, with optional `on_delete` / `on_update` = `"cascade"`,
///   `"set null"`, `"set default"`, `"restrict"` or `"no action"`.
/// * `skip`: not a column; the field's type must implement `Default`. On a field whose type is
///   named `Many<_>`/`One<_>`, `skip` also keeps it from being a relationship.
///
/// # Relationships
/// A field of type `Many<T>` (a collection: one-to-many, many-to-many) or `One<T>` (a reference:
/// many-to-one, one-to-one), by the type's last path segment, is a relationship to the model
/// `T`, never a column: it takes no column attributes, is left out of `column_value`,
/// `set_column_value` and `to_values`, and `from_values` fills it with `Default::default()`
/// (not loaded). Without an attribute it is a relationship with SQLAlchemy's defaults; the
/// join columns are found from the tables' foreign keys when the relationship is first used.
/// `#[calcine(relationship(...))]` takes (all optional):
/// * `back_populates = "field"`: the relationship on `T` kept in sync in memory.
/// * `order_by = "column"`, `"column desc"` or `"column asc"`: a column of `T` ordering a
///   collection.
/// * `lazy = "..."`: the default loader strategy: `"select"` (on first access, the default),
///   `"selectin"`, `"joined"`, `"raise"` or `"noload"`.
/// * `cascade = "..."`: a comma-separated list of `save-update`, `merge`, `delete`,
///   `delete-orphan`, `all` (= `save-update, merge, delete`), `refresh-expire`, `expunge`
///   (accepted, no effect) and `none`; checked at compile time. Default: `save-update, merge`.
/// * `foreign_key = "column"`: the foreign-key column (of whichever table has it) to join on,
///   when the two tables have several foreign keys between them.
/// * `secondary = Type`: the association model of a many-to-many relationship (a `Many` field
///   only); its table needs a foreign key to each side.
/// * `passive_deletes` / `passive_deletes = bool`: leave deleting or nullifying children to the
///   database's `ON DELETE` instead of loading them.
///
/// # Inferred column types
/// By the last path segment of the field type (inside `Option<...>`): `i64`/`u32` → `BigInt`,
/// `i32`/`u16` → `Integer`, `i16`/`i8`/`u8` → `SmallInt`, `f64` → `Double`, `f32` → `Float`,
/// `bool` → `Boolean`, `String` → `Text`, `Vec<u8>` → `Bytes`, `NaiveDate` → `Date`,
/// `NaiveTime` → `Time`, `NaiveDateTime` → `Timestamp`, `DateTime<_>` → `TimestampTz`,
/// `Uuid` → `Uuid`, `serde_json::Value`/`Json` → `Json`. Any other type needs `sql_type`. Every
/// mapped field's type must implement `FromValue`, `Into<Value>` and `Clone`.
///
/// # Generated items
/// * `impl Model`: `mapper()` builds the `Table` and `Mapper` once, on first use (an invalid
///   definition the macro could not detect panics there with the mapper's error);
///   `column_value`, `set_column_value`, `from_values` and `to_values` in table column order.
/// * With relationship fields, also `relationships()` (a static `RelationshipDef` per
///   relationship field, in field order) and `relation(index)`; `mapper()` passes the
///   relationships to `Mapper::with_relationships`.
/// * One associated constant per mapped field, named after the field in SCREAMING_SNAKE_CASE,
///   with the struct's visibility: `pub const NAME: Col<User, String>` (the `Option` stripped).
/// * One per relationship field, named the same way: `pub const POSTS: Rel<User, Post>`, whose
///   index is the field's position among the relationship fields (what loader options take).
///
/// Generic structs are not supported.
#[proc_macro_derive(Model, attributes(calcine))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    model::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
