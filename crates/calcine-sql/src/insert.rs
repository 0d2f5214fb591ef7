//! [`Insert`]: the `INSERT` statement builder (SQLAlchemy's `insert()`), with multi-row values,
//! `INSERT ... SELECT`, upserts and `RETURNING`.

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::dml::{
    ColumnName, in_table_scope, push_pair, resolve_pairs, walk_returning, walk_set_list,
};
use crate::error::{Result, SqlError, SqlErrorKind};
use crate::expression::{Cx, Expr, ExprKind, walk_expr, walk_list};
use crate::query::Query;
use crate::schema::Table;
use crate::select::{IntoSelectList, result_names};
use crate::sink::{Kw, Sink, Walk, compile_walk, compile_walk_deferring_rows};

/// An `INSERT` statement (SQLAlchemy's `Insert`).
///
/// Without values it renders `INSERT INTO t DEFAULT VALUES` (or binds the columns' client-side
/// defaults); client-side [`Column::default`](crate::Column::default)s are added to every row
/// that leaves those columns out. Columns render in table order, whatever order they were given in.
#[derive(Debug, Clone)]
pub struct Insert {
    table: Table,
    /// The target columns (positions in `table`, ascending for a VALUES list).
    columns: Vec<u32>,
    /// The VALUES rows, flat: `rows` rows of `columns.len()` expressions each, in column order.
    values: Vec<Expr>,
    rows: usize,
    from_select: Option<Box<Query>>,
    on_conflict: Option<OnConflict>,
    returning: Vec<Expr>,
}

/// Where the values of a `values_many` row go, learnt from its first row.
struct RowShape {
    /// `(column, slot in the row)` in the order the first row gave them.
    order: Vec<(u32, usize)>,
    /// `(slot, column)` of the columns filled from their client-side default.
    defaults: Vec<(usize, usize)>,
    /// Values given in the columns' order with no defaults among them are pushed as they come;
    /// otherwise each goes to its slot of a row of placeholders.
    direct: bool,
}

impl RowShape {
    /// The shape of a row that gave the columns `given` (in that order), for a statement whose
    /// rows have `columns`.
    fn new(columns: &[u32], given: &[u32]) -> Self {
        let order: Vec<(u32, usize)> = given
            .iter()
            .map(|&c| (c, columns.iter().position(|&d| d == c).unwrap_or(0)))
            .collect();
        let defaults: Vec<(usize, usize)> = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !given.contains(c))
            .map(|(slot, &c)| (slot, c as usize))
            .collect();
        let direct = defaults.is_empty() && order.iter().enumerate().all(|(k, o)| o.1 == k);
        RowShape {
            order,
            defaults,
            direct,
        }
    }
}

#[derive(Debug, Clone)]
enum OnConflict {
    Nothing(Vec<u32>),
    Update {
        target: Vec<u32>,
        set: Vec<(u32, Expr)>,
        where_: Option<Expr>,
    },
}

/// `INSERT INTO table ...` (SQLAlchemy's `insert()`).
pub fn insert(table: &Table) -> Insert {
    Insert {
        table: table.clone(),
        columns: Vec::new(),
        values: Vec::new(),
        rows: 0,
        from_select: None,
        on_conflict: None,
        returning: Vec::new(),
    }
}

impl Insert {
    /// Adds one row of `(column, value)` pairs; calling it again adds rows to a multi-row
    /// `VALUES` list. Values may be anything `Into<Value>` (bound) or SQL expressions.
    ///
    /// # Errors
    /// [`SqlErrorKind::EmptyValues`] for an empty row, [`SqlErrorKind::UnknownColumn`],
    /// [`SqlErrorKind::Duplicate`] for a column given twice, [`SqlErrorKind::ColumnMismatch`] if
    /// the row's columns differ from the first row's, [`SqlErrorKind::InvalidStatement`] after
    /// [`Insert::from_select`].
    pub fn values<K: ColumnName, V: Into<Expr>>(
        mut self,
        row: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self> {
        self.push_row(row, None)?;
        Ok(self)
    }

    /// Adds several rows (see [`Insert::values`]).
    ///
    /// # Errors
    /// [`SqlErrorKind::EmptyValues`] if `rows` is empty, and what [`Insert::values`] reports.
    pub fn values_many<K, V, R>(mut self, rows: impl IntoIterator<Item = R>) -> Result<Self>
    where
        K: ColumnName,
        V: Into<Expr>,
        R: IntoIterator<Item = (K, V)>,
    {
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Err(SqlError::new(
                SqlErrorKind::EmptyValues,
                format!("empty list of rows for INSERT INTO {:?}", self.table.name()),
            ));
        };
        let Some(second) = rows.next() else {
            self.push_row(first, None)?;
            return Ok(self);
        };
        // The first row is checked in full; it fixes where each of its columns goes.
        let mut given = Vec::new();
        self.push_row(first, Some(&mut given))?;
        let shape = RowShape::new(&self.columns, &given);
        self.values
            .reserve((rows.size_hint().0 + 1) * self.columns.len());
        for row in std::iter::once(second).chain(rows) {
            self.push_like(&shape, row)?;
        }
        Ok(self)
    }

