//! Per-dialect identifier rules: when a name must be quoted, and how (SQLAlchemy's
//! `IdentifierPreparer`).

use crate::compiled::Dialect;

/// PostgreSQL's reserved key words (the "reserved" column of the manual's appendix C), lowercase, sorted.
const PG_RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// SQLite's key words (<https://sqlite.org/lang_keywords.html>), lowercase, sorted.
const SQLITE_RESERVED: &[&str] = &[
    "abort",
    "action",
    "add",
    "after",
    "all",
    "alter",
    "always",
    "analyze",
    "and",
    "as",
    "asc",
    "attach",
    "autoincrement",
    "before",
    "begin",
    "between",
    "by",
    "cascade",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "commit",
    "conflict",
    "constraint",
    "create",
    "cross",
    "current",
    "current_date",
    "current_time",
    "current_timestamp",
    "database",
    "default",
    "deferrable",
    "deferred",
    "delete",
    "desc",
    "detach",
    "distinct",
    "do",
    "drop",
    "each",
    "else",
    "end",
    "escape",
    "except",
    "exclude",
    "exclusive",
    "exists",
    "explain",
    "fail",
    "filter",
    "first",
    "following",
    "for",
    "foreign",
    "from",
    "full",
    "generated",
    "glob",
    "group",
    "groups",
    "having",
    "if",
    "ignore",
    "immediate",
    "in",
    "index",
    "indexed",
    "initially",
    "inner",
    "insert",
    "instead",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "key",
    "last",
    "left",
    "like",
    "limit",
    "match",
    "materialized",
    "natural",
    "no",
    "not",
    "nothing",
    "notnull",
    "null",
    "nulls",
    "of",
    "offset",
    "on",
    "or",
    "order",
    "others",
    "outer",
    "over",
    "partition",
    "plan",
    "pragma",
    "preceding",
    "primary",
    "query",
    "raise",
    "range",
    "recursive",
    "references",
    "regexp",
    "reindex",
    "release",
    "rename",
    "replace",
    "restrict",
    "returning",
    "right",
    "rollback",
    "row",
    "rows",
    "savepoint",
    "select",
    "set",
    "table",
    "temp",
    "temporary",
    "then",
    "ties",
    "to",
    "transaction",
    "trigger",
    "unbounded",
    "union",
    "unique",
    "update",
    "using",
    "vacuum",
    "values",
    "view",
    "virtual",
    "when",
    "where",
    "window",
    "with",
    "without",
];

/// Whether `name` is a reserved word of `dialect` (case-insensitive).
pub fn is_reserved(dialect: Dialect, name: &str) -> bool {
    let list = match dialect {
        Dialect::Sqlite => SQLITE_RESERVED,
        Dialect::Postgresql => PG_RESERVED,
    };
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        let lower = name.to_ascii_lowercase();
        list.binary_search(&lower.as_str()).is_ok()
    } else {
        list.binary_search(&name).is_ok()
    }
}

/// Whether `name` must be quoted in `dialect`: empty, not a plain lowercase identifier
/// (`[a-z_][a-z0-9_$]*`; uppercase would be folded by PostgreSQL), or a reserved word.
pub fn needs_quotes(dialect: Dialect, name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return true;
    };
    if !(first.is_ascii_lowercase() || first == b'_') {
        return true;
    }
    if !bytes
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$')
    {
        return true;
    }
    is_reserved(dialect, name)
}

/// Appends `name` to `out`, double-quoted (embedded `"` doubled) only if [`needs_quotes`].
pub fn push_ident(out: &mut String, dialect: Dialect, name: &str) {
    if needs_quotes(dialect, name) {
        out.push('"');
        for ch in name.chars() {
            if ch == '"' {
                out.push('"');
            }
            out.push(ch);
        }
        out.push('"');
    } else {
        out.push_str(name);
    }
}

/// Whether `name` is a plain function or type name that may be written without quotes
/// (`[A-Za-z_][A-Za-z0-9_.]*`).
pub(crate) fn is_plain_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_for_binary_search() {
        for list in [PG_RESERVED, SQLITE_RESERVED] {
            assert!(list.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn quoting_rules() {
        let q = |d, n| {
            let mut s = String::new();
            push_ident(&mut s, d, n);
            s
        };
        assert_eq!(q(Dialect::Postgresql, "users"), "users");
        assert_eq!(q(Dialect::Postgresql, "user"), "\"user\"");
        assert_eq!(q(Dialect::Sqlite, "user"), "user");
        assert_eq!(q(Dialect::Sqlite, "order"), "\"order\"");
        assert_eq!(q(Dialect::Sqlite, "ORDER"), "\"ORDER\"");
        assert_eq!(q(Dialect::Postgresql, "Name"), "\"Name\"");
        assert_eq!(q(Dialect::Sqlite, "first name"), "\"first name\"");
        assert_eq!(q(Dialect::Sqlite, "we\"ird"), "\"we\"\"ird\"");
        assert_eq!(q(Dialect::Sqlite, "1abc"), "\"1abc\"");
        assert_eq!(q(Dialect::Sqlite, ""), "\"\"");
    }
}
