//! Loading related objects (SQLAlchemy `orm/strategies.py`): how each relationship joins its
//! tables ([`Resolved`], worked out once from the foreign keys), the lazy load behind
//! `Many::load` / `One::get`, and the eager `selectin` loader.

use std::sync::Arc;

use calcine_engine::{Error, Result};
use calcine_sql::{Select, Value};
use rustc_hash::FxHashMap;

use crate::identity_map::IdentityMap;
use crate::instance::{AnyInstance, Status};
use crate::key::{Key, KeyPart};
use crate::model::{Mapper, Model};
use crate::relationship::{Lazy, ParentLink, Related, RelationshipDef};
use crate::session::{SessionCore, SessionShared};

/// Builds instances of one model from rows (each a slice of the model's columns in table
/// order, its values moved out for a new instance) through the identity map, appending one
/// instance per row to `out` (type-erased: a relationship's target is known at run time).
pub(crate) type LoadFn = fn(
    &mut IdentityMap,
    &Arc<SessionShared>,
    &mut dyn ExactSizeIterator<Item = &mut [Value]>,
    &mut Related,
) -> Result<()>;

pub(crate) fn load_erased<T: Model>(
    identity: &mut IdentityMap,
    shared: &Arc<SessionShared>,
    rows: &mut dyn ExactSizeIterator<Item = &mut [Value]>,
    out: &mut Related,
) -> Result<()> {
    let mut objs: Vec<crate::Obj<T>> = Vec::with_capacity(rows.len());
    crate::session::load_into(identity, shared, rows, &mut objs)?;
    out.extend(objs.iter().map(crate::Obj::as_any));
    Ok(())
}

impl SessionCore {
    /// Runs `stmt`, which selects `target`'s columns in table order, and loads its rows with
    /// `load` (the target's [`LoadFn`]), a flat chunk at a time. `each` sees every row before it
    /// is loaded (its values still in place), in order: one call per object of the result.
    pub(crate) fn execute_load_with<S: calcine_sql::Executable + ?Sized>(
        &mut self,
        shared: &Arc<SessionShared>,
        stmt: &S,
        target: &Mapper,
        load: LoadFn,
        mut each: impl FnMut(&[Value]),
    ) -> Result<Related> {
        let mut out: Related = Vec::new();
        let ncols = target.column_names().len();
        self.execute_chunks(
            stmt,
            |width| crate::session::check_columns(target, width),
            |identity, chunk, width| {
                for row in chunk.chunks_exact(width) {
                    each(row);
                }
                load(
                    identity,
                    shared,
                    &mut chunk.chunks_exact_mut(ncols),
                    &mut out,
                )
            },
        )?;
        Ok(out)
    }

    /// [`execute_load_with`](Self::execute_load_with) without a look at the rows.
    fn execute_load_erased<S: calcine_sql::Executable + ?Sized>(
        &mut self,
        shared: &Arc<SessionShared>,
        stmt: &S,
        target: &Mapper,
        load: LoadFn,
    ) -> Result<Related> {
        self.execute_load_with(shared, stmt, target, load, |_| {})
    }
}

/// How one relationship joins its parent to its target.
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    /// The target's foreign key (`target_cols`) refers to the parent's `parent_cols`:
    /// one-to-many (a `Many`), or a one-to-one seen from the referenced side (a `One`).
    Referencing {
        parent_cols: Vec<usize>,
        target_cols: Vec<usize>,
    },
    /// The parent's foreign key (`parent_cols`) refers to the target's `target_cols`:
    /// many-to-one.
    Referenced {
        parent_cols: Vec<usize>,
        target_cols: Vec<usize>,
    },
    /// Through an association table: `secondary.sec_parent = parent.parent_cols` and
    /// `secondary.sec_target = target.target_cols`.
    Secondary {
        parent_cols: Vec<usize>,
        sec_parent: Vec<usize>,
        sec_target: Vec<usize>,
        target_cols: Vec<usize>,
    },
}

/// A foreign key as (local column positions, referred column positions).
type FkCols = (Vec<usize>, Vec<usize>);