    /// A row of `values_many` after the first: placed without further checks when it names the
    /// first row's columns in the same order, else checked like the first (same errors; a row
    /// may give its columns in another order).
    #[inline(always)]
    fn push_like<K: ColumnName, V: Into<Expr>>(
        &mut self,
        shape: &RowShape,
        row: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let RowShape {
            order,
            defaults,
            direct,
        } = shape;
        let width = self.columns.len();
        let start = self.values.len();
        if !direct {
            self.values
                .resize_with(start + width, || Expr(ExprKind::Null));
        }
        let mut pairs = row.into_iter();
        let mut placed = 0;
        let mut other = None;
        for (k, v) in pairs.by_ref() {
            let i = k.position_in(&self.table)? as u32;
            match order.get(placed) {
                Some(&(c, _)) if c == i && *direct => self.values.push(v.into()),
                Some(&(c, slot)) if c == i => self.values[start + slot] = v.into(),
                _ => {
                    other = Some((i, v.into()));
                    break;
                }
            }
            placed += 1;
        }
        if other.is_none() && placed == order.len() {
            for &(slot, c) in defaults {
                if let Some(d) = self.table.columns().get(c).and_then(|c| c.default.as_ref()) {
                    self.values[start + slot] = Expr::from(d.clone());
                }
            }
            self.rows += 1;
            return Ok(());
        }
        let mut resolved: Vec<(u32, Expr)> = Vec::with_capacity(width);
        for (k, &(c, slot)) in order[..placed].iter().enumerate() {
            let at = start + if *direct { k } else { slot };
            resolved.push((
                c,
                std::mem::replace(&mut self.values[at], Expr(ExprKind::Null)),
            ));
        }
        self.values.truncate(start);
        if let Some((i, e)) = other {
            push_pair(&self.table, &mut resolved, i, e)?;
        }
        for (k, v) in pairs {
            let i = k.position_in(&self.table)? as u32;
            push_pair(&self.table, &mut resolved, i, v.into())?;
        }
        resolved.sort_by_key(|p| p.0);
        self.push_resolved(resolved)
    }

    /// One row of `values` / `values_many`, checked against the first row's columns; `given`
    /// receives the row's columns in the order given.
    fn push_row<K: ColumnName, V: Into<Expr>>(
        &mut self,
        row: impl IntoIterator<Item = (K, V)>,
        given: Option<&mut Vec<u32>>,
    ) -> Result<()> {
        if self.from_select.is_some() {
            return Err(SqlError::new(
                SqlErrorKind::InvalidStatement,
                "an INSERT ... SELECT cannot also have a VALUES list",
            ));
        }
        let row = row.into_iter();
        let mut pairs: Vec<(u32, Expr)> = Vec::with_capacity(row.size_hint().0);
        for (k, v) in row {
            let i = k.position_in(&self.table)? as u32;
            push_pair(&self.table, &mut pairs, i, v.into())?;
        }
        if let Some(given) = given {
            given.extend(pairs.iter().map(|p| p.0));
        }
        pairs.sort_by_key(|p| p.0);
        self.push_resolved(pairs)
    }

