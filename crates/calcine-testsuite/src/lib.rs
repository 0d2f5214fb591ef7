//! calcine's backend-parametrised integration suite: SQLite always, PostgreSQL from
//! `CALCINE_TEST_POSTGRES_URL` (see the README).