/// Foreign keys of `from` that refer to `to`.
fn fks_between(from: &Mapper, to: &Mapper, only: Option<&str>) -> Vec<FkCols> {
    let (ft, tt) = (from.table(), to.table());
    ft.foreign_keys()
        .iter()
        .filter(|fk| fk.referred_table() == tt.name())
        .filter(|fk| only.is_none_or(|name| fk.columns().iter().any(|c| &**c == name)))
        .filter_map(|fk| {
            let local: Option<Vec<usize>> =
                fk.columns().iter().map(|c| ft.column_index(c)).collect();
            let remote: Option<Vec<usize>> = fk
                .referred_columns()
                .iter()
                .map(|c| tt.column_index(c))
                .collect();
            Some((local?, remote?))
        })
        .collect()
}

fn one_fk(
    found: Vec<FkCols>,
    what: impl Fn() -> String,
) -> std::result::Result<Option<FkCols>, String> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        n => Err(format!(
            "{}: {n} foreign keys could join these tables; name the one to use with \
             relationship(foreign_key = \"column\")",
            what()
        )),
    }
}

pub(crate) fn resolve_all(mapper: &Mapper) -> std::result::Result<Vec<Resolved>, String> {
    mapper
        .relationships()
        .iter()
        .map(|r| resolve(mapper, r))
        .collect()
}

fn resolve(parent: &Mapper, rel: &RelationshipDef) -> std::result::Result<Resolved, String> {
    let target = rel.target.mapper();
    let what = || format!("relationship {}.{}", parent.name(), rel.name);
    if let Some(sec) = rel.secondary {
        let sec = sec.mapper();
        let left = one_fk(fks_between(sec, parent, None), what)?;
        let right = one_fk(fks_between(sec, target, None), what)?;
        return match (left, right) {
            (Some((sec_parent, parent_cols)), Some((sec_target, target_cols))) => {
                Ok(Resolved::Secondary {
                    parent_cols,
                    sec_parent,
                    sec_target,
                    target_cols,
                })
            }
            _ => Err(format!(
                "{}: the association table {:?} needs a foreign key to {:?} and one to {:?}",
                what(),
                sec.table().name(),
                parent.table().name(),
                target.table().name()
            )),
        };
    }
    let referencing = || fks_between(target, parent, rel.foreign_key);
    let referenced = || fks_between(parent, target, rel.foreign_key);
    // A collection is the referenced side; a scalar prefers to hold the foreign key itself.
    let order: [bool; 2] = if rel.collection {
        [true, false]
    } else {
        [false, true]
    };
    for target_holds_fk in order {
        if target_holds_fk {
            if let Some((target_cols, parent_cols)) = one_fk(referencing(), what)? {
                return Ok(Resolved::Referencing {
                    parent_cols,
                    target_cols,
                });
            }
        } else if !rel.collection {
            if let Some((parent_cols, target_cols)) = one_fk(referenced(), what)? {
                return Ok(Resolved::Referenced {
                    parent_cols,
                    target_cols,
                });
            }
        }
    }
    Err(format!(
        "{}: no foreign key joins {:?} and {:?}; add #[calcine(foreign_key = \"table.column\")] \
         to the column that refers to the other table",
        what(),
        parent.table().name(),
        target.table().name()
    ))
}

fn ordered(select: Select, target: &Mapper, rel: &RelationshipDef) -> Result<Select> {
    let Some(spec) = rel.order_by else {
        return Ok(select);
    };
    let mut words = spec.split_whitespace();
    let name = words.next().unwrap_or_default();
    let desc = words.next().is_some_and(|w| w.eq_ignore_ascii_case("desc"));
    let col = target.table().c(name).map_err(Error::from)?;
    Ok(select.order_by([if desc {
        calcine_sql::desc(col)
    } else {
        calcine_sql::asc(col)
    }]))
}

/// Key parts of `key` as values.
fn key_values(key: &Key) -> Vec<Value> {
    key.parts().iter().map(crate::KeyPart::to_value).collect()
}