    /// A row of resolved pairs (sorted by column, no duplicates): adds the client-side defaults
    /// of the columns it leaves out and checks it against the first row's columns.
    fn push_resolved(&mut self, mut pairs: Vec<(u32, Expr)>) -> Result<()> {
        if pairs.is_empty() {
            return Err(SqlError::new(
                SqlErrorKind::EmptyValues,
                format!(
                    "empty values row for INSERT INTO {:?}; give at least one column, or use \
                     insert() without values for DEFAULT VALUES",
                    self.table.name()
                ),
            ));
        }
        let given = pairs.len();
        for (i, c) in self.table.columns().iter().enumerate() {
            if let Some(d) = &c.default {
                if !pairs[..given].iter().any(|p| p.0 as usize == i) {
                    pairs.push((i as u32, Expr::from(d.clone())));
                }
            }
        }
        if pairs.len() > given {
            pairs.sort_by_key(|p| p.0);
        }
        if self.rows == 0 {
            self.columns = pairs.iter().map(|p| p.0).collect();
        } else if !pairs.iter().map(|p| p.0).eq(self.columns.iter().copied()) {
            let names = |c: &mut dyn Iterator<Item = u32>| -> Vec<&str> {
                c.map(|i| self.table.columns()[i as usize].name()).collect()
            };
            return Err(SqlError::new(
                SqlErrorKind::ColumnMismatch,
                format!(
                    "every row of a multi-row INSERT must give the same columns: the first row has \
                     {:?}, this one {:?}",
                    names(&mut self.columns.iter().copied()),
                    names(&mut pairs.iter().map(|p| p.0))
                ),
            ));
        }
        self.values.extend(pairs.into_iter().map(|p| p.1));
        self.rows += 1;
        Ok(())
    }

    /// `INSERT INTO t (columns) SELECT ...` (SQLAlchemy's `from_select`).
    ///
    /// # Errors
    /// [`SqlErrorKind::ColumnMismatch`] if the select has a different number of columns,
    /// [`SqlErrorKind::UnknownColumn`], [`SqlErrorKind::InvalidStatement`] if values were given.
    pub fn from_select<K: ColumnName>(
        mut self,
        columns: impl IntoIterator<Item = K>,
        select: impl Into<Query>,
    ) -> Result<Self> {
        if self.rows > 0 {
            return Err(SqlError::new(
                SqlErrorKind::InvalidStatement,
                "an INSERT with VALUES cannot also take a SELECT",
            ));
        }
        let cols = columns
            .into_iter()
            .map(|k| k.position_in(&self.table).map(|i| i as u32))
            .collect::<Result<Vec<u32>>>()?;
        let select = select.into();
        let n = select.column_names().len();
        if n != cols.len() {
            return Err(SqlError::new(
                SqlErrorKind::ColumnMismatch,
                format!(
                    "INSERT ... SELECT names {} columns but the SELECT returns {n}",
                    cols.len()
                ),
            ));
        }
        self.columns = cols;
        self.from_select = Some(Box::new(select));
        self.fix_select_for_upsert();
        Ok(self)
    }

    /// `INSERT ... SELECT ... ON CONFLICT` needs a `WHERE` in the select on SQLite (see
    /// <https://sqlite.org/lang_upsert.html>, "parsing ambiguity"); add `WHERE 1 = 1` if missing.
    fn fix_select_for_upsert(&mut self) {
        if let (Some(_), Some(q)) = (&self.on_conflict, &mut self.from_select) {
            if let Query::Select(sel) = &mut **q {
                sel.ensure_where();
            }
        }
    }

    fn target<K: ColumnName>(&self, target: impl IntoIterator<Item = K>) -> Result<Vec<u32>> {
        target
            .into_iter()
            .map(|k| k.position_in(&self.table).map(|i| i as u32))
            .collect()
    }

    /// `ON CONFLICT [(target)] DO NOTHING` (both dialects; SQLite ≥ 3.24). An empty target
    /// matches any constraint.
    ///
    /// # Errors
    /// [`SqlErrorKind::UnknownColumn`] for a target column not in the table.
    pub fn on_conflict_do_nothing<K: ColumnName>(
        mut self,
        target: impl IntoIterator<Item = K>,
    ) -> Result<Self> {
        self.on_conflict = Some(OnConflict::Nothing(self.target(target)?));
        self.fix_select_for_upsert();
        Ok(self)
    }

    /// `ON CONFLICT (target) DO UPDATE SET col = value, ...`; use
    /// [`ColumnRef::excluded`](crate::ColumnRef::excluded) for the proposed row's value.
    ///
    /// # Errors
    /// [`SqlErrorKind::EmptyValues`] for an empty target or `SET` list,
    /// [`SqlErrorKind::UnknownColumn`].
    pub fn on_conflict_do_update<K1, K2, V>(
        mut self,
        target: impl IntoIterator<Item = K1>,
        set: impl IntoIterator<Item = (K2, V)>,
    ) -> Result<Self>
    where
        K1: ColumnName,
        K2: ColumnName,
        V: Into<Expr>,
    {
        let target = self.target(target)?;
        let set = resolve_pairs(&self.table, set)?;
        if target.is_empty() || set.is_empty() {
            return Err(SqlError::new(
                SqlErrorKind::EmptyValues,
                "ON CONFLICT DO UPDATE needs conflict target columns and at least one SET column",
            ));
        }
        self.on_conflict = Some(OnConflict::Update {
            target,
            set,
            where_: None,
        });
        self.fix_select_for_upsert();
        Ok(self)
    }

