//! The flush (SQLAlchemy `orm/unitofwork.py` + `persistence.py`): INSERT pending objects,
//! UPDATE the changed columns of modified ones, DELETE deleted ones, ordered by the foreign-key
//! dependencies between their tables (and between rows of a self-referential table).

use std::sync::Arc;

use calcine_engine::{Error, Result};
use calcine_sql::{Dialect, Expr, Value, delete, insert, update};
use rustc_hash::FxHashMap;

use crate::identity_map::ModelEntries;
use crate::instance::{AnyInstance, Status};
use crate::key::{Key, KeyPart};
use crate::loading::Resolved;
use crate::model::{ColumnRefs, Mapper};
use crate::session::{SessionCore, SessionShared};

/// An instance with its column values, as the flush orders them.
type RowOf = (Arc<dyn AnyInstance>, Vec<Value>);

/// `SELECT <all columns> FROM t WHERE pk = key`, compiled once per mapper and dialect
/// ([`Mapper::compile_by_key`]).
pub(crate) fn select_by_key(mapper: &'static Mapper, key: &Key) -> Result<ByKey> {
    Ok(ByKey {
        mapper,
        key: pk_values(mapper, key)?,
    })
}

/// The values of `key`, checked to have one part per primary-key column of `mapper`.
fn pk_values(mapper: &Mapper, key: &Key) -> Result<Vec<Value>> {
    let parts = key.parts();
    if parts.len() != mapper.primary_key().len() {
        return Err(Error::invalid_request(format!(
            "{} has a {}-column primary key; got the key {key}",
            mapper.name(),
            mapper.primary_key().len()
        )));
    }
    Ok(parts.iter().map(crate::KeyPart::to_value).collect())
}

/// The statement of [`select_by_key`].
pub(crate) struct ByKey {
    mapper: &'static Mapper,
    key: Vec<Value>,
}

impl calcine_sql::Executable for ByKey {
    fn compile(
        &self,
        dialect: calcine_sql::Dialect,
        cache: &calcine_sql::StatementCache,
    ) -> calcine_sql::Compiled {
        self.mapper.compile_by_key(dialect, cache, &self.key)
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        calcine_sql::Executable::result_columns(self.mapper.plain_select())
    }
}

fn pk_condition(mapper: &Mapper, key: &Key) -> Result<Expr> {
    mapper.columns_eq(mapper.primary_key(), &pk_values(mapper, key)?)
}