/// Values of `cols` (positions in the primary key's column list are looked up in `key`).
fn pk_subset(mapper: &Mapper, key: &Key, cols: &[usize]) -> Option<Vec<Value>> {
    let pk = mapper.primary_key();
    let parts = key.parts();
    cols.iter()
        .map(|c| {
            pk.iter()
                .position(|p| p == c)
                .and_then(|i| parts.get(i))
                .map(crate::KeyPart::to_value)
        })
        .collect()
}

/// The lazy load behind `Many::load` / `One::get` (`target_key`: a `One`'s known target).
pub(crate) fn lazy_load(link: &ParentLink, target_key: Option<Key>) -> Result<Related> {
    let Some(parent) = link.parent.upgrade() else {
        return Err(Error::detached_instance(
            "the parent instance of this relationship is gone",
        ));
    };
    let mapper = parent.mapper();
    let rel = mapper
        .relationships()
        .get(link.index)
        .ok_or_else(|| Error::invalid_request("unknown relationship"))?;
    let attr = format!("{}.{}", mapper.name(), rel.name);
    match rel.lazy {
        Lazy::Raise => {
            return Err(Error::invalid_request(format!(
                "'{attr}' is not available due to lazy='raise'; load it with an eager option \
                 (selectinload / joinedload) or change the relationship's lazy setting"
            )));
        }
        Lazy::NoLoad => return Ok(Vec::new()),
        _ => {}
    }
    let (status, key, session) = {
        let st = parent.state();
        (st.status, st.key.clone(), st.session.upgrade())
    };
    let Some(session) = session else {
        return Err(Error::detached_instance(format!(
            "Parent instance {} is not bound to a Session; lazy load operation of attribute \
             '{}' cannot proceed",
            parent.describe(),
            rel.name
        )));
    };
    // A pending parent has no rows behind it yet.
    if status == Status::Pending
        && !matches!(mapper.resolved()?[link.index], Resolved::Referenced { .. })
    {
        return Ok(Vec::new());
    }
    session.io_guard_for(&attr)?;
    session.load_relationship(&parent, link.index, key, target_key)
}

impl SessionCore {
    /// Loads relationship `index` of `parent` (whose identity is `key`; for a many-to-one,
    /// `target_key` is the referenced row's key).
    pub(crate) fn load_related(
        &mut self,
        shared: &Arc<SessionShared>,
        parent: &Arc<dyn AnyInstance>,
        index: usize,
        key: Option<Key>,
        target_key: Option<Key>,
    ) -> Result<Related> {
        let mapper = parent.mapper();
        let rel = &mapper.relationships()[index];
        let target = rel.target.mapper();
        let resolved = mapper.resolved()?[index].clone();
        let related = match resolved {
            Resolved::Referenced { target_cols, .. } => {
                let Some(tkey) = target_key else {
                    return Ok(Vec::new());
                };
                let target_is_pk = target_cols == target.primary_key();
                if target_is_pk {
                    if let Some(found) = self.lookup((rel.target.type_id)(), &tkey) {
                        return Ok(vec![found]);
                    }
                }
                let stmt = target
                    .select()
                    .where_(target.columns_eq(&target_cols, &key_values(&tkey))?);
                self.execute_load_erased(shared, &stmt, target, rel.target.load)?
            }
            Resolved::Referencing {
                parent_cols,
                target_cols,
            } => {
                let Some(key) = key else {
                    return Ok(Vec::new());
                };
                let Some(values) = pk_subset(mapper, &key, &parent_cols) else {
                    return Err(Error::invalid_request(format!(
                        "relationship {}.{} joins on columns outside the primary key; not \
                         supported yet",
                        mapper.name(),
                        rel.name
                    )));
                };
                let stmt = ordered(
                    target
                        .select()
                        .where_(target.columns_eq(&target_cols, &values)?),
                    target,
                    rel,
                )?;
                self.execute_load_erased(shared, &stmt, target, rel.target.load)?
            }
            Resolved::Secondary {
                parent_cols,
                sec_parent,
                sec_target,
                target_cols,
            } => {
                let Some(key) = key else {
                    return Ok(Vec::new());
                };
                let sec = rel
                    .secondary
                    .map(|s| s.mapper())
                    .ok_or_else(|| Error::invalid_request("secondary without a model"))?;
                let Some(values) = pk_subset(mapper, &key, &parent_cols) else {
                    return Err(Error::invalid_request(
                        "many-to-many joined on columns outside the primary key",
                    ));
                };
                let on = sec.join_on(&sec_target, target, &target_cols)?;
                let stmt = target
                    .select()
                    .join(sec.table(), on)
                    .map_err(Error::from)?
                    .where_(sec.columns_eq(&sec_parent, &values)?);
                let stmt = ordered(stmt, target, rel)?;
                self.execute_load_erased(shared, &stmt, target, rel.target.load)?
            }
        };
        Ok(related)
    }
}