    /// Adds `WHERE cond` to a previous `on_conflict_do_update` (no effect otherwise).
    pub fn on_conflict_where(mut self, cond: impl Into<Expr>) -> Self {
        if let Some(OnConflict::Update { where_, .. }) = &mut self.on_conflict {
            *where_ = Some(cond.into());
        }
        self
    }

    /// `RETURNING columns`.
    pub fn returning(mut self, columns: impl IntoSelectList) -> Self {
        columns.push_into(&mut self.returning);
        self
    }

    /// The names of the `RETURNING` columns (empty without `RETURNING`).
    pub fn result_columns(&self) -> Vec<Arc<str>> {
        result_names(&self.returning)
    }

    fn col_list<S: Sink>(&self, s: &mut S, cols: &[u32]) {
        s.kw(Kw::Open);
        for (n, &i) in cols.iter().enumerate() {
            if n > 0 {
                s.kw(Kw::Comma);
            }
            s.ident(
                self.table
                    .columns()
                    .get(i as usize)
                    .map_or("", |c| c.name()),
            );
        }
        s.kw(Kw::Close);
    }
}

impl Walk for Insert {
    fn walk<S: Sink>(&self, s: &mut S) {
        in_table_scope(&self.table, false, s, |s, cx| {
            s.kw(Kw::InsertInto);
            s.ident(self.table.name());
            if let Some(q) = &self.from_select {
                s.kw(Kw::Space);
                self.col_list(s, &self.columns);
                s.kw(Kw::Space);
                q.walk(s, None);
            } else if self.rows == 0 {
                let defaults: Vec<(u32, Expr)> = self
                    .table
                    .columns()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| {
                        c.default
                            .as_ref()
                            .map(|d| (i as u32, Expr::from(d.clone())))
                    })
                    .collect();
                if defaults.is_empty() {
                    s.kw(Kw::DefaultValues);
                } else {
                    s.kw(Kw::Space);
                    let cols: Vec<u32> = defaults.iter().map(|d| d.0).collect();
                    self.col_list(s, &cols);
                    s.kw(Kw::Values);
                    s.kw(Kw::Open);
                    walk_list(defaults.iter().map(|d| &d.1), s, cx);
                    s.kw(Kw::Close);
                }
            } else {
                s.kw(Kw::Space);
                self.col_list(s, &self.columns);
                s.kw(Kw::Values);
                let width = self.columns.len().max(1);
                let plain = self
                    .values
                    .iter()
                    .all(|e| matches!(e.0, ExprKind::Param(_)));
                if plain {
                    s.param_rows(
                        width,
                        self.values.len(),
                        self.values.iter().filter_map(|e| match &e.0 {
                            ExprKind::Param(v) => Some(v),
                            _ => None,
                        }),
                    );
                } else {
                    for (r, row) in self.values.chunks(width).enumerate() {
                        if r > 0 {
                            s.kw(Kw::Comma);
                        }
                        s.kw(Kw::Open);
                        walk_list(row, s, cx);
                        s.kw(Kw::Close);
                    }
                }
            }
            match &self.on_conflict {
                None => {}
                Some(OnConflict::Nothing(target)) => {
                    s.kw(Kw::OnConflict);
                    if !target.is_empty() {
                        s.kw(Kw::Space);
                        self.col_list(s, target);
                    }
                    s.kw(Kw::DoNothing);
                }
                Some(OnConflict::Update {
                    target,
                    set,
                    where_,
                }) => {
                    s.kw(Kw::OnConflict);
                    s.kw(Kw::Space);
                    self.col_list(s, target);
                    s.kw(Kw::DoUpdateSet);
                    let qcx = Cx {
                        qualify: true,
                        ..cx
                    };
                    walk_set_list(&self.table, set, s, qcx);
                    if let Some(w) = where_ {
                        s.kw(Kw::Where);
                        walk_expr(w, s, qcx);
                    }
                }
            }
            walk_returning(&self.returning, s, cx);
        });
    }
}

