//! calcine's Engine, Connection, Transaction, pool and drivers (SQLAlchemy `engine`).