/// Selectin-loads relationship `index` for every parent of `mapper` in `parents` whose field
/// is not loaded yet: one `IN` query per batch of parents (SQLAlchemy's `selectinload`).
/// Returns the loaded targets (for nested options).
pub(crate) fn selectin_load(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    mapper: &Mapper,
    index: usize,
    parents: &[Arc<dyn AnyInstance>],
) -> Result<Related> {
    const BATCH: usize = 500;
    let rel = &mapper.relationships()[index];
    let target = rel.target.mapper();
    let resolved = mapper.resolved()?[index].clone();
    let todo: Vec<&Arc<dyn AnyInstance>> = parents
        .iter()
        .filter(|p| !p.relation_loaded(index).unwrap_or(true))
        .collect();
    let mut all_targets: Related = Vec::new();
    match resolved {
        Resolved::Referencing {
            parent_cols,
            target_cols,
        } if parent_cols.len() == 1 && target_cols.len() == 1 => {
            let (pc, tc) = (parent_cols[0], target_cols[0]);
            // The parents grouped by the key their children refer to (one parent per key,
            // unless the same object comes twice), each group with its children; `keys` holds
            // one IN value per group.
            let mut group_of: FxHashMap<Key, usize> = FxHashMap::default();
            let mut groups: Vec<(Vec<&Arc<dyn AnyInstance>>, Related)> = Vec::new();
            let mut keys: Vec<Value> = Vec::new();
            for p in &todo {
                let key = p.state().key.clone();
                let Some(v) = key.as_ref().and_then(|k| pk_subset(mapper, k, &[pc])) else {
                    continue;
                };
                let Some(k) = Key::from_values(&v) else {
                    continue;
                };
                match group_of.entry(k) {
                    std::collections::hash_map::Entry::Occupied(e) => groups[*e.get()].0.push(p),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(groups.len());
                        groups.push((vec![p], Vec::new()));
                        keys.extend(v);
                    }
                }
            }
            let col = target
                .table()
                .c_at(tc)
                .ok_or_else(|| Error::invalid_request("column out of range"))?;
            for chunk in keys.chunks(BATCH) {
                let stmt = ordered(
                    target.select().where_(col.clone().in_(chunk.to_vec())),
                    target,
                    rel,
                )?;
                let mut slots: Vec<Option<usize>> = Vec::new();
                let objs = core.execute_load_with(shared, &stmt, target, rel.target.load, |r| {
                    let fk = r.get(tc).and_then(KeyPart::from_value).map(Key::Single);
                    slots.push(fk.and_then(|k| group_of.get(&k).copied()));
                })?;
                all_targets.reserve(objs.len());
                for (slot, obj) in slots.into_iter().zip(objs) {
                    if let Some((_, kids)) = slot.and_then(|i| groups.get_mut(i)) {
                        kids.push(obj.clone());
                    }
                    all_targets.push(obj);
                }
            }
            for (ps, kids) in groups {
                if let Some((last, rest)) = ps.split_last() {
                    for p in rest {
                        p.relation_set_loaded(index, kids.clone())?;
                    }
                    last.relation_set_loaded(index, kids)?;
                }
            }
            // Parents without a key (pending) get an empty collection.
            for p in &todo {
                p.relation_fill(index, Vec::new())?;
            }
        }
        Resolved::Referenced { target_cols, .. }
            if target_cols == target.primary_key() && target_cols.len() == 1 =>
        {
            let mut wanted: FxHashMap<Key, Vec<&Arc<dyn AnyInstance>>> = FxHashMap::default();
            for p in &todo {
                match p.relation_target_key(index)? {
                    Some(k) => wanted.entry(k).or_default().push(p),
                    None => p.relation_set_loaded(index, Vec::new())?,
                }
            }
            let mut found: FxHashMap<Key, Arc<dyn AnyInstance>> = FxHashMap::default();
            let mut missing = Vec::new();
            for k in wanted.keys() {
                match core.lookup((rel.target.type_id)(), k) {
                    Some(t) => {
                        found.insert(k.clone(), t);
                    }
                    None => missing.push(k.clone()),
                }
            }
            let col = target
                .table()
                .c_at(target_cols[0])
                .ok_or_else(|| Error::invalid_request("column out of range"))?;
            for chunk in missing.chunks(BATCH) {
                let values: Vec<Value> = chunk.iter().flat_map(key_values).collect();
                let stmt = target.select().where_(col.clone().in_(values));
                for obj in core.execute_load_erased(shared, &stmt, target, rel.target.load)? {
                    let key = obj.state().key.clone();
                    if let Some(k) = key {
                        found.insert(k, obj);
                    }
                }
            }
            for (k, ps) in wanted {
                let t: Related = found.get(&k).cloned().into_iter().collect();
                all_targets.extend(t.iter().cloned());
                for p in ps {
                    p.relation_set_loaded(index, t.clone())?;
                }
            }
        }
        _ => {
            // Composite keys and many-to-many: one lazy load per parent (correct, not batched).
            for p in todo {
                let key = p.state().key.clone();
                let tkey = p.relation_target_key(index)?;
                let got = core.load_related(shared, p, index, key, tkey)?;
                all_targets.extend(got.iter().cloned());
                p.relation_set_loaded(index, got)?;
            }
        }
    }
    Ok(all_targets)
}