impl Executable for Insert {
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        compile_walk(self, dialect, cache)
    }

    /// Moves a `VALUES` list of bound values into the parameters instead of copying them.
    fn into_compiled(self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        let (mut compiled, at) = compile_walk_deferring_rows(&self, dialect, cache);
        if let Some(at) = at {
            // The walk only defers a list of bound values (see `walk`).
            let tail = compiled.params.split_off(at.min(compiled.params.len()));
            compiled.params.reserve(self.values.len() + tail.len());
            compiled
                .params
                .extend(self.values.into_iter().filter_map(|e| match e.0 {
                    ExprKind::Param(v) => Some(v),
                    _ => None,
                }));
            compiled.params.extend(tail);
        }
        compiled
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        Insert::result_columns(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::compiled::Dialect::{Postgresql as Pg, Sqlite};
    use crate::fixtures::{both, compile, schema, sql};
    use crate::*;

    #[test]
    fn single_row_in_table_order_with_defaults() {
        let s = schema();
        // `score` has a client-side default of 0; columns come out in table order.
        let q = insert(&s.posts)
            .values([("title", Value::from("hi")), ("user_id", Value::from(7))])
            .unwrap();
        assert_eq!(
            both(&q),
            (
                "INSERT INTO posts (user_id, title, score) VALUES (?1, ?2, ?3)".into(),
                "INSERT INTO posts (user_id, title, score) VALUES ($1, $2, $3)".into()
            )
        );
        assert_eq!(
            compile(&q, Sqlite).params,
            vec![Value::Int(7), "hi".into(), Value::Int(0)]
        );
        let name = s.users.c("name").unwrap();
        let q = insert(&s.users)
            .values([(name, "o'brien\0; DROP TABLE users")])
            .unwrap()
            .returning(&s.users);
        assert_eq!(
            sql(&q, Pg),
            "INSERT INTO users (name) VALUES ($1) RETURNING id, name, email"
        );
        assert_eq!(
            compile(&q, Pg).params,
            vec![Value::from("o'brien\0; DROP TABLE users")]
        );
        assert_eq!(q.result_columns().len(), 3);
        let q = insert(&s.users);
        assert_eq!(sql(&q, Sqlite), "INSERT INTO users DEFAULT VALUES");
        let q = insert(&s.posts);
        assert_eq!(sql(&q, Sqlite), "INSERT INTO posts (score) VALUES (?1)");
        let q = insert(&s.users)
            .values([("name", func::upper("x"))])
            .unwrap();
        assert_eq!(
            sql(&q, Sqlite),
            "INSERT INTO users (name) VALUES (upper(?1))"
        );
    }

    #[test]
    fn multi_row() {
        let s = schema();
        let q = insert(&s.users)
            .values_many([
                [("name", "a"), ("email", "a@x")],
                [("email", "b@x"), ("name", "b")],
            ])
            .unwrap()
            .returning(s.users.c("id").unwrap());
        assert_eq!(
            sql(&q, Pg),
            "INSERT INTO users (name, email) VALUES ($1, $2), ($3, $4) RETURNING id"
        );
        assert_eq!(
            compile(&q, Pg).params,
            vec!["a".into(), "a@x".into(), "b".into(), "b@x".into()]
        );
    }

    #[test]
    fn multi_row_rows_in_any_order_with_defaults() {
        let s = schema();
        // posts: id, user_id, title, score (default 0). Later rows repeat the first row's order
        // (placed directly), give another order, or set the defaulted column themselves only
        // if the first row did.
        let q = insert(&s.posts)
            .values_many([
                vec![("title", Value::from("a")), ("user_id", Value::from(1))],
                vec![("title", Value::from("b")), ("user_id", Value::from(2))],
                vec![("user_id", Value::from(3)), ("title", Value::from("c"))],
                vec![("title", Value::from("d")), ("user_id", Value::from(4))],
            ])
            .unwrap();
        assert_eq!(
            both(&q),
            (
                "INSERT INTO posts (user_id, title, score) VALUES (?1, ?2, ?3), (?4, ?5, ?6), \
                 (?7, ?8, ?9), (?10, ?11, ?12)"
                    .into(),
                "INSERT INTO posts (user_id, title, score) VALUES ($1, $2, $3), ($4, $5, $6), \
                 ($7, $8, $9), ($10, $11, $12)"
                    .into()
            )
        );
        let v = |id: i64, t: &str| [Value::Int(id), t.into(), Value::Int(0)];
        let want: Vec<Value> = [v(1, "a"), v(2, "b"), v(3, "c"), v(4, "d")].concat();
        assert_eq!(compile(&q, Pg).params, want);
        // A row may give a defaulted column the first row left to its default, and the other
        // way round: the rows' columns are compared with the defaults added.
        let q = insert(&s.posts)
            .values_many([
                vec![("title", Value::from("a")), ("user_id", Value::from(1))],
                vec![
                    ("title", Value::from("b")),
                    ("user_id", Value::from(2)),
                    ("score", Value::from(5)),
                ],
            ])
            .unwrap()
            .values_many([
                vec![
                    ("score", Value::from(6)),
                    ("user_id", Value::from(3)),
                    ("title", "c".into()),
                ],
                vec![("user_id", Value::from(4)), ("title", "d".into())],
            ])
            .unwrap();
        let v = |id: i64, t: &str, score: i64| [Value::Int(id), t.into(), Value::Int(score)];
        let want: Vec<Value> = [v(1, "a", 0), v(2, "b", 5), v(3, "c", 6), v(4, "d", 0)].concat();
        assert_eq!(compile(&q, Sqlite).params, want);
        let e = insert(&s.posts)
            .values_many([
                vec![("title", Value::from("a")), ("user_id", Value::from(1))],
                vec![
                    ("title", Value::from("b")),
                    ("user_id", 2.into()),
                    ("id", 9.into()),
                ],
            ])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ColumnMismatch);
        // Columns given in table order, no defaults: pushed as they come.
        let q = insert(&s.users)
            .values_many((0..3).map(|i| [("id", Value::from(i)), ("name", format!("n{i}").into())]))
            .unwrap()
            .values([("name", Value::from("x")), ("id", Value::from(9))])
            .unwrap();
        assert_eq!(
            sql(&q, Pg),
            "INSERT INTO users (id, name) VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8)"
        );
        assert_eq!(
            compile(&q, Sqlite).params,
            vec![
                Value::Int(0),
                "n0".into(),
                Value::Int(1),
                "n1".into(),
                Value::Int(2),
                "n2".into(),
                Value::Int(9),
                "x".into()
            ]
        );
        // A later values_many checks its first row against the statement's first row.
        let q = insert(&s.users)
            .values([("name", "a")])
            .unwrap()
            .values_many([[("name", "b")], [("name", "c")]])
            .unwrap();
        assert_eq!(
            sql(&q, Sqlite),
            "INSERT INTO users (name) VALUES (?1), (?2), (?3)"
        );
        let e = insert(&s.users)
            .values([("name", "a")])
            .unwrap()
            .values_many([[("email", "b")]])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ColumnMismatch);
    }

    #[test]
    fn multi_row_with_expressions() {
        let s = schema();
        let name = s.users.c("name").unwrap();
        let q = insert(&s.users)
            .values_many([
                vec![("name", Expr::from("a")), ("email", func::lower("A@X"))],
                vec![("name", Expr::from("b")), ("email", Expr::from("b@x"))],
                vec![
                    ("email", Expr::from(Value::Null)),
                    ("name", func::upper("c")),
                ],
            ])
            .unwrap();
        assert_eq!(
            sql(&q, Pg),
            "INSERT INTO users (name, email) VALUES ($1, lower($2)), ($3, $4), (upper($5), $6)"
        );
        assert_eq!(
            compile(&q, Sqlite).params,
            vec![
                "a".into(),
                "A@X".into(),
                "b".into(),
                "b@x".into(),
                "c".into(),
                Value::Null
            ]
        );
        let q = insert(&s.users)
            .values_many([[("name", name.excluded())]])
            .unwrap();
        assert_eq!(
            sql(&q, Sqlite),
            "INSERT INTO users (name) VALUES (excluded.name)"
        );
    }

    #[test]
    fn multi_row_key_is_by_shape_not_per_value() {
        use crate::sink::shape_key;
        let s = schema();
        let rows = |n: usize| {
            insert(&s.users)
                .values_many((0..n).map(|i| [("name", format!("n{i}")), ("email", "e".into())]))
                .unwrap()
        };
        // The key records the VALUES list's dimensions, not one entry per value...
        assert_eq!(
            shape_key(&rows(2), Sqlite).len(),
            shape_key(&rows(60), Sqlite).len()
        );
        assert_ne!(shape_key(&rows(2), Sqlite), shape_key(&rows(3), Sqlite));
        // ...and stays apart from a list of the same size holding expressions.
        let expr = insert(&s.users)
            .values_many([
                [("name", Expr::from("a")), ("email", Expr::from("b"))],
                [("name", func::upper("a")), ("email", Expr::from("b"))],
            ])
            .unwrap();
        assert_ne!(shape_key(&rows(2), Sqlite), shape_key(&expr, Sqlite));
        let cache = StatementCache::new(10);
        let a = rows(100).compile(Pg, &cache);
        let b = rows(100).compile(Pg, &cache);
        assert!(std::sync::Arc::ptr_eq(&a.sql, &b.sql));
        assert_eq!(cache.stats(), (1, 1));
        assert!(a.sql.ends_with("($199, $200)"), "{}", a.sql);
        assert_eq!(a.params.len(), 200);
        assert_eq!(a.params[198], Value::from("n99"));
    }

    #[test]
    fn into_compiled_moves_values_and_matches_compile() {
        let s = schema();
        let name = s.users.c("name").unwrap();
        let archive = Table::new("archive").column(Column::new("title", SqlType::Text));
        let rows = |n: i64| {
            insert(&s.users)
                .values_many(
                    (0..n).map(|i| [("id", Value::from(i)), ("name", format!("n{i}").into())]),
                )
                .unwrap()
        };
        let stmts = vec![
            rows(1),
            rows(3),
            // ON CONFLICT and RETURNING parameters come after the moved VALUES list.
            rows(2)
                .on_conflict_do_update(["id"], [("name", name.excluded().concat("!"))])
                .unwrap()
                .on_conflict_where(name.clone().ne("keep"))
                .returning(s.users.c("id").unwrap()),
            // Defaults, and values that are not all bound parameters.
            insert(&s.posts)
                .values_many([
                    [("title", "a"), ("user_id", "1")],
                    [("title", "b"), ("user_id", "2")],
                ])
                .unwrap(),
            insert(&s.users)
                .values_many([[("name", func::upper("a"))], [("name", Expr::from("b"))]])
                .unwrap(),
            insert(&s.users),
            insert(&s.posts),
            insert(&archive)
                .from_select(
                    ["title"],
                    select(s.posts.c("title").unwrap()).where_(name.eq("x")),
                )
                .unwrap(),
        ];
        let cache = StatementCache::new(100);
        for d in [Sqlite, Pg] {
            for q in &stmts {
                let copied = q.compile(d, &cache);
                let moved = q.clone().into_compiled(d, &cache);
                assert_eq!(moved, copied);
                assert!(std::sync::Arc::ptr_eq(&moved.sql, &copied.sql));
            }
        }
        let upsert = stmts[2].clone().into_compiled(Pg, &cache);
        assert_eq!(
            &*upsert.sql,
            "INSERT INTO users (id, name) VALUES ($1, $2), ($3, $4) ON CONFLICT (id) DO UPDATE SET \
             name = excluded.name || $5 WHERE users.name != $6 RETURNING id"
        );
        assert_eq!(
            upsert.params,
            vec![
                Value::Int(0),
                "n0".into(),
                Value::Int(1),
                "n1".into(),
                "!".into(),
                "keep".into()
            ]
        );
        // The values are the statement's own, moved: no copy of the text.
        let text = String::from("moved, not copied");
        let at = text.as_ptr();
        let c = insert(&s.users)
            .values_many([[("name", Value::Text(text))], [("name", "b".into())]])
            .unwrap()
            .into_compiled(Pg, &cache);
        assert!(matches!(&c.params[0], Value::Text(t) if t.as_ptr() == at));
        // Through a trait object, compile still works (into_compiled needs Sized).
        let dynamic: Box<dyn Executable> = Box::new(rows(1));
        assert_eq!(dynamic.compile(Sqlite, &cache).params.len(), 2);
    }

    #[test]
    fn misuse_is_a_typed_error() {
        let s = schema();
        let none: [(&str, Value); 0] = [];
        assert_eq!(
            insert(&s.users).values(none).unwrap_err().kind(),
            SqlErrorKind::EmptyValues
        );
        let rows: Vec<Vec<(&str, Value)>> = vec![];
        assert_eq!(
            insert(&s.users).values_many(rows).unwrap_err().kind(),
            SqlErrorKind::EmptyValues
        );
        assert_eq!(
            insert(&s.users).values([("nope", 1)]).unwrap_err().kind(),
            SqlErrorKind::UnknownColumn
        );
        assert_eq!(
            insert(&s.users)
                .values([("name", 1), ("name", 2)])
                .unwrap_err()
                .kind(),
            SqlErrorKind::Duplicate
        );
        let e = insert(&s.users)
            .values([("name", "a")])
            .unwrap()
            .values([("email", "b")])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ColumnMismatch);
        // A row naming a subset or a superset of the first row's columns is a mismatch too.
        let e = insert(&s.users)
            .values_many([vec![("name", "a"), ("email", "a@x")], vec![("name", "b")]])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ColumnMismatch);
        assert!(e.to_string().contains(r#"["name", "email"]"#), "{e}");
        let e = insert(&s.users)
            .values_many([vec![("name", "a")], vec![("name", "b"), ("email", "b@x")]])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ColumnMismatch);
        // Later rows of values_many report what the first row would.
        let e = insert(&s.users)
            .values_many([vec![("name", "a")], vec![("name", "b")], vec![]])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::EmptyValues);
        let e = insert(&s.users)
            .values_many([vec![("name", "a")], vec![("nope", "b")]])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::UnknownColumn);
        let e = insert(&s.users)
            .values_many([
                vec![("name", "a"), ("email", "a@x")],
                vec![("name", "b"), ("name", "c")],
            ])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::Duplicate);
        let e = insert(&s.users)
            .values_many([
                vec![("name", "a"), ("email", "a@x")],
                vec![("email", "b"), ("email", "c")],
            ])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::Duplicate);
        let e = insert(&s.users)
            .values_many([vec![("name", "a")], vec![("email", "b")]])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ColumnMismatch);
        assert!(
            e.to_string().contains(r#"["name"], this one ["email"]"#),
            "{e}"
        );
        let e = insert(&s.users)
            .values_many([
                vec![("name", "a"), ("email", "a@x")],
                vec![("email", "b"), ("id", "c")],
            ])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ColumnMismatch);
        assert!(e.to_string().contains(r#"this one ["id", "email"]"#), "{e}");
        let e = insert(&s.users)
            .values([(s.posts.c("title").unwrap(), "a")])
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::UnknownColumn);
        let e = insert(&s.users)
            .from_select(["name", "email"], select(s.posts.c("title").unwrap()))
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::ColumnMismatch);
        let no_set: [(&str, Value); 0] = [];
        let e = insert(&s.users)
            .on_conflict_do_update(["id"], no_set)
            .unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::EmptyValues);
    }

    #[test]
    fn upserts() {
        let s = schema();
        let q = insert(&s.users)
            .values([("id", Value::from(1)), ("name", "a".into())])
            .unwrap();
        let nothing = q.clone().on_conflict_do_nothing(["id"]).unwrap();
        assert_eq!(
            both(&nothing),
            (
                "INSERT INTO users (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING".into(),
                "INSERT INTO users (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING".into()
            )
        );
        let any: [&str; 0] = [];
        let nothing = q.clone().on_conflict_do_nothing(any).unwrap();
        assert_eq!(
            sql(&nothing, Pg),
            "INSERT INTO users (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        let name = s.users.c("name").unwrap();
        let upd = q
            .on_conflict_do_update(["id"], [("name", name.excluded().concat(name.clone()))])
            .unwrap()
            .on_conflict_where(name.clone().ne("keep"))
            .returning(s.users.c("id").unwrap());
        assert_eq!(
            sql(&upd, Sqlite),
            "INSERT INTO users (id, name) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET name = \
             excluded.name || users.name WHERE users.name != ?3 RETURNING id"
        );
        assert_eq!(
            sql(&upd, Pg),
            "INSERT INTO users (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = \
             excluded.name || users.name WHERE users.name != $3 RETURNING id"
        );
    }

    #[test]
    fn from_select() {
        let s = schema();
        let archive = Table::new("archive")
            .column(Column::new("id", SqlType::Integer).primary_key())
            .column(Column::new("title", SqlType::Text));
        let q = insert(&archive)
            .from_select(
                ["title"],
                select(s.posts.c("title").unwrap()).where_(s.posts.c("score").unwrap().lt(0)),
            )
            .unwrap();
        assert_eq!(
            sql(&q, Pg),
            "INSERT INTO archive (title) SELECT posts.title FROM posts WHERE posts.score < $1"
        );
        let up = q.clone().on_conflict_do_nothing(["id"]).unwrap();
        let up2 = insert(&archive)
            .on_conflict_do_nothing(["id"])
            .unwrap()
            .from_select(["title"], select(s.posts.c("title").unwrap()))
            .unwrap();
        assert_eq!(
            sql(&up2, Sqlite),
            "INSERT INTO archive (title) SELECT posts.title FROM posts WHERE 1 = 1 ON CONFLICT (id) DO NOTHING"
        );
        assert_eq!(
            sql(&up, Pg),
            "INSERT INTO archive (title) SELECT posts.title FROM posts WHERE posts.score < $1 ON CONFLICT (id) DO NOTHING"
        );
        assert_eq!(
            q.values([("title", "x")]).unwrap_err().kind(),
            SqlErrorKind::InvalidStatement
        );
    }
}
