//! calcine's derive macros (`#[derive(Model)]`), built in the ORM issue.
