//! What `INSERT`, `UPDATE` and `DELETE` share: naming target columns ([`ColumnName`]) and the
//! `RETURNING` clause.

use crate::error::{Result, SqlError, SqlErrorKind};
use crate::expression::{ColumnRef, Cx, Expr};
use crate::schema::Table;
use crate::select::walk_select_list;
use crate::selectable::{FromRef, Scope, Source};
use crate::sink::{Kw, Sink};

/// Names a column of the statement's target table: by name (`"email"`) or by column expression
/// (`users.c("email")?`).
pub trait ColumnName {
    /// The position of the column in `table`.
    ///
    /// # Errors
    /// [`SqlErrorKind::UnknownColumn`] if `table` has no such column, or the expression belongs
    /// to another table.
    fn position_in(&self, table: &Table) -> Result<usize>;
}

impl ColumnName for &str {
    #[inline]
    fn position_in(&self, table: &Table) -> Result<usize> {
        table
            .column_index(self)
            .ok_or_else(|| SqlError::unknown_column(table.name(), self))
    }
}

/// A column by position in the table (what typed column handles carry).
impl ColumnName for usize {
    fn position_in(&self, table: &Table) -> Result<usize> {
        if *self < table.columns().len() {
            Ok(*self)
        } else {
            Err(SqlError::unknown_column(table.name(), &format!("#{self}")))
        }
    }
}

impl ColumnName for String {
    fn position_in(&self, table: &Table) -> Result<usize> {
        self.as_str().position_in(table)
    }
}

impl ColumnName for ColumnRef {
    fn position_in(&self, table: &Table) -> Result<usize> {
        match &self.src {
            Source::Table(t) if t.name() == table.name() => self.name().position_in(table),
            _ => Err(SqlError::new(
                SqlErrorKind::UnknownColumn,
                format!(
                    "column {}.{} is not a column of table {:?}, the target of this statement",
                    self.qualifier(),
                    self.name(),
                    table.name()
                ),
            )),
        }
    }
}

impl ColumnName for &ColumnRef {
    fn position_in(&self, table: &Table) -> Result<usize> {
        (*self).position_in(table)
    }
}

/// Resolves `(column, value)` pairs against `table`, rejecting duplicates, sorted by position.
pub(crate) fn resolve_pairs<K: ColumnName, V: Into<Expr>>(
    table: &Table,
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Result<Vec<(u32, Expr)>> {
    let pairs = pairs.into_iter();
    let mut out: Vec<(u32, Expr)> = Vec::with_capacity(pairs.size_hint().0);
    for (k, v) in pairs {
        let i = k.position_in(table)? as u32;
        push_pair(table, &mut out, i, v.into())?;
    }
    out.sort_by_key(|p| p.0);
    Ok(out)
}

/// Appends the resolved pair `(i, e)` to `out` (unsorted).
///
/// # Errors
/// [`SqlErrorKind::Duplicate`] if `out` already has column `i`.
pub(crate) fn push_pair(table: &Table, out: &mut Vec<(u32, Expr)>, i: u32, e: Expr) -> Result<()> {
    if out.iter().any(|(j, _)| *j == i) {
        return Err(SqlError::new(
            SqlErrorKind::Duplicate,
            format!(
                "column {:?} is given twice",
                table.columns().get(i as usize).map_or("", |c| c.name())
            ),
        ));
    }
    out.push((i, e));
    Ok(())
}

/// Walks a statement on `table` alone (INSERT, UPDATE, DELETE): `f` gets a context whose scope
/// is that table, with column references qualified or not.
pub(crate) fn in_table_scope<S: Sink>(
    table: &Table,
    qualify: bool,
    s: &mut S,
    f: impl FnOnce(&mut S, Cx<'_>),
) {
    let src = [Source::Table(table.clone())];
    let froms = [FromRef::Source(&src[0])];
    let scope = Scope::new(&froms, None);
    f(
        s,
        Cx {
            qualify,
            scope: Some(&scope),
        },
    );
}

/// `a = x, b = y`: the assignments of `UPDATE ... SET` and `ON CONFLICT ... DO UPDATE SET`
/// (`set` holds column positions in `table`).
pub(crate) fn walk_set_list<S: Sink>(table: &Table, set: &[(u32, Expr)], s: &mut S, cx: Cx<'_>) {
    for (n, (i, e)) in set.iter().enumerate() {
        if n > 0 {
            s.kw(Kw::Comma);
        }
        s.ident(table.columns().get(*i as usize).map_or("", |c| c.name()));
        s.kw(Kw::Eq);
        crate::expression::walk_expr(e, s, cx);
    }
}

/// `RETURNING a, b` (columns unqualified).
pub(crate) fn walk_returning<S: Sink>(returning: &[Expr], s: &mut S, cx: Cx<'_>) {
    if returning.is_empty() {
        return;
    }
    s.kw(Kw::Returning);
    walk_select_list(
        returning,
        s,
        Cx {
            qualify: false,
            ..cx
        },
    );
}
