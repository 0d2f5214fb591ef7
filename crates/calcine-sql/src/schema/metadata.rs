//! [`MetaData`]: a collection of tables, and `create_all`/`drop_all` in foreign key order.

use crate::compiled::Dialect;
use crate::ddl::{AddForeignKey, CreateIndex, CreateTable, Ddl, DropForeignKey, DropTable};
use crate::error::{Result, SqlError, SqlErrorKind};
use crate::schema::Table;

/// A collection of [`Table`]s (SQLAlchemy's `MetaData`), in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct MetaData {
    tables: Vec<Table>,
}

/// Table creation order plus the foreign keys that must be added after all tables exist.
struct Plan {
    order: Vec<usize>,
    /// `(table position, foreign key position)` pairs broken out of cycles.
    deferred: Vec<(usize, usize)>,
}

impl MetaData {
    /// An empty collection.
    pub fn new() -> Self {
        MetaData::default()
    }

    /// Validates `table` (see [`Table::validate`]) and adds it; returns the handle.
    ///
    /// # Errors
    /// [`SqlErrorKind::Duplicate`] if a table of that name is already present, or what
    /// [`Table::validate`] reports.
    pub fn add(&mut self, table: Table) -> Result<Table> {
        table.validate()?;
        if self.table(table.name()).is_some() {
            return Err(SqlError::new(
                SqlErrorKind::Duplicate,
                format!(
                    "table {:?} is already defined in this MetaData",
                    table.name()
                ),
            ));
        }
        self.tables.push(table.clone());
        Ok(table)
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name() == name)
    }

    /// All tables, in the order they were added.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// Tables in foreign key dependency order (referenced tables first; SQLAlchemy's
    /// `sorted_tables`). Ties keep the order of addition; cycles are broken arbitrarily.
    ///
    /// # Errors
    /// [`SqlErrorKind::UnknownTable`] / [`SqlErrorKind::UnknownColumn`] for a foreign key whose
    /// target is not in this `MetaData`.
    pub fn sorted_tables(&self) -> Result<Vec<Table>> {
        let plan = self.plan()?;
        Ok(plan.order.iter().map(|&i| self.tables[i].clone()).collect())
    }

    /// The DDL for SQLAlchemy's `create_all`: `CREATE TABLE` in dependency order, each followed by
    /// its `CREATE INDEX`es; with `checkfirst`, `IF NOT EXISTS` everywhere. Foreign keys in a
    /// cycle are left out of `CREATE TABLE` and added at the end by `ALTER TABLE ... ADD CONSTRAINT`
    /// (PostgreSQL only).
    ///
    /// # Errors
    /// [`SqlErrorKind::DependencyCycle`] on SQLite when foreign keys form a cycle (SQLite cannot
    /// add a constraint to an existing table); unknown foreign key targets as in
    /// [`MetaData::sorted_tables`].
    pub fn create_all_statements(&self, dialect: Dialect, checkfirst: bool) -> Result<Vec<Ddl>> {
        let plan = self.plan()?;
        self.check_cycles(dialect, &plan)?;
        let mut out = Vec::new();
        for &i in &plan.order {
            let t = &self.tables[i];
            let omit = plan
                .deferred
                .iter()
                .filter(|d| d.0 == i)
                .map(|d| d.1)
                .collect();
            out.push(Ddl::CreateTable(CreateTable {
                table: t.clone(),
                if_not_exists: checkfirst,
                omit_foreign_keys: omit,
            }));
            for ix in 0..t.indexes().len() {
                out.push(Ddl::CreateIndex(CreateIndex {
                    table: t.clone(),
                    index: ix,
                    if_not_exists: checkfirst,
                }));
            }
        }
        for &(t, fk) in &plan.deferred {
            out.push(Ddl::AddForeignKey(AddForeignKey {
                table: self.tables[t].clone(),
                foreign_key: fk,
            }));
        }
        Ok(out)
    }

    /// The DDL for SQLAlchemy's `drop_all`: `DROP TABLE` in reverse dependency order (with
    /// `checkfirst`, `IF EXISTS`); on PostgreSQL, foreign keys in a cycle are dropped first.
    ///
    /// # Errors
    /// As [`MetaData::create_all_statements`].
    pub fn drop_all_statements(&self, dialect: Dialect, checkfirst: bool) -> Result<Vec<Ddl>> {
        let plan = self.plan()?;
        self.check_cycles(dialect, &plan)?;
        let mut out = Vec::new();
        for &(t, fk) in &plan.deferred {
            out.push(Ddl::DropForeignKey(DropForeignKey {
                table: self.tables[t].clone(),
                foreign_key: fk,
                if_exists: checkfirst,
            }));
        }
        for &i in plan.order.iter().rev() {
            out.push(Ddl::DropTable(DropTable {
                name: self.tables[i].0.name.clone(),
                if_exists: checkfirst,
            }));
        }
        Ok(out)
    }

    fn check_cycles(&self, dialect: Dialect, plan: &Plan) -> Result<()> {
        if dialect == Dialect::Sqlite && !plan.deferred.is_empty() {
            let mut names: Vec<&str> = plan
                .deferred
                .iter()
                .map(|d| self.tables[d.0].name())
                .collect();
            names.dedup();
            return Err(SqlError::new(
                SqlErrorKind::DependencyCycle,
                format!(
                    "foreign keys between tables {names:?} form a cycle; SQLite cannot add a \
                     constraint after CREATE TABLE, so remove one foreign key of the cycle or \
                     create these tables yourself"
                ),
            ));
        }
        Ok(())
    }

    fn plan(&self) -> Result<Plan> {
        // deps[i] = (table it depends on, fk position) for every cross-table foreign key.
        let mut deps: Vec<Vec<(usize, usize)>> = Vec::with_capacity(self.tables.len());
        for t in &self.tables {
            let mut d = Vec::new();
            for (k, fk) in t.foreign_keys().iter().enumerate() {
                let Some(target) = self
                    .tables
                    .iter()
                    .position(|o| o.name() == fk.referred_table())
                else {
                    return Err(SqlError::new(
                        SqlErrorKind::UnknownTable,
                        format!(
                            "foreign key of table {:?} refers to table {:?}, which is not in this \
                             MetaData; add that table first",
                            t.name(),
                            fk.referred_table()
                        ),
                    ));
                };
                for c in fk.referred_columns() {
                    self.tables[target].c(c)?;
                }
                if t.name() != fk.referred_table() {
                    d.push((target, k));
                }
            }
            deps.push(d);
        }
        let order = kahn(&deps, &[]);
        if order.len() == self.tables.len() {
            return Ok(Plan {
                order,
                deferred: Vec::new(),
            });
        }
        let mut stuck: Vec<usize> = (0..self.tables.len())
            .filter(|i| !order.contains(i))
            .collect();
        // Tables that merely depend on a cycle are not part of it: peel them off.
        while let Some(pos) = stuck.iter().position(|&i| {
            !stuck
                .iter()
                .any(|&j| j != i && deps[j].iter().any(|&(t, _)| t == i))
        }) {
            stuck.remove(pos);
        }
        let mut deferred = Vec::new();
        for &i in &stuck {
            for &(target, k) in &deps[i] {
                if stuck.contains(&target) {
                    deferred.push((i, k));
                }
            }
        }
        let order = kahn(&deps, &deferred);
        Ok(Plan { order, deferred })
    }
}

/// Stable topological order of `deps`, ignoring the `skip`ped edges; leaves out nodes in cycles.
fn kahn(deps: &[Vec<(usize, usize)>], skip: &[(usize, usize)]) -> Vec<usize> {
    let n = deps.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    loop {
        let next = (0..n).find(|&i| {
            !placed[i]
                && deps[i]
                    .iter()
                    .all(|&(t, k)| placed[t] || skip.contains(&(i, k)))
        });
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return order,
        }
    }
}
