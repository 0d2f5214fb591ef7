//! calcine's asyncio bridge (SQLAlchemy `ext.asyncio`): async facades that call the one
//! synchronous core through `calcine_greenlet::greenlet_spawn`. Built in the Core and ORM issues.