/// Tables in dependency order: a table comes after every table it references (self-references
/// ignored here, handled per row). A cycle between tables is an error naming them.
fn mapper_order(mappers: &[&'static Mapper]) -> Result<Vec<&'static Mapper>> {
    let names: Vec<&str> = mappers.iter().map(|m| m.table().name()).collect();
    let mut placed = vec![false; mappers.len()];
    let mut order = Vec::with_capacity(mappers.len());
    while order.len() < mappers.len() {
        let mut progressed = false;
        for (i, m) in mappers.iter().enumerate() {
            if placed[i] {
                continue;
            }
            let ready = m.table().foreign_keys().iter().all(|fk| {
                let target = fk.referred_table();
                target == m.table().name()
                    || names
                        .iter()
                        .enumerate()
                        .all(|(j, n)| *n != target || placed[j])
            });
            if ready {
                placed[i] = true;
                order.push(*m);
                progressed = true;
            }
        }
        if !progressed {
            let stuck: Vec<&str> = (0..mappers.len())
                .filter(|&i| !placed[i])
                .map(|i| names[i])
                .collect();
            return Err(Error::invalid_request(format!(
                "Circular dependency detected between tables {stuck:?}: flush cannot order \
                 their rows; flush them in separate steps or break the cycle with a nullable \
                 foreign key set after the insert"
            )));
        }
    }
    Ok(order)
}

fn dedup(list: Vec<Arc<dyn AnyInstance>>) -> Vec<Arc<dyn AnyInstance>> {
    let mut seen = rustc_hash::FxHashSet::default();
    list.into_iter()
        .filter(|i| seen.insert(Arc::as_ptr(i) as *const () as usize))
        .collect()
}

/// Orders the rows of one self-referential table so referenced rows come first (for inserts;
/// reversed for deletes). Rows are matched by the values of the referenced columns.
/// Indices `0..deps.len()` ordered so that each comes after the ones it depends on
/// (`deps[i]`), depth first, keeping the original order where there is no dependency; a cycle
/// keeps the order it was found in.
fn dependency_order(deps: &[Vec<usize>]) -> Vec<usize> {
    fn visit(i: usize, deps: &[Vec<usize>], state: &mut [u8], order: &mut Vec<usize>) {
        if state[i] != 0 {
            return; // done, or a cycle: keep the order we have
        }
        state[i] = 1;
        for &j in &deps[i] {
            visit(j, deps, state, order);
        }
        state[i] = 2;
        order.push(i);
    }
    let mut state = vec![0u8; deps.len()]; // 0 new, 1 visiting, 2 done
    let mut order = Vec::with_capacity(deps.len());
    for i in 0..deps.len() {
        visit(i, deps, &mut state, &mut order);
    }
    order
}

fn order_self_referential(mapper: &Mapper, rows: Vec<RowOf>) -> Vec<RowOf> {
    let table = mapper.table();
    let self_fks: Vec<(Vec<usize>, Vec<usize>)> = table
        .foreign_keys()
        .iter()
        .filter(|fk| fk.referred_table() == table.name())
        .filter_map(|fk| {
            let local: Option<Vec<usize>> =
                fk.columns().iter().map(|c| table.column_index(c)).collect();
            let remote: Option<Vec<usize>> = fk
                .referred_columns()
                .iter()
                .map(|c| table.column_index(c))
                .collect();
            Some((local?, remote?))
        })
        .collect();
    if self_fks.is_empty() || rows.len() < 2 {
        return rows;
    }
    let n = rows.len();
    // deps[i] = rows that row i references.
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (local, remote) in &self_fks {
        let mut by_remote: FxHashMap<Vec<Key>, usize> = FxHashMap::default();
        for (j, (_, vals)) in rows.iter().enumerate() {
            if let Some(k) = remote
                .iter()
                .map(|&c| Key::from_values(std::slice::from_ref(&vals[c])))
                .collect::<Option<Vec<Key>>>()
            {
                by_remote.insert(k, j);
            }
        }
        for (i, (_, vals)) in rows.iter().enumerate() {
            if let Some(k) = local
                .iter()
                .map(|&c| Key::from_values(std::slice::from_ref(&vals[c])))
                .collect::<Option<Vec<Key>>>()
            {
                if let Some(&j) = by_remote.get(&k) {
                    if j != i {
                        deps[i].push(j);
                    }
                }
            }
        }
    }
    let order = dependency_order(&deps);
    let mut slots: Vec<Option<RowOf>> = rows.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Writes the session's pending changes. On a database error the transaction is rolled back
/// and the session is marked pending-rollback.
///
/// With `commit` (the flush of `Session::commit`, on the session's own root transaction) the
/// flush's last statement carries the `COMMIT` when [`commit_target`] finds that statement is
/// an INSERT after which nothing can fail; the transaction is then over when this returns
/// (committed, or rolled back if that INSERT failed).
pub(crate) fn flush(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    dirty: Vec<Arc<dyn AnyInstance>>,
    commit: bool,
) -> Result<()> {
    let mut new = std::mem::take(&mut core.new);
    let mut deleted = std::mem::take(&mut core.deleted);
    match flush_inner(core, shared, dirty, commit, &mut new, &mut deleted) {
        Ok(()) => {
            // Every new object was inserted: the transaction holds them from here (moved, not
            // cloned; `rollback()` makes them transient again), and the session's list keeps
            // its room for the next objects.
            core.tx_inserted.append(&mut new);
            if core.new.is_empty() {
                core.new = new;
            }
            Ok(())
        }
        Err(e) => {
            // The new objects inserted before the failure are the transaction's (`rollback()`
            // makes them transient); what was not written stays the session's work: new
            // objects not inserted are still pending (`rollback()` makes them transient too),
            // deletions not carried out are still pending.
            let tx_inserted = &mut core.tx_inserted;
            new.retain(|i| match i.state().status {
                Status::Pending => true,
                Status::Persistent => {
                    tx_inserted.push(i.clone());
                    false
                }
                _ => false,
            });
            deleted.retain(|i| {
                let st = i.state();
                st.delete_pending && st.status == Status::Persistent
            });
            core.new = new;
            core.deleted = deleted;
            if e.kind() != calcine_engine::ErrorKind::InvalidRequest || core.conn.is_some() {
                if let Some(conn) = core.conn.as_mut() {
                    if conn.in_transaction() && !core.joined_outer {
                        let _ = conn.rollback();
                    }
                }
                core.pending_rollback = Some(e.to_string());
            }
            Err(e)
        }
    }
}

fn contains(list: &[Arc<dyn AnyInstance>], inst: &Arc<dyn AnyInstance>) -> bool {
    list.iter().any(|i| Arc::ptr_eq(i, inst))
}

/// The mapper whose last INSERT can carry the `COMMIT` of the flush: the last mapper (in flush
/// order) with new rows, when that INSERT is sure to be the flush's last statement and nothing
/// calcine does after it can turn its success into a failure. Decided before anything is
/// written, conservatively; `None` keeps the plain path (flush, then `COMMIT`):
/// * no DELETE and no UPDATE in the flush: their row counts are checked (`StaleData` must roll
///   the whole transaction back), and they would come after the INSERTs anyway;
/// * that mapper's rows go in the batched path, not one by one (self-referential mappers, whose
///   rows are followed by the foreign-key UPDATEs of a cycle);
/// * no relationship change of a new object writes after the INSERTs: no many-to-many
///   association rows added or removed, no persistent child added to or removed from a
///   one-to-many collection (its foreign key is UPDATEd); pending children are new rows
///   themselves, of a mapper ordered after their parent's, so they cannot follow the last one.
fn commit_target(
    order: &[&'static Mapper],
    new: &[Arc<dyn AnyInstance>],
    deleted: &[Arc<dyn AnyInstance>],
    dirty: &[Arc<dyn AnyInstance>],
) -> Result<Option<&'static Mapper>> {
    if !deleted.is_empty() || !dirty.is_empty() {
        return Ok(None);
    }
    let Some(last) = order
        .iter()
        .rev()
        .find(|m| new.iter().any(|i| std::ptr::eq(i.mapper(), **m)))
        .copied()
    else {
        return Ok(None);
    };
    if last
        .relationships()
        .iter()
        .any(|r| std::ptr::eq(r.target.mapper(), last))
    {
        return Ok(None);
    }
    for inst in new {
        let mapper = inst.mapper();
        if mapper.relationships().is_empty() || !inst.relations_changed() {
            continue;
        }
        for (r, resolved) in mapper.resolved()?.iter().enumerate() {
            let quiet = match resolved {
                Resolved::Referenced { .. } => true,
                Resolved::Referencing { .. } => {
                    let (added, removed) = inst.relation_touched(r)?;
                    removed.is_empty() && added.iter().all(|c| c.state().status == Status::Pending)
                }
                Resolved::Secondary { .. } => {
                    let (added, removed) = inst.relation_changes(r)?;
                    added.is_empty() && removed.is_empty()
                }
            };
            if !quiet {
                return Ok(None);
            }
        }
    }
    Ok(Some(last))
}

fn flush_inner(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    dirty: Vec<Arc<dyn AnyInstance>>,
    commit: bool,
    new: &mut Vec<Arc<dyn AnyInstance>>,
    deleted: &mut Vec<Arc<dyn AnyInstance>>,
) -> Result<()> {
    let mut dirty: Vec<Arc<dyn AnyInstance>> = dedup(dirty)
        .into_iter()
        .filter(|i| {
            let st = i.state();
            st.status == Status::Persistent && st.committed.is_some() && !st.delete_pending
        })
        .collect();
    let has_rels = new
        .iter()
        .chain(dirty.iter())
        .chain(deleted.iter())
        .any(|i| !i.mapper().relationships().is_empty());
    if has_rels {
        cascade_save(shared, new, &dirty)?;
        cascade_delete(core, shared, new, deleted, &dirty)?;
    }

    let mut mappers: Vec<&'static Mapper> = Vec::new();
    for m in new
        .iter()
        .chain(dirty.iter())
        .chain(deleted.iter())
        .map(|i| i.mapper())
    {
        if !mappers.iter().any(|x| std::ptr::eq(*x, m)) {
            mappers.push(m);
        }
    }
    // Children reached through relationships are flushed with their parents.
    if has_rels {
        for m in mappers.clone() {
            for r in m.relationships() {
                let t = r.target.mapper();
                if !mappers.iter().any(|x| std::ptr::eq(*x, t)) {
                    mappers.push(t);
                }
            }
        }
    }
    // On an error nothing was written yet: `flush` puts the work back.
    let order = mapper_order(&mappers)?;
    let commit_mapper = if commit {
        commit_target(&order, new, deleted, &dirty)?
    } else {
        None
    };
    let dialect = core.connection()?.dialect();
    // How many new objects each mapper has.
    let mut counts = Vec::with_capacity(order.len());
    for m in &order {
        let n = new.iter().filter(|i| std::ptr::eq(i.mapper(), *m)).count();
        if let Some(i) = new.iter().find(|i| std::ptr::eq(i.mapper(), *m)) {
            core.identity.reserve(i.model_type(), n);
        }
        counts.push(n);
    }

    // Saves, parents first; each mapper's rows take their values only now, after the foreign
    // keys from relationships to already-saved parents were written into them.
    let mut late: Vec<Arc<dyn AnyInstance>> = Vec::new();
    for (mapper, &count) in order.iter().zip(&counts) {
        // All the new objects when they are all of this mapper (the common case: no copy).
        let mine: Vec<Arc<dyn AnyInstance>>;
        let rows: &[Arc<dyn AnyInstance>] = if count == new.len() {
            new
        } else {
            mine = new
                .iter()
                .filter(|i| std::ptr::eq(i.mapper(), *mapper))
                .cloned()
                .collect();
            &mine
        };
        let rels = !mapper.relationships().is_empty();
        let self_ref = rels
            && mapper
                .relationships()
                .iter()
                .any(|r| std::ptr::eq(r.target.mapper(), *mapper));
        if self_ref {
            for inst in order_by_relations(mapper, rows.to_vec())? {
                sync_many_to_one(&inst)?;
                let values = inst.try_values()?;
                let row = vec![(inst.clone(), values)];
                insert_rows(core, dialect, mapper, row, false, false)?;
                sync_one_to_many(&inst, &mut late)?;
            }
        } else if flat_rows(mapper, dialect, commit_mapper) {
            // SQLite without RETURNING: each row's values bound straight from the object.
            if rels {
                for inst in rows {
                    sync_many_to_one(inst)?;
                }
            }
            insert_flat(core, mapper, rows)?;
            if rels {
                for inst in rows {
                    sync_one_to_many(inst, &mut late)?;
                }
            }
        } else if lent_returning(mapper, dialect) {
            // PostgreSQL, the key generated: multi-row INSERT ... RETURNING batches bound
            // straight from the objects.
            if rels {
                for inst in rows {
                    sync_many_to_one(inst)?;
                }
            }
            let commit = commit_mapper.is_some_and(|m| std::ptr::eq(m, *mapper));
            let mut i = 0;
            while let Some(inst) = rows.get(i) {
                match insert_returning_lent(core, mapper, &rows[i..], commit)? {
                    0 => {
                        // A row of another kind (its key given): alone, through the values.
                        let row = vec![(inst.clone(), inst.try_values()?)];
                        let last = commit && i + 1 == rows.len();
                        insert_rows(core, dialect, mapper, row, true, last)?;
                        i += 1;
                    }
                    n => i += n,
                }
            }
            if rels {
                for inst in rows {
                    sync_one_to_many(inst, &mut late)?;
                }
            }
        } else {
            let mut with_values = Vec::with_capacity(rows.len());
            for inst in rows {
                if rels {
                    sync_many_to_one(inst)?;
                }
                with_values.push((inst.clone(), inst.try_values()?));
            }
            let commit = commit_mapper.is_some_and(|m| std::ptr::eq(m, *mapper));
            insert_rows(
                core,
                dialect,
                mapper,
                order_self_referential(mapper, with_values),
                true,
                commit,
            )?;
            if rels {
                for inst in rows {
                    sync_one_to_many(inst, &mut late)?;
                }
            }
        }
        // Updates of this mapper: written objects, and children whose foreign key a parent
        // relationship just changed.
        let mut i = 0;
        while i < dirty.len() + late.len() {
            let inst = if i < dirty.len() {
                dirty[i].clone()
            } else {
                late[i - dirty.len()].clone()
            };
            i += 1;
            if !std::ptr::eq(inst.mapper(), *mapper) {
                continue;
            }
            if i > dirty.len() && contains(&dirty, &inst) {
                continue;
            }
            if rels {
                sync_many_to_one(&inst)?;
            }
            update_dirty(core, mapper, &inst)?;
            if rels {
                sync_one_to_many(&inst, &mut late)?;
            }
        }
    }
    for inst in late {
        if !contains(&dirty, &inst) {
            dirty.push(inst);
        }
    }
    if has_rels {
        for inst in new.iter().chain(dirty.iter()) {
            write_secondary(core, inst)?;
        }
    }
    // Deletes, children first.
    for mapper in order.iter().rev() {
        let mut rows = Vec::new();
        for inst in deleted.iter().filter(|i| std::ptr::eq(i.mapper(), *mapper)) {
            rows.push((inst.clone(), inst.try_values()?));
        }
        let mut rows = order_self_referential(mapper, rows);
        rows.reverse();
        for (inst, _) in rows {
            if !mapper.relationships().is_empty() {
                detach_children(core, shared, &inst)?;
            }
            delete_one(core, mapper, &inst)?;
        }
    }
    if has_rels {
        for inst in new.iter().chain(dirty.iter()) {
            inst.clear_relation_changes()?;
        }
    }
    Ok(())
}

/// Diffs a written object against its snapshot and UPDATEs the changed columns.
fn update_dirty(
    core: &mut SessionCore,
    mapper: &Mapper,
    inst: &Arc<dyn AnyInstance>,
) -> Result<()> {
    let before = inst.state().committed.clone();
    let Some(before) = before else {
        return Ok(());
    };
    let current = inst.try_values()?;
    let changed: Vec<usize> = (0..current.len())
        .filter(|&c| before.get(c) != Some(&current[c]))
        .collect();
    if changed.is_empty() {
        inst.state().committed = None;
        return Ok(());
    }
    update_one(core, mapper, inst, &current, &changed)
}

/// Values of `cols` of a saved object.
fn column_values(inst: &Arc<dyn AnyInstance>, cols: &[usize]) -> Result<Vec<Value>> {
    let values = inst.try_values()?;
    Ok(cols.iter().map(|&c| values[c].clone()).collect())
}

/// Sets columns of `inst` (snapshotting a persistent object first, so the flush UPDATEs them).
fn set_columns(inst: &Arc<dyn AnyInstance>, cols: &[usize], values: Vec<Value>) -> Result<()> {
    inst.ensure_snapshot()?;
    let pairs: Vec<(usize, Value)> = cols.iter().copied().zip(values).collect();
    inst.try_set_values(&pairs)
}

/// Many-to-one: a `One` set in memory writes the target's key into this object's foreign key.
fn sync_many_to_one(inst: &Arc<dyn AnyInstance>) -> Result<()> {
    let mapper = inst.mapper();
    if mapper.relationships().is_empty() || !inst.relations_changed() {
        return Ok(());
    }
    for (i, resolved) in mapper.resolved()?.iter().enumerate() {
        let Resolved::Referenced {
            parent_cols,
            target_cols,
        } = resolved
        else {
            continue;
        };
        match inst.relation_one_change(i)? {
            None => {}
            Some(None) => {
                set_columns(inst, parent_cols, vec![Value::Null; parent_cols.len()])?;
                inst.with_relation(i, &mut |r| r.set_target_key(None))?;
            }
            Some(Some(target)) => {
                if target.state().key.is_none() {
                    return Err(Error::invalid_request(format!(
                        "{}.{} refers to {}, which is not saved yet (a circular dependency \
                         between unsaved objects?)",
                        mapper.name(),
                        mapper.relationships()[i].name,
                        target.describe()
                    )));
                }
                let values = column_values(&target, target_cols)?;
                let key = Key::from_values(&values);
                set_columns(inst, parent_cols, values)?;
                inst.with_relation(i, &mut |r| r.set_target_key(key.clone()))?;
            }
        }
    }
    Ok(())
}

/// One-to-many: children added to this object's collections get its key in their foreign key;
/// removed ones get NULL (unless `delete-orphan` deletes them).
fn sync_one_to_many(
    inst: &Arc<dyn AnyInstance>,
    late: &mut Vec<Arc<dyn AnyInstance>>,
) -> Result<()> {
    if !inst.relations_changed() {
        return Ok(());
    }
    let mapper = inst.mapper();
    for (i, resolved) in mapper.resolved()?.iter().enumerate() {
        let Resolved::Referencing {
            parent_cols,
            target_cols,
        } = resolved
        else {
            continue;
        };
        let rel = &mapper.relationships()[i];
        let (added, removed) = inst.relation_touched(i)?;
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        let values = column_values(inst, parent_cols)?;
        let back = rel.back_populates.and_then(|name| {
            rel.target
                .mapper()
                .relationships()
                .iter()
                .position(|r| r.name == name)
        });
        for child in added {
            set_columns(&child, target_cols, values.clone())?;
            if let Some(b) = back {
                // The other side now points here (in memory, as SQLAlchemy's backref does).
                let _ = child.relation_set_loaded(b, vec![inst.clone()]);
                let key = inst.state().key.clone();
                let _ = child.with_relation(b, &mut |r| r.set_target_key(key.clone()));
            }
            if child.state().status == Status::Persistent && !contains(late, &child) {
                late.push(child);
            }
        }
        if !rel.cascade.delete_orphan {
            for child in removed {
                if child.state().status != Status::Persistent || child.state().delete_pending {
                    continue;
                }
                set_columns(&child, target_cols, vec![Value::Null; target_cols.len()])?;
                if !contains(late, &child) {
                    late.push(child);
                }
            }
        }
    }
    Ok(())
}

/// `save-update` cascade: transient objects reachable through relationships of pending or
/// written objects become pending too.
fn cascade_save(
    shared: &Arc<SessionShared>,
    new: &mut Vec<Arc<dyn AnyInstance>>,
    dirty: &[Arc<dyn AnyInstance>],
) -> Result<()> {
    let mut queue: Vec<Arc<dyn AnyInstance>> = new.iter().chain(dirty).cloned().collect();
    while let Some(inst) = queue.pop() {
        if !inst.relations_changed() {
            continue;
        }
        let rels = inst.mapper().relationships();
        for (i, rel) in rels.iter().enumerate() {
            if !rel.cascade.save_update {
                continue;
            }
            let (added, _) = inst.relation_touched(i)?;
            for t in added {
                let adopt = {
                    let mut st = t.state();
                    if st.status == Status::Transient && st.session.upgrade().is_none() {
                        st.status = Status::Pending;
                        st.session = Arc::downgrade(shared);
                        true
                    } else {
                        false
                    }
                };
                if adopt {
                    crate::session::attach_relations(&t);
                    new.push(t.clone());
                    queue.push(t);
                }
            }
        }
    }
    Ok(())
}

/// `delete` cascade (children of deleted objects) and `delete-orphan` (children removed from a
/// collection).
fn cascade_delete(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    new: &mut Vec<Arc<dyn AnyInstance>>,
    deleted: &mut Vec<Arc<dyn AnyInstance>>,
    dirty: &[Arc<dyn AnyInstance>],
) -> Result<()> {
    // Orphans.
    for inst in new.clone().iter().chain(dirty) {
        if !inst.relations_changed() {
            continue;
        }
        for (i, rel) in inst.mapper().relationships().iter().enumerate() {
            if !rel.cascade.delete_orphan {
                continue;
            }
            let (_, removed) = inst.relation_changes(i)?;
            for child in removed {
                mark_deleted(&child, new, deleted);
            }
        }
    }
    // Children of deleted parents.
    let mut i = 0;
    while i < deleted.len() {
        let inst = deleted[i].clone();
        i += 1;
        let mapper = inst.mapper();
        for (r, rel) in mapper.relationships().iter().enumerate() {
            if !rel.cascade.delete || rel.passive_deletes {
                continue;
            }
            if !matches!(mapper.resolved()?[r], Resolved::Referencing { .. }) {
                continue;
            }
            for child in children_of(core, shared, &inst, r)? {
                mark_deleted(&child, new, deleted);
            }
        }
    }
    Ok(())
}

fn mark_deleted(
    child: &Arc<dyn AnyInstance>,
    new: &mut Vec<Arc<dyn AnyInstance>>,
    deleted: &mut Vec<Arc<dyn AnyInstance>>,
) {
    let mut st = child.state();
    match st.status {
        Status::Persistent if !st.delete_pending => {
            st.delete_pending = true;
            drop(st);
            deleted.push(child.clone());
        }
        Status::Pending => {
            st.status = Status::Transient;
            st.session = std::sync::Weak::<SessionShared>::new();
            drop(st);
            new.retain(|n| !Arc::ptr_eq(n, child));
        }
        _ => {}
    }
}

/// The loaded (or now loaded) related objects of relationship `index`.
fn children_of(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    inst: &Arc<dyn AnyInstance>,
    index: usize,
) -> Result<Vec<Arc<dyn AnyInstance>>> {
    if let Some(items) = inst.relation_loaded_items(index)? {
        return Ok(items);
    }
    let key = inst.state().key.clone();
    let items = core.load_related(shared, inst, index, key, None)?;
    inst.relation_set_loaded(index, items.clone())?;
    Ok(items)
}

/// Before a parent's DELETE: children it keeps through relationships without `delete`
/// cascade get a NULL foreign key; many-to-many association rows go.
fn detach_children(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    inst: &Arc<dyn AnyInstance>,
) -> Result<()> {
    let mapper = inst.mapper();
    for (r, resolved) in mapper.resolved()?.iter().enumerate() {
        let rel = &mapper.relationships()[r];
        match resolved {
            Resolved::Referencing { target_cols, .. } => {
                if rel.cascade.delete || rel.passive_deletes {
                    continue;
                }
                let target = rel.target.mapper();
                for child in children_of(core, shared, inst, r)? {
                    if child.state().delete_pending || child.state().status != Status::Persistent {
                        continue;
                    }
                    set_columns(&child, target_cols, vec![Value::Null; target_cols.len()])?;
                    update_dirty(core, target, &child)?;
                }
            }
            Resolved::Secondary {
                parent_cols,
                sec_parent,
                ..
            } => {
                let Some(sec) = rel.secondary.map(|s| s.mapper()) else {
                    continue;
                };
                let values = column_values(inst, parent_cols)?;
                let cond = sec.columns_eq(sec_parent, &values)?;
                core.connection()?
                    .execute(delete(sec.table()).where_(cond))?;
            }
            Resolved::Referenced { .. } => {}
        }
    }
    Ok(())
}

/// Many-to-many: association rows for objects added to / removed from a collection.
fn write_secondary(core: &mut SessionCore, inst: &Arc<dyn AnyInstance>) -> Result<()> {
    let mapper = inst.mapper();
    if mapper.relationships().is_empty() || !inst.relations_changed() {
        return Ok(());
    }
    for (r, resolved) in mapper.resolved()?.iter().enumerate() {
        let Resolved::Secondary {
            parent_cols,
            sec_parent,
            sec_target,
            target_cols,
        } = resolved
        else {
            continue;
        };
        let rel = &mapper.relationships()[r];
        let Some(sec) = rel.secondary.map(|s| s.mapper()) else {
            continue;
        };
        let (added, removed) = inst.relation_changes(r)?;
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        let pvals = column_values(inst, parent_cols)?;
        for t in added {
            let tvals = column_values(&t, target_cols)?;
            let pairs: Vec<(usize, Value)> = sec_parent
                .iter()
                .copied()
                .zip(pvals.iter().cloned())
                .chain(sec_target.iter().copied().zip(tvals))
                .collect();
            core.connection()?
                .execute(&insert(sec.table()).values(pairs)?)?;
        }
        for t in removed {
            let tvals = column_values(&t, target_cols)?;
            let cond = sec
                .columns_eq(sec_parent, &pvals)?
                .and(sec.columns_eq(sec_target, &tvals)?);
            core.connection()?
                .execute(delete(sec.table()).where_(cond))?;
        }
    }
    Ok(())
}

/// Rows of a self-referential mapper ordered so that an object comes after the objects it
/// refers to through relationships (parents before children).
fn order_by_relations(
    mapper: &Mapper,
    rows: Vec<Arc<dyn AnyInstance>>,
) -> Result<Vec<Arc<dyn AnyInstance>>> {
    let n = rows.len();
    let index_of = |x: &Arc<dyn AnyInstance>| rows.iter().position(|r| Arc::ptr_eq(r, x));
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, inst) in rows.iter().enumerate() {
        if !inst.relations_changed() {
            continue;
        }
        for (r, resolved) in mapper.resolved()?.iter().enumerate() {
            match resolved {
                Resolved::Referenced { .. } => {
                    if let Some(Some(t)) = inst.relation_one_change(r)? {
                        if let Some(j) = index_of(&t) {
                            deps[i].push(j);
                        }
                    }
                }
                Resolved::Referencing { .. } => {
                    let (added, _) = inst.relation_changes(r)?;
                    for c in added {
                        if let Some(j) = index_of(&c) {
                            deps[j].push(i);
                        }
                    }
                }
                Resolved::Secondary { .. } => {}
            }
        }
    }
    let order = dependency_order(&deps);
    Ok(order.into_iter().map(|i| rows[i].clone()).collect())
}

/// Which columns an INSERT of `values` sends (bit i = column i), and the autoincrement column
/// the database fills in, if any. NULL in a column with a server default is left out too.
fn row_shape(mapper: &Mapper, values: &[Value]) -> (u64, Option<usize>) {
    let mask = mask_of(values, values.len(), omit_if_null(mapper));
    let auto = mapper.autoincrement().filter(|&c| mask & (1 << c) == 0);
    (mask, auto)
}

/// Moves the values of the columns in `mask` into `out` (the INSERT's parameters) and returns
/// the primary-key values, with NULL where the database generates the key.
fn split_row(
    mapper: &Mapper,
    mut values: Vec<Value>,
    mask: u64,
    out: &mut Vec<Value>,
) -> Vec<Value> {
    let mut pk = Vec::with_capacity(mapper.primary_key().len());
    split_slice_into(mapper, &mut values, mask, out, &mut pk);
    pk
}

/// Moves the values of the columns in `mask` into `out` (the INSERT's parameters) and appends
/// the primary-key values to `pk` (NULL where the database generates the key).
fn split_slice_into(
    mapper: &Mapper,
    values: &mut [Value],
    mask: u64,
    out: &mut Vec<Value>,
    pk: &mut Vec<Value>,
) {
    let pk_cols = mapper.primary_key();
    let start = pk.len();
    pk.resize(start + pk_cols.len(), Value::Null);
    for (c, v) in values.iter_mut().enumerate() {
        if let Some(slot) = pk_cols
            .iter()
            .position(|&p| p == c)
            .and_then(|k| pk.get_mut(start + k))
        {
            *slot = v.clone();
        }
        if mask & (1 << c) != 0 {
            out.push(std::mem::take(v));
        }
    }
}

/// INSERTs the rows of one mapper, in order: on PostgreSQL consecutive rows of the same shape
/// with a generated key go in multi-row `INSERT ... RETURNING` batches (SQLAlchemy's
/// "insertmanyvalues"); otherwise one INSERT per row, consecutive rows of one shape as one
/// statement executed once per row ([`insert_each`]: prepared once on SQLite, each row read
/// back with `last_insert_rowid`). The rows come with their values copied out of the objects:
/// the path of rows the lent ones ([`insert_flat`], [`insert_returning_lent`]) leave.
/// With `commit`, the last statement carries the transaction's `COMMIT` when
/// [`can_carry_commit`] allows (see [`commit_target`]).
fn insert_rows(
    core: &mut SessionCore,
    dialect: Dialect,
    mapper: &Mapper,
    rows: Vec<RowOf>,
    batch: bool,
    commit: bool,
) -> Result<()> {
    if mapper.table().columns().len() > 63 {
        let n = rows.len();
        for (i, (inst, values)) in rows.into_iter().enumerate() {
            insert_one(core, dialect, mapper, &inst, values, commit && i + 1 == n)?;
        }
        return Ok(());
    }
    let mut params = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while let Some((inst, values)) = rows.next() {
        let shape = row_shape(mapper, &values);
        let (mask, auto) = shape;
        let returning = auto.is_some() && dialect == Dialect::Postgresql;
        // PostgreSQL only. SQLite (3.35+) has multi-row `INSERT ... RETURNING` too, but its
        // RETURNING order is documented as arbitrary and it has no form that ties new rowids
        // to the VALUES order (SQLAlchemy falls back to one row per statement there too), and
        // it is slower anyway: RETURNING rows are collected in an ephemeral table first
        // (re-measured with the flat row buffer: diesel's insert/100 1.25M vs 1.10M
        // instructions, flush of 100,000 objects 644 vs 505 ms). There each row is one
        // execution of the statement, prepared once, read back with `last_insert_rowid`.
        if returning && batch {
            let ncols = (mask.count_ones() as usize).max(1);
            // Both databases bind at most 32,766 parameters per statement (SQLite's default
            // SQLITE_MAX_VARIABLE_NUMBER; PostgreSQL allows 65,535).
            let cap = (32_766 / ncols).clamp(1, 1000);
            let mut batch = vec![(inst, values)];
            while batch.len() < cap {
                match rows.peek() {
                    Some((_, v)) if row_shape(mapper, v) == shape => {}
                    _ => break,
                }
                if let Some(next) = rows.next() {
                    batch.push(next);
                }
            }
            let last = commit && rows.peek().is_none();
            let Some(sql) = mapper.insert_sql(dialect, mask, batch.len(), true) else {
                let n = batch.len();
                for (i, (inst, values)) in batch.into_iter().enumerate() {
                    insert_one(core, dialect, mapper, &inst, values, last && i + 1 == n)?;
                }
                continue;
            };
            params.clear();
            let mut done = Vec::with_capacity(batch.len());
            for (inst, values) in batch {
                let pk = split_row(mapper, values, mask, &mut params);
                done.push((inst, pk));
            }
            let conn = core.connection()?;
            let result = if last && can_carry_commit(mapper, auto, &done) {
                conn.exec_driver_sql_then_commit(&sql, &params)?
            } else {
                conn.exec_driver_sql(&sql, &params)?
            };
            let mut ids: Vec<i64> = result.scalars().all()?;
            if ids.len() != done.len() {
                return Err(Error::invalid_request(format!(
                    "INSERT into {:?} returned {} keys for {} rows",
                    mapper.table().name(),
                    ids.len(),
                    done.len()
                )));
            }
            // Keys come from a sequence, allocated in VALUES order: sorted, they line up with
            // the rows whatever order RETURNING used (SQLAlchemy's insertmanyvalues relies on
            // the same).
            ids.sort_unstable();
            for ((inst, pk), id) in done.into_iter().zip(ids) {
                finish_insert(core, mapper, &inst, pk, auto, Some(Value::Int(id)))?;
            }
            continue;
        }
        let alone = returning || (commit && rows.len() <= 1);
        let grouped = !alone
            && rows
                .peek()
                .is_some_and(|(_, v)| row_shape(mapper, v) == shape);
        if grouped {
            if let Some(sql) = mapper.insert_sql(dialect, mask, 1, false) {
                // Consecutive rows of this shape: one statement executed once per row (SQLite
                // prepares it once). The flush's very last row stays out when it may carry
                // the COMMIT (below); a row alone goes below too.
                let mut group = Vec::with_capacity(rows.len() + 1);
                group.push((inst, values));
                loop {
                    if commit && rows.len() == 1 {
                        break;
                    }
                    match rows.peek() {
                        Some((_, v)) if row_shape(mapper, v) == shape => {}
                        _ => break,
                    }
                    if let Some(next) = rows.next() {
                        group.push(next);
                    }
                }
                insert_each(core, mapper, &sql, group, mask, auto, &mut params)?;
                continue;
            }
        }
        let last = commit && rows.peek().is_none();
        let shape = RowShape {
            mask,
            auto,
            returning,
        };
        insert_one_row(
            core,
            dialect,
            mapper,
            &inst,
            values,
            shape,
            last,
            &mut params,
        )?;
    }
    Ok(())
}

/// INSERTs `rows` (all of the shape `mask`, without RETURNING) with one statement executed
/// once per row, each object finished (key, identity map) right after its row, as one INSERT
/// per row would: a failure stops at the failing row, the rows before it are written.
fn insert_each(
    core: &mut SessionCore,
    mapper: &Mapper,
    sql: &str,
    rows: Vec<RowOf>,
    mask: u64,
    auto: Option<usize>,
    params: &mut Vec<Value>,
) -> Result<()> {
    let ncols = mapper.table().columns().len();
    let mut insts = Vec::with_capacity(rows.len());
    let mut values = Vec::with_capacity(rows.len() * ncols);
    for (inst, mut row) in rows {
        row.resize(ncols, Value::Null);
        values.append(&mut row);
        insts.push(inst);
    }
    insert_each_flat(core, mapper, sql, &insts, &mut values, mask, auto, params)
}

/// Whether the rows of `mapper` go through [`insert_flat`]: SQLite (no RETURNING there), a
/// table narrow enough for the cached statements, no self-referential foreign key (whose rows
/// [`order_self_referential`] orders), and not the mapper whose last INSERT may carry the
/// `COMMIT`.
fn flat_rows(mapper: &Mapper, dialect: Dialect, commit_mapper: Option<&'static Mapper>) -> bool {
    dialect == Dialect::Sqlite
        && lendable(mapper)
        && !commit_mapper.is_some_and(|m| std::ptr::eq(m, mapper))
}

/// Whether new rows of `mapper` can be bound lent from their objects, run by run: a table
/// narrow enough for the cached statements (a column mask in a `u64`), with no
/// self-referential foreign key (whose rows [`order_self_referential`] orders first).
fn lendable(mapper: &Mapper) -> bool {
    let table = mapper.table();
    table.columns().len() <= 63
        && !table
            .foreign_keys()
            .iter()
            .any(|fk| fk.referred_table() == table.name())
}

/// Whether the rows of `mapper` go through [`insert_returning_lent`]: PostgreSQL, a table
/// narrow enough for the cached statements, no self-referential foreign key (whose rows
/// [`order_self_referential`] orders), a primary key that is the autoincrement column alone.
fn lent_returning(mapper: &Mapper, dialect: Dialect) -> bool {
    dialect == Dialect::Postgresql
        && lendable(mapper)
        && mapper
            .autoincrement()
            .is_some_and(|c| mapper.primary_key() == [c])
}

/// INSERTs the leading run of `insts` of one shape whose key the database generates, as one
/// multi-row `INSERT ... RETURNING` (up to 1,000 rows, and 32,766 parameters) bound straight
/// from the objects (each lends its columns under its read lock:
/// [`Connection::exec_driver_sql_lent`](calcine_engine::Connection::exec_driver_sql_lent)),
/// finishes them from the returned keys, and returns how many it inserted: 0 when the first
/// object's key is given (the caller inserts it through its values). With `commit`, the
/// statement carries the transaction's `COMMIT` when it inserts the last of `insts` and every
/// object is writable ([`can_carry_commit`]). See [`lent_returning`].
fn insert_returning_lent(
    core: &mut SessionCore,
    mapper: &Mapper,
    insts: &[Arc<dyn AnyInstance>],
    commit: bool,
) -> Result<usize> {
    let (Some(first), Some(col)) = (insts.first(), mapper.autoincrement()) else {
        return Ok(0);
    };
    let omit = omit_if_null(mapper);
    let ncols = mapper.table().columns().len();
    let shape = |inst: &Arc<dyn AnyInstance>| -> Result<u64> {
        let mut mask = 0;
        inst.try_read_columns(&mut |cols| {
            mask = mask_of(cols, ncols, omit);
            Ok(())
        })?;
        Ok(mask)
    };
    let mask = shape(first)?;
    let width = mask.count_ones() as usize;
    if mask & (1 << col) != 0 || width == 0 {
        return Ok(0);
    }
    let cap = (32_766 / width).clamp(1, 1000);
    let mut n = 1;
    while n < cap && n < insts.len() && shape(&insts[n])? == mask {
        n += 1;
    }
    let Some(sql) = mapper.insert_sql(Dialect::Postgresql, mask, n, true) else {
        return Ok(0);
    };
    let run = &insts[..n];
    let mut fill = |i: usize, sink: &mut dyn calcine_engine::ParamSink| -> Result<()> {
        let Some(inst) = run.get(i) else {
            return Err(Error::internal("a row the flush did not send"));
        };
        if lend_row(inst, ncols, omit, mask, sink, |_| {})? {
            Ok(())
        } else {
            Err(Error::invalid_request(format!(
                "Instance {} changed while the flush was writing it",
                inst.describe()
            )))
        }
    };
    let mut ids: Vec<i64> = {
        let last = commit && n == insts.len() && run.iter().all(|i| i.can_write());
        let conn = core.connection()?;
        let result = if last {
            conn.exec_driver_sql_lent_then_commit(&sql, width, n, &mut fill)?
        } else {
            conn.exec_driver_sql_lent(&sql, width, n, &mut fill)?
        };
        result.scalars().all()?
    };
    if ids.len() != n {
        return Err(Error::invalid_request(format!(
            "INSERT into {:?} returned {} keys for {n} rows",
            mapper.table().name(),
            ids.len(),
        )));
    }
    // Keys come from a sequence, allocated in VALUES order (see `insert_rows`).
    ids.sort_unstable();
    let mut entries = core.identity.batch(first.model_type(), n);
    for (inst, id) in run.iter().zip(ids) {
        finish_generated(&mut entries, inst, col, id)?;
    }
    Ok(n)
}

/// The columns an INSERT leaves out when they are NULL (bit i = column i): the autoincrement
/// column (the database generates it) and those with a server default (see [`row_shape`]).
fn omit_if_null(mapper: &Mapper) -> u64 {
    let mut omit = 0u64;
    for (c, col) in mapper.table().columns().iter().enumerate().take(63) {
        if Some(c) == mapper.autoincrement() || col.server_default_sql().is_some() {
            omit |= 1 << c;
        }
    }
    omit
}

/// The columns an INSERT of a row sends (bit i = column i): all `ncols` but the NULL ones of
/// `omit` ([`omit_if_null`]), what [`row_shape`] gives a row's values. Reads only those
/// columns.
fn mask_of<C: ColumnRefs + ?Sized>(cols: &C, ncols: usize, omit: u64) -> u64 {
    let mut mask = (1u64 << ncols.min(63)) - 1;
    let mut bits = omit;
    while bits != 0 {
        let c = bits.trailing_zeros() as usize;
        if cols.column_ref(c).is_null() {
            mask &= !(1 << c);
        }
        bits &= bits - 1;
    }
    mask
}

/// Lends the columns in `mask` of `inst` to `sink`, in column order, if the object's shape
/// ([`mask_of`]) is still `mask`, after `with` has seen them: all under one read lock, so the
/// row sent is the shape read. Whether the shape was `mask` (nothing is pushed if not).
fn lend_row(
    inst: &Arc<dyn AnyInstance>,
    ncols: usize,
    omit: u64,
    mask: u64,
    sink: &mut dyn calcine_engine::ParamSink,
    mut with: impl FnMut(&dyn ColumnRefs),
) -> Result<bool> {
    let mut same = true;
    inst.try_read_columns(&mut |cols| {
        if mask_of(cols, ncols, omit) != mask {
            same = false;
            return Ok(());
        }
        with(cols);
        let mut bits = mask;
        while bits != 0 {
            sink.push(cols.column_ref(bits.trailing_zeros() as usize));
            bits &= bits - 1;
        }
        Ok(())
    })?;
    Ok(same)
}

/// INSERTs `insts` (in order): each run of rows of one shape through [`insert_lent`] (the
/// shape of its first row read here, the others' while they are bound), a shape without a
/// cached statement through [`insert_one`]. SQLite only (see [`flat_rows`]).
fn insert_flat(
    core: &mut SessionCore,
    mapper: &Mapper,
    insts: &[Arc<dyn AnyInstance>],
) -> Result<()> {
    let omit = omit_if_null(mapper);
    let ncols = mapper.table().columns().len();
    let mut i = 0;
    while let Some(inst) = insts.get(i) {
        let mut mask = 0;
        inst.try_read_columns(&mut |cols| {
            mask = mask_of(cols, ncols, omit);
            Ok(())
        })?;
        match mapper.insert_sql(Dialect::Sqlite, mask, 1, false) {
            Some(sql) => i += insert_lent(core, mapper, &sql, &insts[i..], mask, omit)?,
            None => {
                let values = inst.try_values()?;
                insert_one(core, Dialect::Sqlite, mapper, inst, values, false)?;
                i += 1;
            }
        }
    }
    Ok(())
}

/// INSERTs the leading run of `insts` of the shape `mask` with `sql` (one row's INSERT of those
/// columns, without RETURNING) executed once per object, and returns how many it inserted: it
/// stops before the first row of another shape. Each object's shape is read and its columns
/// bound as it lends them ([`Model::column_ref`](crate::Model::column_ref)), under one read
/// lock, so the row sent is the shape read; each object is finished (key, identity map) right
/// after its row: a failure stops at the failing row, the rows before it are written.
fn insert_lent(
    core: &mut SessionCore,
    mapper: &Mapper,
    sql: &str,
    insts: &[Arc<dyn AnyInstance>],
    mask: u64,
    omit: u64,
) -> Result<usize> {
    if insts.is_empty() {
        return Ok(0);
    }
    let pk_cols = mapper.primary_key();
    let ncols = mapper.table().columns().len();
    let auto = mapper.autoincrement().filter(|&c| mask & (1 << c) == 0);
    // The key is the generated integer alone (the usual `id` column): nothing to read for it.
    let generated_key = auto.filter(|&c| pk_cols == [c]);
    // Else the primary-key values of the row being inserted, read while it is bound.
    let npk = if generated_key.is_some() {
        0
    } else {
        pk_cols.len()
    };
    let pk: std::cell::RefCell<Vec<Value>> = std::cell::RefCell::new(vec![Value::Null; npk]);
    // The first row of another shape, where the run ends.
    let end: std::cell::Cell<Option<usize>> = std::cell::Cell::new(None);
    let (conn, mut entries) = insert_parts(core, insts)?;
    let out = conn.exec_driver_sql_each_with(
        sql,
        mask.count_ones() as usize,
        insts.len(),
        &mut |i, sink| {
            let Some(inst) = insts.get(i) else {
                return Err(Error::internal("a row the flush did not send"));
            };
            let same = lend_row(inst, ncols, omit, mask, sink, |cols| {
                for (slot, &c) in pk.borrow_mut().iter_mut().zip(pk_cols) {
                    Value::replace(slot, cols.column_ref(c).into_value());
                }
            })?;
            if same {
                Ok(())
            } else {
                // Not sent: the caller's error ends the run here (see below).
                end.set(Some(i));
                Err(Error::internal("a row of another shape"))
            }
        },
        &mut |i, id| {
            let Some(inst) = insts.get(i) else {
                return Err(Error::internal("a row the flush did not send"));
            };
            match (generated_key, id) {
                (Some(c), Some(id)) => finish_generated(&mut entries, inst, c, id),
                // No key came back: the NULL identity key's error.
                (Some(_), None) => {
                    finish_insert_in(&mut entries, mapper, inst, &mut [Value::Null], auto, None)
                }
                (None, id) => {
                    let generated = auto.and(id).map(Value::Int);
                    finish_insert_in(
                        &mut entries,
                        mapper,
                        inst,
                        &mut pk.borrow_mut(),
                        auto,
                        generated,
                    )
                }
            }
        },
    );
    match (out, end.get()) {
        (Ok(()), _) => Ok(insts.len()),
        (Err(_), Some(n)) => Ok(n),
        (Err(e), None) => Err(e),
    }
}

/// What an INSERT of one row sends: the columns in `mask`, the generated key column, and
/// whether the key comes back through `RETURNING` (PostgreSQL) or `last_insert_id` (SQLite).
#[derive(Clone, Copy)]
struct RowShape {
    mask: u64,
    auto: Option<usize>,
    returning: bool,
}

/// One row INSERTed alone: the cached single-row statement when there is one, else
/// [`insert_one`]; with `commit`, the statement carries the transaction's `COMMIT` when
/// [`can_carry_commit`] allows.
#[allow(clippy::too_many_arguments)]
fn insert_one_row(
    core: &mut SessionCore,
    dialect: Dialect,
    mapper: &Mapper,
    inst: &Arc<dyn AnyInstance>,
    values: Vec<Value>,
    shape: RowShape,
    commit: bool,
    params: &mut Vec<Value>,
) -> Result<()> {
    let RowShape {
        mask,
        auto,
        returning,
    } = shape;
    let Some(sql) = mapper.insert_sql(dialect, mask, 1, returning) else {
        return insert_one(core, dialect, mapper, inst, values, commit);
    };
    params.clear();
    let pk = split_row(mapper, values, mask, params);
    let done = [(inst.clone(), pk)];
    let with_commit = commit && can_carry_commit(mapper, auto, &done);
    let [(_, pk)] = done;
    let conn = core.connection()?;
    let generated = if returning {
        let result = if with_commit {
            conn.exec_driver_sql_then_commit(&sql, params)?
        } else {
            conn.exec_driver_sql(&sql, params)?
        };
        result.scalars::<Value>().all()?.pop()
    } else {
        if with_commit {
            conn.exec_driver_sql_then_commit(&sql, params)?;
        } else {
            conn.exec_driver_sql_rowcount(&sql, params)?;
        }
        match auto {
            Some(_) => conn.last_insert_id().map(Value::Int),
            None => None,
        }
    };
    finish_insert(core, mapper, inst, pk, auto, generated)
}

/// [`insert_each`] of rows whose values (all the table's columns) lie one after the other in
/// `values`; the values sent are moved out.
#[allow(clippy::too_many_arguments)]
fn insert_each_flat(
    core: &mut SessionCore,
    mapper: &Mapper,
    sql: &str,
    insts: &[Arc<dyn AnyInstance>],
    values: &mut [Value],
    mask: u64,
    auto: Option<usize>,
    params: &mut Vec<Value>,
) -> Result<()> {
    let npk = mapper.primary_key().len();
    let ncols = mapper.table().columns().len();
    params.clear();
    params.reserve(insts.len() * mask.count_ones() as usize);
    let mut pks: Vec<Value> = Vec::with_capacity(insts.len() * npk);
    for row in values.chunks_mut(ncols.max(1)).take(insts.len()) {
        split_slice_into(mapper, row, mask, params, &mut pks);
    }
    if insts.is_empty() {
        return Ok(());
    }
    let (conn, mut entries) = insert_parts(core, insts)?;
    conn.exec_driver_sql_each(sql, params, insts.len(), &mut |i, id| {
        let (Some(inst), Some(pk)) = (insts.get(i), pks.get_mut(i * npk..(i + 1) * npk)) else {
            return Err(Error::internal("a row the flush did not send"));
        };
        let generated = auto.and(id).map(Value::Int);
        finish_insert_in(&mut entries, mapper, inst, pk, auto, generated)
    })
}

/// Whether the INSERT of `rows` (each object with its primary-key values, NULL where the
/// database generates the key) can carry the `COMMIT`: only if [`finish_insert`] cannot fail
/// afterwards, when the transaction would already be committed. Every key must be complete once
/// the generated column is filled in (else: "NULL identity key after INSERT"), and every
/// object must be writable, since the generated key is written into it (a live read guard,
/// typically the caller's, would fail that; a guard another thread takes between this check and
/// the write is not covered).
fn can_carry_commit(
    mapper: &Mapper,
    auto: Option<usize>,
    rows: &[(Arc<dyn AnyInstance>, Vec<Value>)],
) -> bool {
    let generated = auto.and_then(|c| mapper.primary_key().iter().position(|&p| p == c));
    rows.iter().all(|(inst, pk)| {
        let complete = pk
            .iter()
            .enumerate()
            .all(|(k, v)| Some(k) == generated || !v.is_null());
        complete && (auto.is_none() || inst.can_write())
    })
}

/// The general INSERT path (statement built per row): tables too wide for the shape cache.
/// With `commit`, the INSERT carries the transaction's `COMMIT` when [`can_carry_commit`]
/// allows.
fn insert_one(
    core: &mut SessionCore,
    dialect: Dialect,
    mapper: &Mapper,
    inst: &Arc<dyn AnyInstance>,
    values: Vec<Value>,
    commit: bool,
) -> Result<()> {
    let table = mapper.table();
    let (_, auto) = row_shape(mapper, &values);
    let mut pairs: Vec<(usize, Value)> = Vec::with_capacity(values.len());
    for (c, v) in values.iter().enumerate() {
        if Some(c) == auto {
            continue;
        }
        if v.is_null() && table.columns()[c].server_default_sql().is_some() {
            continue;
        }
        pairs.push((c, v.clone()));
    }
    let mut stmt = if pairs.is_empty() {
        insert(table)
    } else {
        insert(table).values(pairs)?
    };
    let pk: Vec<Value> = mapper
        .primary_key()
        .iter()
        .map(|&c| values[c].clone())
        .collect();
    let commit = commit && can_carry_commit(mapper, auto, &[(inst.clone(), pk.clone())]);
    let conn = core.connection()?;
    let generated: Option<Value> = match (auto, dialect) {
        (Some(c), Dialect::Postgresql) => {
            let col = table
                .c_at(c)
                .ok_or_else(|| Error::invalid_request("autoincrement column out of range"))?;
            stmt = stmt.returning(col);
            let result = if commit {
                conn.execute_then_commit(&stmt)?
            } else {
                conn.execute(&stmt)?
            };
            result.scalars::<Value>().all()?.pop()
        }
        (auto, _) => {
            if commit {
                conn.execute_then_commit(&stmt)?;
            } else {
                conn.execute(&stmt)?;
            }
            auto.and_then(|_| conn.last_insert_id().map(Value::Int))
        }
    };
    finish_insert(core, mapper, inst, pk, auto, generated)
}

/// After an INSERT: the generated key goes into the object, which becomes persistent and
/// enters the identity map. `pk` holds the primary-key values (NULL for the generated one).
/// The flush's caller moves the inserted objects into the transaction's list at the end
/// ([`flush`]).
fn finish_insert(
    core: &mut SessionCore,
    mapper: &Mapper,
    inst: &Arc<dyn AnyInstance>,
    mut pk: Vec<Value>,
    auto: Option<usize>,
    generated: Option<Value>,
) -> Result<()> {
    let mut entries = core.identity.batch(inst.model_type(), 1);
    finish_insert_in(&mut entries, mapper, inst, &mut pk, auto, generated)
}

/// The session's connection (checked out if needed) and the identity map's entries of the
/// model of `insts` (with room for all of them): what a run of INSERTs works with.
fn insert_parts<'c>(
    core: &'c mut SessionCore,
    insts: &[Arc<dyn AnyInstance>],
) -> Result<(&'c mut calcine_engine::Connection, ModelEntries<'c>)> {
    core.connection()?;
    let SessionCore { conn, identity, .. } = core;
    let conn = conn
        .as_mut()
        .ok_or_else(|| Error::invalid_request("the session has no connection"))?;
    let Some(first) = insts.first() else {
        return Err(Error::internal("a run of INSERTs without rows"));
    };
    Ok((conn, identity.batch(first.model_type(), insts.len())))
}

/// [`finish_insert`] on the identity map's entries of the object's model (borrowed apart from
/// the session's connection).
fn finish_insert_in(
    entries: &mut ModelEntries<'_>,
    mapper: &Mapper,
    inst: &Arc<dyn AnyInstance>,
    pk: &mut [Value],
    auto: Option<usize>,
    generated: Option<Value>,
) -> Result<()> {
    let generated = match (auto, generated) {
        (Some(c), Some(v)) => {
            if let Some(slot) = mapper
                .primary_key()
                .iter()
                .position(|&p| p == c)
                .and_then(|k| pk.get_mut(k))
            {
                *slot = v.clone();
            }
            Some((c, v))
        }
        _ => None,
    };
    let key = Key::from_values(pk).ok_or_else(|| {
        Error::invalid_request(format!(
            "Instance {} has a NULL identity key after INSERT: give its primary key a value or \
             make it autoincrement",
            inst.describe()
        ))
    })?;
    inst.try_set_inserted(generated, key.clone())?;
    entries.insert(key, inst);
    Ok(())
}

/// [`finish_insert_in`] of an object whose primary key is the one column `col` the database
/// generated, `id`: the key is built from the integer itself (nothing read back from the
/// row) and the value moved into the object.
fn finish_generated(
    entries: &mut ModelEntries<'_>,
    inst: &Arc<dyn AnyInstance>,
    col: usize,
    id: i64,
) -> Result<()> {
    let key = Key::Single(KeyPart::Int(id));
    inst.try_set_inserted(Some((col, Value::Int(id))), key.clone())?;
    entries.insert(key, inst);
    Ok(())
}

fn update_one(
    core: &mut SessionCore,
    mapper: &Mapper,
    inst: &Arc<dyn AnyInstance>,
    current: &[Value],
    changed: &[usize],
) -> Result<()> {
    let key = inst
        .state()
        .key
        .clone()
        .ok_or_else(|| Error::invalid_request("a persistent instance without a key"))?;
    let mut builder = None;
    let mut stmt = None;
    for &c in changed {
        stmt = Some(match stmt.take() {
            None => {
                let b = builder.take().unwrap_or_else(|| update(mapper.table()));
                b.set(c, current[c].clone())?
            }
            Some(s) => calcine_sql::Update::set(s, c, current[c].clone())?,
        });
    }
    let Some(stmt) = stmt else {
        return Ok(());
    };
    let stmt = stmt.where_(pk_condition(mapper, &key)?);
    let matched = core.connection()?.execute(&stmt)?.rows_affected();
    if matched != Some(1) {
        return Err(Error::stale_data(format!(
            "UPDATE statement on table '{}' expected to update 1 row(s); {} were matched.",
            mapper.table().name(),
            matched.unwrap_or(0)
        )));
    }
    let mut st = inst.state();
    st.committed = None;
    // If the primary key itself changed, the identity follows it.
    let pk: Vec<Value> = mapper
        .primary_key()
        .iter()
        .map(|&c| current[c].clone())
        .collect();
    if let Some(new_key) = Key::from_values(&pk) {
        if new_key != key {
            st.key = Some(new_key.clone());
            drop(st);
            core.identity.remove(inst.model_type(), &key);
            core.register(new_key, inst);
        }
    }
    Ok(())
}

fn delete_one(core: &mut SessionCore, mapper: &Mapper, inst: &Arc<dyn AnyInstance>) -> Result<()> {
    let key = inst
        .state()
        .key
        .clone()
        .ok_or_else(|| Error::invalid_request("a persistent instance without a key"))?;
    let stmt = delete(mapper.table()).where_(pk_condition(mapper, &key)?);
    let matched = core.connection()?.execute(&stmt)?.rows_affected();
    if matched != Some(1) {
        return Err(Error::stale_data(format!(
            "DELETE statement on table '{}' expected to delete 1 row(s); {} were matched.",
            mapper.table().name(),
            matched.unwrap_or(0)
        )));
    }
    {
        let mut st = inst.state();
        st.status = Status::Deleted;
        st.delete_pending = false;
    }
    core.identity.remove(inst.model_type(), &key);
    core.tx_deleted.push(inst.clone());
    Ok(())
}