/// Runs a [`ModelSelect`](crate::ModelSelect): the statement (with a LEFT OUTER JOIN per
/// joined relationship of the first level), the rows through the identity map, then the
/// relationship loaders: options first, then the relationships' eager defaults.
pub(crate) fn run_model_select<T: Model>(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    stmt: &crate::ModelSelect<T>,
) -> Result<Vec<crate::Obj<T>>> {
    let mapper = T::mapper();
    // Joined loading at the first level: options, else eager defaults not overridden.
    let mut joined: Option<usize> = None;
    for path in &stmt.options {
        if let Some(step) = path.steps.first() {
            if step.strategy == Lazy::Joined
                && joined.is_none()
                && std::ptr::eq(step.parent.mapper(), mapper)
            {
                joined = Some(step.index);
            }
        }
    }
    if joined.is_none() {
        joined = mapper
            .relationships()
            .iter()
            .enumerate()
            .find_map(|(i, r)| {
                (r.lazy == Lazy::Joined && !overridden(&stmt.options, i)).then_some(i)
            });
    }
    let joined = match joined {
        Some(i) => joined_statement(mapper, i, stmt.statement())?.map(|s| (i, s)),
        None => None,
    };
    let joined_index = joined.as_ref().map(|(i, _)| *i);
    let parents: Vec<crate::Obj<T>> = match joined {
        None => core.execute_load::<T, _>(shared, stmt)?,
        Some((index, (sql, ncols))) => load_joined::<T>(core, shared, index, ncols, &sql)?,
    };
    if has_loaders(mapper, &stmt.options, joined_index) {
        let any: Related = parents.iter().map(crate::Obj::as_any).collect();
        apply_loaders(core, shared, mapper, &any, &stmt.options)?;
    }
    Ok(parents)
}

