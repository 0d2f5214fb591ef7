//! calcine's ORM: mapped models, the `Session` unit of work and its identity map
//! (SQLAlchemy `orm`). Built in the ORM issue; this crate is a placeholder in the layer stack.