/// Whether [`apply_loaders`] has anything to load after a select of `mapper` with `options`:
/// an option (other than a lone `joinedload` of relationship `joined`, which the statement's
/// join has loaded already), or an eager (selectin / joined) relationship by default.
pub(crate) fn has_loaders(
    mapper: &Mapper,
    options: &[crate::query::LoadPath],
    joined: Option<usize>,
) -> bool {
    let done_by_join = |p: &crate::query::LoadPath| match p.steps.as_slice() {
        [step] => {
            step.strategy == Lazy::Joined
                && Some(step.index) == joined
                && std::ptr::eq(step.parent.mapper(), mapper)
        }
        _ => false,
    };
    options.iter().any(|p| !done_by_join(p))
        || mapper
            .relationships()
            .iter()
            .any(|r| matches!(r.lazy, Lazy::Selectin | Lazy::Joined))
}

fn overridden(options: &[crate::query::LoadPath], index: usize) -> bool {
    options
        .iter()
        .any(|p| p.steps.first().is_some_and(|s| s.index == index))
}

/// The base statement plus `LEFT OUTER JOIN target` and the target's columns, for a joined
/// load of relationship `index`; `None` where a join can't express it (self-referential,
/// many-to-many), which then loads like selectin.
fn joined_statement(
    mapper: &Mapper,
    index: usize,
    base: &calcine_sql::Select,
) -> Result<Option<(calcine_sql::Select, usize)>> {
    let rel = &mapper.relationships()[index];
    let target = rel.target.mapper();
    if std::ptr::eq(target, mapper) {
        return Ok(None);
    }
    let (pcols, tcols) = match &mapper.resolved()?[index] {
        Resolved::Referencing {
            parent_cols,
            target_cols,
        }
        | Resolved::Referenced {
            parent_cols,
            target_cols,
        } => (parent_cols.clone(), target_cols.clone()),
        Resolved::Secondary { .. } => return Ok(None),
    };
    let on = mapper.join_on(&pcols, target, &tcols)?;
    let stmt = base
        .clone()
        .add_columns(target.table())
        .outerjoin(target.table(), on)
        .map_err(Error::from)?;
    Ok(Some((stmt, mapper.column_names().len())))
}

/// Runs the joined statement `sql` (the parent's `ncols` columns, then the target's) and splits
/// its rows into parents (de-duplicated, in order of first appearance) and their related
/// objects, a flat chunk at a time: both sides go through the identity map straight from the
/// chunk (no value vector per row).
fn load_joined<T: Model>(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    index: usize,
    ncols: usize,
    sql: &Select,
) -> Result<Vec<crate::Obj<T>>> {
    let mapper = T::mapper();
    let rel = &mapper.relationships()[index];
    let target = rel.target.mapper();
    let (load, tpk) = (rel.target.load, target.primary_key());
    let want = ncols + target.column_names().len();
    let mut parents: Vec<crate::Obj<T>> = Vec::new();
    let mut related: Vec<Related> = Vec::new();
    // Distinct parents by instance address (the identity map gives one instance per key; each
    // is kept alive by `parents`), and (parent slot, child address) pairs already collected.
    let mut slot_of: FxHashMap<usize, usize> = FxHashMap::default();
    let mut collected: rustc_hash::FxHashSet<(usize, usize)> = Default::default();
    let mut row_parents: Vec<crate::Obj<T>> = Vec::new();
    let mut child_slots: Vec<usize> = Vec::new();
    let mut children: Related = Vec::new();
    let check = |width: usize| {
        if width == want {
            Ok(())
        } else {
            Err(Error::internal(format!(
                "a joined load of {}.{} returned {width} columns, not {want}",
                mapper.name(),
                rel.name
            )))
        }
    };
    core.execute_chunks(sql, check, |identity, chunk, width| {
        row_parents.clear();
        crate::session::load_into(
            identity,
            shared,
            chunk.chunks_exact_mut(width).map(|r| &mut r[..ncols]),
            &mut row_parents,
        )?;
        child_slots.clear();
        let mut present: Vec<&mut [Value]> = Vec::new();
        let mut last: Option<(usize, usize)> = None;
        for (row, p) in chunk.chunks_exact_mut(width).zip(row_parents.drain(..)) {
            let addr = Arc::as_ptr(&p.inner) as *const () as usize;
            let slot = match last {
                Some((a, slot)) if a == addr => slot,
                _ => *slot_of.entry(addr).or_insert_with(|| {
                    parents.push(p);
                    related.push(Vec::new());
                    parents.len() - 1
                }),
            };
            last = Some((addr, slot));
            let child = &mut row[ncols..];
            if tpk
                .iter()
                .all(|&c| child.get(c).is_some_and(|v| !v.is_null()))
            {
                present.push(child);
                child_slots.push(slot);
            }
        }
        if present.is_empty() {
            return Ok(());
        }
        children.clear();
        load(identity, shared, &mut present.into_iter(), &mut children)?;
        for (&slot, c) in child_slots.iter().zip(children.drain(..)) {
            if collected.insert((slot, Arc::as_ptr(&c) as *const () as usize)) {
                if let Some(items) = related.get_mut(slot) {
                    items.push(c);
                }
            }
        }
        Ok(())
    })?;
    for (p, items) in parents.iter().zip(related) {
        let any: &dyn AnyInstance = &*p.inner;
        any.relation_fill(index, items)?;
    }
    Ok(parents)
}

/// Runs the loader options on `parents` (of `mapper`), then the eager defaults
/// (`lazy = "selectin"` / `"joined"`) of relationships the options don't mention, following
/// eager defaults of the loaded targets up to three levels.
pub(crate) fn apply_loaders(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    mapper: &Mapper,
    parents: &Related,
    options: &[crate::query::LoadPath],
) -> Result<()> {
    if parents.is_empty() {
        return Ok(());
    }
    for path in options {
        let mut current = parents.clone();
        let mut current_mapper = mapper;
        for (depth, step) in path.steps.iter().enumerate() {
            if current.is_empty() {
                break;
            }
            let step_mapper = step.parent.mapper();
            if !std::ptr::eq(step_mapper, current_mapper) {
                return Err(Error::invalid_request(format!(
                    "loader option path does not start at {}",
                    current_mapper.name()
                )));
            }
            let rel = &step_mapper.relationships()[step.index];
            match step.strategy {
                Lazy::Selectin | Lazy::Joined => {
                    selectin_load(core, shared, step_mapper, step.index, &current)?;
                    if depth + 1 == path.steps.len() {
                        break;
                    }
                    // The next step starts from every loaded target, including ones an earlier
                    // (joined) load already put there.
                    current = loaded_targets(&current, step.index)?;
                    current_mapper = rel.target.mapper();
                }
                _ => break,
            }
        }
    }
    eager_defaults(core, shared, mapper, parents, options, 3)
}

fn eager_defaults(
    core: &mut SessionCore,
    shared: &Arc<SessionShared>,
    mapper: &Mapper,
    parents: &Related,
    options: &[crate::query::LoadPath],
    depth: usize,
) -> Result<()> {
    if depth == 0 || parents.is_empty() {
        return Ok(());
    }
    for (i, rel) in mapper.relationships().iter().enumerate() {
        if !matches!(rel.lazy, Lazy::Selectin | Lazy::Joined) || overridden(options, i) {
            continue;
        }
        selectin_load(core, shared, mapper, i, parents)?;
        let loaded = loaded_targets(parents, i)?;
        let target = rel.target.mapper();
        if !std::ptr::eq(target, mapper) {
            eager_defaults(core, shared, target, &loaded, &[], depth - 1)?;
        }
    }
    Ok(())
}

/// Every object loaded in relationship `index` of `parents`, each once.
fn loaded_targets(parents: &Related, index: usize) -> Result<Related> {
    let mut seen = rustc_hash::FxHashSet::default();
    let mut out = Vec::new();
    for p in parents {
        for t in p.relation_loaded_items(index)?.unwrap_or_default() {
            if seen.insert(Arc::as_ptr(&t) as *const () as usize) {
                out.push(t);
            }
        }
    }
    Ok(out)
}
