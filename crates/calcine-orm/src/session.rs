//! [`Session`]: the unit of work and identity map (SQLAlchemy `orm/session.py`), and
//! [`SessionMaker`] (`sessionmaker`).

use std::any::TypeId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use calcine_engine::{Connection, DetachedTransaction, Engine, Error, Result, Row};
use calcine_sql::{Executable, FromValue, Value};

use crate::query::ModelSelect;

use crate::instance::{AnyInstance, Instance, InstanceState, Obj, Status, downcast, lock_state};
use crate::key::Key;
use crate::model::Model;
use crate::unit_of_work;

/// The ORM's handle on a database conversation (SQLAlchemy's `Session`).
///
/// * **Identity map**: one instance per primary key; [`get`](Session::get) twice returns the
///   same [`Obj`], and a change through one handle is seen through all.
/// * **Unit of work**: [`add`](Session::add) makes objects pending, [`Obj::write`] marks them
///   modified, [`delete`](Session::delete) marks them deleted; [`flush`](Session::flush) writes
///   it all in foreign-key order (parents inserted first, children deleted first), UPDATEs only
///   the columns that changed, and checks each UPDATE/DELETE hit its row (`StaleData`).
/// * **Transactions**: the session checks a connection out on first use and begins a
///   transaction (autobegin); [`commit`](Session::commit) flushes, commits, returns the
///   connection and, with `expire_on_commit` (default), expires every instance so the next read
///   reloads; [`rollback`](Session::rollback) undoes the transaction and the in-memory changes.
///   After a failed flush the session refuses work with `PendingRollback` until `rollback()`.
///
/// `Send` but not `Sync`; `&mut self` everywhere concurrent use would be a bug. In async code
/// use `AsyncSession::run_sync`, which hands this very session to synchronous code.
///
/// # Example
/// ```
/// # use calcine_orm::{Col, Mapper, Model, Session};
/// # use calcine_sql::{Column, SqlType, Table, Value, ValueError};
/// # #[derive(Debug)] struct User { id: Option<i64>, name: String }
/// # impl Model for User {
/// #     fn mapper() -> &'static Mapper {
/// #         static M: std::sync::OnceLock<Mapper> = std::sync::OnceLock::new();
/// #         M.get_or_init(|| Mapper::new("User", Table::new("users")
/// #             .column(Column::new("id", SqlType::Integer).primary_key())
/// #             .column(Column::new("name", SqlType::Text).not_null())).unwrap())
/// #     }
/// #     fn column_value(&self, i: usize) -> Value {
/// #         match i { 0 => self.id.into(), _ => self.name.clone().into() }
/// #     }
/// #     fn set_column_value(&mut self, i: usize, v: Value) -> Result<(), ValueError> {
/// #         use calcine_sql::FromValue;
/// #         match i { 0 => self.id = FromValue::from_value(v)?, _ => self.name = FromValue::from_value(v)? }
/// #         Ok(())
/// #     }
/// #     fn from_values(v: &mut [Value]) -> Result<Self, (usize, ValueError)> {
/// #         use calcine_sql::FromValue;
/// #         Ok(User { id: FromValue::from_value(std::mem::take(&mut v[0])).map_err(|e| (0, e))?,
/// #                   name: FromValue::from_value(std::mem::take(&mut v[1])).map_err(|e| (1, e))? })
/// #     }
/// # }
/// let engine = calcine_engine::create_engine("sqlite://")?;
/// calcine_orm::create_all(&engine, &[User::mapper()])?;
///
/// let mut session = Session::new(&engine);
/// let ann = session.add(User { id: None, name: "ann".into() });
/// session.commit()?;
/// let id = ann.read()?.id.unwrap(); // expired by commit: this read reloads
///
/// let again = session.get::<User>(id)?.unwrap();
/// assert!(again == ann); // the identity map hands out the same instance
/// again.write()?.name = "anne".into(); // marked modified
/// session.commit()?; // UPDATE users SET name = ? WHERE id = ?
/// # Ok::<(), calcine_engine::Error>(())
/// ```
pub struct Session {
    shared: Arc<SessionShared>,
}

pub(crate) struct SessionShared {
    core: Mutex<SessionCore>,
    dirty: Mutex<Vec<Arc<dyn AnyInstance>>>,
    /// Whether `dirty` may hold something: set under its lock by `mark_dirty`, cleared by
    /// `take_dirty`, read without the lock (an operation that finds nothing to flush takes no
    /// lock on the list: each lock is two atomic read-modify-writes).
    maybe_dirty: AtomicBool,
    is_async: AtomicBool,
}

pub(crate) struct SessionCore {
    pub(crate) engine: Engine,
    pub(crate) conn: Option<Connection>,
    /// Bound to a connection the caller owns (joined its transaction): never released.
    pub(crate) external: bool,
    /// The external connection was already in a transaction when bound: never committed here.
    pub(crate) joined_outer: bool,
    pub(crate) identity: crate::identity_map::IdentityMap,
    pub(crate) new: Vec<Arc<dyn AnyInstance>>,
    pub(crate) deleted: Vec<Arc<dyn AnyInstance>>,
    pub(crate) tx_inserted: Vec<Arc<dyn AnyInstance>>,
    pub(crate) tx_deleted: Vec<Arc<dyn AnyInstance>>,
    pub(crate) autoflush: bool,
    pub(crate) no_autoflush: u32,
    pub(crate) expire_on_commit: bool,
    pub(crate) pending_rollback: Option<String>,
    /// The connection (and its transaction) is lent to a streaming result
    /// ([`Session::begin_stream`]) until [`Session::end_stream`] gives it back.
    pub(crate) lent: bool,
}

/// Options for new sessions (SQLAlchemy's `sessionmaker`): a factory that remembers the bind
/// and the options.
#[derive(Clone, Debug)]
pub struct SessionMaker {
    engine: Engine,
    autoflush: bool,
    expire_on_commit: bool,
}

impl SessionMaker {
    /// A factory for sessions on `engine`, with SQLAlchemy's defaults (`autoflush = true`,
    /// `expire_on_commit = true`).
    pub fn new(engine: &Engine) -> Self {
        SessionMaker {
            engine: engine.clone(),
            autoflush: true,
            expire_on_commit: true,
        }
    }

    /// Whether queries flush pending changes first (default `true`).
    pub fn autoflush(mut self, on: bool) -> Self {
        self.autoflush = on;
        self
    }

    /// Whether `commit()` expires every instance (default `true`).
    pub fn expire_on_commit(mut self, on: bool) -> Self {
        self.expire_on_commit = on;
        self
    }

    /// A new session with these options.
    pub fn session(&self) -> Session {
        let s = Session::new(&self.engine);
        {
            let mut core = s.core();
            core.autoflush = self.autoflush;
            core.expire_on_commit = self.expire_on_commit;
        }
        s
    }

    /// Runs `f` with a new session in a transaction: commits if `f` returns `Ok`, rolls back
    /// otherwise, closes the session either way (`with sessionmaker.begin() as session:`).
    ///
    /// # Errors
    /// `f`'s error, or the commit's.
    pub fn begin<R>(&self, f: impl FnOnce(&mut Session) -> Result<R>) -> Result<R> {
        let mut session = self.session();
        let out = f(&mut session);
        let out = match out {
            Ok(v) => session.commit().map(|()| v),
            Err(e) => Err(e),
        };
        if out.is_err() {
            // The original error matters more than a failed rollback.
            let _ = session.rollback();
        }
        session.close();
        out
    }

    /// The engine sessions are bound to.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl SessionShared {
    pub(crate) fn mark_dirty(&self, inst: Arc<dyn AnyInstance>) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        dirty.push(inst);
        self.maybe_dirty.store(true, Ordering::Release);
    }

    fn io_guard(&self) -> Result<()> {
        if self.is_async.load(Ordering::Relaxed) && !calcine_greenlet::in_greenlet() {
            return Err(Error::missing_greenlet());
        }
        Ok(())
    }

    fn core(&self) -> MutexGuard<'_, SessionCore> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`io_guard`](Self::io_guard) for implicit IO on behalf of attribute `attr`.
    pub(crate) fn io_guard_for(&self, attr: &str) -> Result<()> {
        self.io_guard().map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "{} (lazy load of '{attr}'; load it inside run_sync, with an eager option, \
                     or through an awaitable attribute)",
                    e.message()
                ),
            )
        })
    }

    /// Loads relationship `index` of `parent` (the lazy load).
    pub(crate) fn load_relationship(
        self: &Arc<Self>,
        parent: &Arc<dyn AnyInstance>,
        index: usize,
        key: Option<Key>,
        target_key: Option<Key>,
    ) -> Result<crate::relationship::Related> {
        let mut core = self.core();
        core.check_active()?;
        core.load_related(self, parent, index, key, target_key)
    }

    /// Reloads an expired instance (called from `Obj::read`/`write`).
    pub(crate) fn refresh_expired(&self, inst: &Arc<dyn AnyInstance>) -> Result<()> {
        self.io_guard().map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "{} (loading expired attributes of {}; access them inside run_sync, or use \
                     expire_on_commit=false)",
                    e.message(),
                    inst.describe()
                ),
            )
        })?;
        let mut core = self.core();
        core.check_active()?;
        core.refresh_instance(inst)
    }

    fn take_dirty(&self) -> Vec<Arc<dyn AnyInstance>> {
        if !self.maybe_dirty.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut dirty = self.dirty.lock().unwrap_or_else(|e| e.into_inner());
        self.maybe_dirty.store(false, Ordering::Release);
        std::mem::take(&mut *dirty)
    }

    /// Whether objects were written since the last flush took the list.
    fn has_dirty(&self) -> bool {
        self.maybe_dirty.load(Ordering::Acquire)
            && !self
                .dirty
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }
}

impl SessionCore {
    pub(crate) fn check_active(&self) -> Result<()> {
        match &self.pending_rollback {
            Some(original) => Err(Error::pending_rollback(format!(
                "This Session's transaction has been rolled back due to a previous exception \
                 during flush. To begin a new transaction with this Session, first issue \
                 Session.rollback(). Original exception was: {original}"
            ))),
            None => Ok(()),
        }
    }

    /// Whether the flush of a `commit()` may commit with its last statement: only when that
    /// saves something (a round trip: PostgreSQL, not SQLite) and the transaction is the
    /// session's own root transaction. Not on a caller's connection
    /// (`with_connection`, whose outer transaction, if any, the session must not end), and not
    /// inside a SAVEPOINT (`begin_nested`).
    pub(crate) fn may_commit_in_flush(&self) -> bool {
        self.engine.pipelines_commit()
            && !self.external
            && !self.joined_outer
            && self
                .conn
                .as_ref()
                .is_none_or(|c| !c.in_nested_transaction() && !c.invalidated())
    }

    /// The session's side of a successful commit: the connection goes back to the pool (kept
    /// when it is the caller's), objects deleted in the transaction are detached, objects
    /// inserted in it stay persistent for good, and with `expire_on_commit` every instance is
    /// expired.
    fn committed(&mut self) {
        if !self.external {
            self.conn = None;
        }
        for inst in std::mem::take(&mut self.tx_deleted) {
            let mut st = inst.state();
            st.status = Status::Detached;
            st.session = Weak::new();
        }
        self.tx_inserted.clear();
        if self.expire_on_commit {
            self.expire_all();
        }
    }

    pub(crate) fn connection(&mut self) -> Result<&mut Connection> {
        if self.conn.is_none() {
            if self.lent {
                // Another connection would run outside the session's transaction: it would not
                // see what the session flushed, and the transaction would be split in two.
                return Err(Error::invalid_request(
                    "the session's connection is busy streaming results (for_each_partition, \
                     stream_scalars, stream): implicit IO such as a lazy load or a reload of \
                     expired attributes cannot run until the stream is done and the session is \
                     used again; load relationships eagerly (selectinload) or collect the \
                     stream first",
                ));
            }
            self.conn = Some(self.engine.connect()?);
        }
        match self.conn.as_mut() {
            Some(c) => Ok(c),
            None => Err(Error::invalid_request("the session has no connection")),
        }
    }

    pub(crate) fn execute_rows<S: Executable + ?Sized>(&mut self, stmt: &S) -> Result<Vec<Row>> {
        self.connection()?.execute(stmt)?.all()
    }

    pub(crate) fn lookup(&self, ty: TypeId, key: &Key) -> Option<Arc<dyn AnyInstance>> {
        self.identity.get(ty, key)
    }

    /// Rollback of deletes: the objects are persistent again and back in the identity map.
    fn restore_deleted(&mut self, deleted: Vec<Arc<dyn AnyInstance>>) {
        for inst in deleted {
            let key = {
                let mut st = inst.state();
                st.status = Status::Persistent;
                st.delete_pending = false;
                st.key.clone()
            };
            if let Some(key) = key {
                self.register(key, &inst);
            }
        }
    }

    pub(crate) fn register(&mut self, key: Key, inst: &Arc<dyn AnyInstance>) {
        self.identity.insert(inst.model_type(), key, inst);
    }

    fn unregister(&mut self, inst: &Arc<dyn AnyInstance>) {
        let key = inst.state().key.clone();
        if let Some(key) = key {
            self.identity.remove_instance(inst.model_type(), &key, inst);
        }
    }

    fn live_instances(&self) -> Vec<Arc<dyn AnyInstance>> {
        self.identity.live()
    }

    pub(crate) fn expire_all(&mut self) {
        for inst in self.live_instances() {
            {
                let mut st = inst.state();
                if st.status != Status::Persistent {
                    continue;
                }
                inst.set_expired(true);
                st.committed = None;
            }
            for i in 0..inst.mapper().relationships().len() {
                let _ = inst.with_relation(i, &mut |r| r.expire());
            }
        }
    }

    fn refresh_instance(&mut self, inst: &Arc<dyn AnyInstance>) -> Result<()> {
        let key = inst.state().key.clone();
        let Some(key) = key else {
            return Err(Error::invalid_request(format!(
                "Instance {} is not persistent within this Session",
                inst.describe()
            )));
        };
        let mapper = inst.mapper();
        let stmt = unit_of_work::select_by_key(mapper, &key)?;
        let mut rows = self.execute_rows(&stmt)?;
        let Some(row) = rows.pop() else {
            return Err(Error::object_deleted(format!(
                "Instance {} has been deleted, or its row is otherwise not present.",
                inst.describe()
            )));
        };
        let mut values = row.into_values();
        let tkeys = TargetKeys::of(inst.mapper())?.read(&values);
        reload(inst, &mut values, tkeys)
    }

    fn has_changes(&self, shared: &SessionShared) -> bool {
        !self.new.is_empty() || !self.deleted.is_empty() || shared.has_dirty()
    }

    /// Flushes (and with `commit`, may commit with the flush's last statement: see
    /// [`Session::commit`]) under the caller's lock on the session's state.
    fn flush_locked(&mut self, shared: &Arc<SessionShared>, commit: bool) -> Result<()> {
        self.check_active()?;
        if !self.has_changes(shared) {
            return Ok(());
        }
        shared.io_guard()?;
        let dirty = shared.take_dirty();
        let commit = commit && self.may_commit_in_flush();
        unit_of_work::flush(self, shared, dirty, commit)
    }

    /// [`Session::expunge_all`] under the caller's lock.
    fn expunge_all(&mut self) {
        let detach = |inst: &Arc<dyn AnyInstance>| detach_state(&mut inst.state());
        self.identity.drain_live(detach);
        self.new.iter().chain(self.deleted.iter()).for_each(detach);
        self.new.clear();
        self.deleted.clear();
    }

    /// The autoflush before a query, unless suppressed.
    fn autoflush_locked(&mut self, shared: &Arc<SessionShared>) -> Result<()> {
        if self.autoflush && self.no_autoflush == 0 {
            self.flush_locked(shared, false)
        } else {
            Ok(())
        }
    }

    /// Runs `stmt` and hands its rows to `each` a chunk at a time: one flat buffer of values
    /// (`width` per row, the statement's column count), reused from chunk to chunk, so no
    /// allocation per row. Each chunk is turned into objects while its values are still in the
    /// CPU cache (fetching everything first and mapping afterwards costs cache misses on large
    /// results). `each` may move values out of the buffer. `check` sees the width first, before
    /// any row (an error there fails a statement of the wrong shape even when it has no rows).
    pub(crate) fn execute_chunks<S: Executable + ?Sized>(
        &mut self,
        stmt: &S,
        check: impl FnOnce(usize) -> Result<()>,
        mut each: impl FnMut(&mut crate::identity_map::IdentityMap, &mut [Value], usize) -> Result<()>,
    ) -> Result<()> {
        const CHUNK: usize = 512;
        self.connection()?;
        let SessionCore {
            conn: Some(conn),
            identity,
            ..
        } = self
        else {
            return Err(Error::invalid_request("the session has no connection"));
        };
        let mut result = conn.execute(stmt)?;
        let width = result.columns().len();
        check(width)?;
        loop {
            let chunk = result.next_chunk(CHUNK)?;
            if chunk.is_empty() {
                return Ok(());
            }
            each(identity, chunk, width)?;
        }
    }

    /// Runs `stmt` (selecting `T`'s columns in table order) and loads its rows as instances of
    /// `T`, a chunk at a time ([`execute_chunks`](Self::execute_chunks)).
    pub(crate) fn execute_load<T: Model, S: Executable + ?Sized>(
        &mut self,
        shared: &Arc<SessionShared>,
        stmt: &S,
    ) -> Result<Vec<Obj<T>>> {
        let mut out = Vec::new();
        self.execute_chunks(stmt, check_width::<T>, |identity, chunk, width| {
            load_into(identity, shared, chunk.chunks_exact_mut(width), &mut out)
        })?;
        Ok(out)
    }
}

/// An error unless a statement loading `T` returns `width` columns, `T`'s in table order.
fn check_width<T: Model>(width: usize) -> Result<()> {
    check_columns(T::mapper(), width)
}

/// An error unless a statement loading `mapper`'s model returns `width` columns, the model's
/// in table order.
#[cold]
pub(crate) fn check_columns(mapper: &crate::model::Mapper, width: usize) -> Result<()> {
    let ncols = mapper.column_names().len();
    if width == ncols && ncols > 0 {
        return Ok(());
    }
    Err(Error::invalid_request(format!(
        "a statement loading {} must select its {} columns in table order (use \
         calcine_orm::select::<{}>()); this one returned {}",
        mapper.name(),
        ncols,
        mapper.name(),
        width
    )))
}

/// Maps result rows to instances of `T` through the identity map, appending them to `out`.
/// The values are moved out of the rows.
pub(crate) fn load_into<'v, T: Model>(
    identity: &mut crate::identity_map::IdentityMap,
    shared: &Arc<SessionShared>,
    rows: impl ExactSizeIterator<Item = &'v mut [Value]>,
    out: &mut Vec<Obj<T>>,
) -> Result<()> {
    let mapper = T::mapper();
    let width = mapper.column_names().len();
    out.reserve(rows.len());
    let mut entries = identity.batch(TypeId::of::<T>(), rows.len());
    let session = Arc::downgrade(shared);
    let target_keys = TargetKeys::of(mapper)?;
    for values in rows {
        if values.len() != width {
            return check_width::<T>(values.len());
        }
        let Some(key) = Key::from_columns(values, mapper.primary_key()) else {
            return Err(Error::invalid_request(format!(
                "a row for {} has a NULL primary key",
                mapper.name()
            )));
        };
        let tkeys = target_keys.read(values);
        // A new instance's typed handle comes out here; an existing one is downcast from the
        // identity map's erased handle.
        let mut created: Option<Obj<T>> = None;
        let existing = entries.get_or_insert_with(key, |key| -> Result<_> {
            let value = T::from_values(values).map_err(|(i, e)| {
                Error::decode(
                    format!("{}.{}", mapper.name(), crate::instance::column_name::<T>(i)),
                    e,
                )
            })?;
            let obj = new_instance(
                value,
                Status::Persistent,
                Some(key.clone()),
                session.clone(),
            );
            let weak: Weak<Instance<T>> = Arc::downgrade(&obj.inner);
            created = Some(obj);
            Ok(weak as Weak<dyn AnyInstance>)
        })?;
        match (existing, created) {
            (None, Some(obj)) => {
                if !tkeys.is_empty() {
                    set_target_keys(&obj.as_any(), tkeys)?;
                }
                out.push(obj);
            }
            (Some(inst), _) => {
                // Still the row's values: only a new instance moves them out.
                if inst.expired() {
                    reload(&inst, values, tkeys)?;
                }
                match downcast::<T>(inst) {
                    Some(obj) => out.push(obj),
                    None => {
                        return Err(Error::internal(
                            "the identity map holds an instance of another model under this one",
                        ));
                    }
                }
            }
            (None, None) => {
                return Err(Error::internal(
                    "the identity map neither found nor made an instance",
                ));
            }
        }
    }
    Ok(())
}

/// An object leaving its session: detached if it has an identity, else transient.
fn detach_state(st: &mut InstanceState) {
    st.status = if st.key.is_some() {
        Status::Detached
    } else {
        Status::Transient
    };
    st.delete_pending = false;
    st.session = Weak::new();
}

/// Puts freshly read column `values` (and many-to-one target keys) into `inst`, which stops
/// being expired and has no snapshot any more.
fn reload(
    inst: &Arc<dyn AnyInstance>,
    values: &mut [Value],
    tkeys: Vec<(usize, Option<Key>)>,
) -> Result<()> {
    let pairs: Vec<(usize, Value)> = values.iter_mut().map(std::mem::take).enumerate().collect();
    inst.try_set_values(&pairs)?;
    set_target_keys(inst, tkeys)?;
    let mut st = inst.state();
    inst.set_expired(false);
    st.committed = None;
    Ok(())
}

/// A new instance of `value` in the session behind `session` (a weak handle the caller may
/// clone for a batch: cloning a `Weak` is one increment, `Arc::downgrade` a compare-and-swap
/// loop).
fn new_instance<T: Model>(
    value: T,
    status: Status,
    key: Option<Key>,
    session: Weak<SessionShared>,
) -> Obj<T> {
    // The relationship fields point back at their instance, so they can load through its
    // session: linked while the value is still owned here (no lock on the instance, no
    // type-erased call per field).
    let instance = |value, changed| Instance {
        data: std::sync::RwLock::new(value),
        state: Mutex::new(InstanceState {
            status,
            key,
            committed: None,
            delete_pending: false,
            session,
        }),
        relations_changed: std::sync::atomic::AtomicBool::new(changed),
        expired: std::sync::atomic::AtomicBool::new(false),
    };
    let inner = Arc::new_cyclic(|me: &Weak<Instance<T>>| {
        let mut value = value;
        let mut changed = false;
        for index in 0..T::relationships().len() {
            // One weak count per field (a shared erased handle cloned per field would take
            // one more, and give it back, per object).
            let link = |me: &Weak<Instance<T>>| crate::relationship::ParentLink {
                parent: me.clone() as Weak<dyn AnyInstance>,
                index,
            };
            // The value is still owned here: its fields' locks need not be taken.
            if let Some(r) = value.relation_mut(index) {
                changed |= r.0.attach_mut(link(me));
            } else if let Some(r) = value.relation(index) {
                changed |= r.0.attach(link(me));
            }
        }
        instance(value, changed)
    });
    Obj::from_arc(inner)
}

/// Points every relationship field of `inst` at it, so the fields can load through its session.
pub(crate) fn attach_relations(inst: &Arc<dyn AnyInstance>) {
    for index in 0..inst.mapper().relationships().len() {
        let link = crate::relationship::ParentLink {
            parent: Arc::downgrade(inst),
            index,
        };
        // Freshly created or just attached: nothing else holds a guard on it.
        let _ = inst.with_relation(index, &mut |r| {
            if r.attach(link.clone()) {
                inst.set_relations_changed(true);
            }
        });
    }
}

/// Where a row of a model carries the target keys of its many-to-one relationships: worked
/// out once per load ([`TargetKeys::of`]), read per row ([`TargetKeys::read`]).
pub(crate) struct TargetKeys<'m> {
    /// (relationship index, the row's foreign-key columns) per many-to-one relationship.
    refs: Vec<(usize, &'m [usize])>,
}

impl<'m> TargetKeys<'m> {
    /// The many-to-one relationships of `mapper`.
    ///
    /// # Errors
    /// A relationship of `mapper` does not resolve.
    pub(crate) fn of(mapper: &'m crate::Mapper) -> Result<Self> {
        let mut refs = Vec::new();
        if !mapper.relationships().is_empty() {
            for (i, r) in mapper.resolved()?.iter().enumerate() {
                if let crate::loading::Resolved::Referenced { parent_cols, .. } = r {
                    refs.push((i, parent_cols.as_slice()));
                }
            }
        }
        Ok(TargetKeys { refs })
    }

    /// The target key of each many-to-one relationship in the row `values` (`None` where a
    /// foreign-key column is NULL). No allocation without many-to-one relationships.
    pub(crate) fn read(&self, values: &[Value]) -> Vec<(usize, Option<Key>)> {
        if self.refs.is_empty() {
            // Most models: nothing to read, and no collect to set up per row.
            return Vec::new();
        }
        self.refs
            .iter()
            .map(|&(i, cols)| (i, Key::from_columns(values, cols)))
            .collect()
    }
}

pub(crate) fn set_target_keys(
    inst: &Arc<dyn AnyInstance>,
    keys: Vec<(usize, Option<Key>)>,
) -> Result<()> {
    for (i, k) in keys {
        let mut k = Some(k);
        inst.with_relation(i, &mut |r| {
            if let Some(k) = k.take() {
                r.set_target_key(k);
            }
        })?;
    }
    Ok(())
}

impl Session {
    /// A session on `engine` with SQLAlchemy's defaults (see [`SessionMaker`] for options).
    pub fn new(engine: &Engine) -> Session {
        Session::from_parts(engine.clone(), None, false)
    }

    /// A session that uses `conn`, the caller's connection (SQLAlchemy's "join an external
    /// transaction" pattern): if `conn` is already in a transaction, `commit()` flushes but
    /// leaves that outer transaction open for its owner to commit or roll back. Get the
    /// connection back with [`into_connection`](Session::into_connection).
    pub fn with_connection(conn: Connection) -> Session {
        let engine = conn.engine().clone();
        let joined = conn.in_transaction();
        let s = Session::from_parts(engine, Some(conn), true);
        s.core().joined_outer = joined;
        s
    }

    fn from_parts(engine: Engine, conn: Option<Connection>, external: bool) -> Session {
        Session {
            shared: Arc::new(SessionShared {
                core: Mutex::new(SessionCore {
                    engine,
                    conn,
                    external,
                    joined_outer: false,
                    identity: crate::identity_map::IdentityMap::for_new_session(),
                    new: Vec::new(),
                    deleted: Vec::new(),
                    tx_inserted: Vec::new(),
                    tx_deleted: Vec::new(),
                    autoflush: true,
                    no_autoflush: 0,
                    expire_on_commit: true,
                    pending_rollback: None,
                    lent: false,
                }),
                dirty: Mutex::new(Vec::new()),
                maybe_dirty: AtomicBool::new(false),
                is_async: AtomicBool::new(false),
            }),
        }
    }

    fn core(&self) -> MutexGuard<'_, SessionCore> {
        self.shared.core()
    }

    /// Marks this session as owned by async code: implicit IO (reloading expired attributes,
    /// lazy loads) outside a greenlet then fails with `MissingGreenlet` instead of blocking.
    #[doc(hidden)]
    pub fn set_async(&mut self, on: bool) {
        self.shared.is_async.store(on, Ordering::Relaxed);
    }

    /// Hands the session's connection (in its transaction) to a streaming result, after an
    /// autoflush. Give it back with [`end_stream`](Session::end_stream); meanwhile implicit IO
    /// through the session's objects (lazy loads, reloads) is refused with `InvalidRequest`
    /// instead of running on another connection, outside the session's transaction.
    ///
    /// # Errors
    /// As [`execute`](Session::execute).
    #[doc(hidden)]
    pub fn begin_stream(&mut self) -> Result<Connection> {
        let mut core = self.query_core()?;
        core.connection()?;
        let conn = core
            .conn
            .take()
            .ok_or_else(|| Error::invalid_request("the session has no connection"))?;
        core.lent = true;
        Ok(conn)
    }

    /// Takes back the connection lent by [`begin_stream`](Session::begin_stream). While it was
    /// lent, implicit IO was refused, so the session has no other connection: this one, with
    /// the session's transaction and everything it flushed, is the session's again.
    #[doc(hidden)]
    pub fn end_stream(&mut self, conn: Connection) {
        let mut core = self.core();
        core.lent = false;
        // Nothing can have checked out another one meanwhile (see `connection`); if something
        // did, the lent connection carries the transaction, so it wins.
        core.conn = Some(conn);
    }

    /// Whether the session holds a checked-out connection right now.
    pub fn has_connection(&self) -> bool {
        self.core().conn.is_some()
    }

    /// Whether the session is bound to a caller's connection
    /// ([`with_connection`](Session::with_connection)) rather than checking connections out of
    /// its engine's pool.
    pub fn is_connection_bound(&self) -> bool {
        self.core().external
    }

    /// Whether [`close`](Session::close) would do bridged IO (must run inside a greenlet): only
    /// when bound to a caller's connection with a transaction of ours open on a bridged driver
    /// (PostgreSQL), where it rolls back on that connection. An engine-bound session hands its
    /// connection back to the pool, whose reset never waits.
    pub fn close_needs_io(&self) -> bool {
        let core = self.core();
        core.external
            && !core.joined_outer
            && core.engine.is_bridged()
            && core.conn.as_ref().is_some_and(Connection::in_transaction)
    }

    /// The engine this session checks connections out of.
    pub fn engine(&self) -> Engine {
        self.core().engine.clone()
    }

    /// Sets `autoflush` (queries flush pending changes first).
    pub fn set_autoflush(&mut self, on: bool) {
        self.core().autoflush = on;
    }

    /// Sets `expire_on_commit`.
    pub fn set_expire_on_commit(&mut self, on: bool) {
        self.core().expire_on_commit = on;
    }

    /// Adds a new object: it becomes pending and is INSERTed by the next flush. Returns its
    /// handle (SQLAlchemy's `session.add(obj)`).
    pub fn add<T: Model>(&mut self, value: T) -> Obj<T> {
        self.add_pending(value, Arc::downgrade(&self.shared))
    }

    /// [`add`](Session::add) with the weak handle on the session the object keeps (a batch
    /// clones one: a clone is one increment, `Arc::downgrade` a compare-and-swap loop).
    fn add_pending<T: Model>(&mut self, value: T, session: Weak<SessionShared>) -> Obj<T> {
        let obj = new_instance(value, Status::Pending, None, session);
        self.core().new.push(obj.as_any());
        obj
    }

    /// Adds several new objects (`session.add_all`).
    pub fn add_all<T: Model>(&mut self, values: impl IntoIterator<Item = T>) -> Vec<Obj<T>> {
        let session = Arc::downgrade(&self.shared);
        let objs: Vec<Obj<T>> = values
            .into_iter()
            .map(|v| new_instance(v, Status::Pending, None, session.clone()))
            .collect();
        // One lock for the batch.
        self.core().new.extend(objs.iter().map(Obj::as_any));
        objs
    }

    /// Attaches an existing handle: a transient object becomes pending; a detached one becomes
    /// persistent in this session again (its changes since then are flushed as an UPDATE).
    ///
    /// # Errors
    /// The object belongs to another live session, or another instance with its key is
    /// already in this one.
    pub fn add_obj<T: Model>(&mut self, obj: &Obj<T>) -> Result<()> {
        let any = obj.as_any();
        let mut core = self.core();
        let mut st = any.state();
        if let Some(other) = st.session.upgrade() {
            if !Arc::ptr_eq(&other, &self.shared) {
                return Err(Error::invalid_request(format!(
                    "Object {} is already attached to another session",
                    describe_locked::<T>(&st)
                )));
            }
            return Ok(());
        }
        st.session = Arc::downgrade(&self.shared);
        match (st.status, st.key.clone()) {
            (Status::Detached, Some(key)) => {
                if core.lookup(TypeId::of::<T>(), &key).is_some() {
                    st.session = Weak::new();
                    return Err(Error::invalid_request(format!(
                        "Can't attach instance {}; another instance with key {key} is already \
                         present in this session",
                        describe_locked::<T>(&st)
                    )));
                }
                st.status = Status::Persistent;
                drop(st);
                core.register(key, &any);
            }
            _ => {
                st.status = Status::Pending;
                st.key = None;
                drop(st);
                core.new.push(any);
            }
        }
        Ok(())
    }

    /// The object with primary key `key`, from the identity map without SQL when present, else
    /// loaded (`session.get(User, 1)`); `None` if no such row.
    ///
    /// # Errors
    /// The database's error; `PendingRollback` after a failed flush; `MissingGreenlet` from
    /// async code outside `run_sync`.
    pub fn get<T: Model>(&mut self, key: impl Into<Key>) -> Result<Option<Obj<T>>> {
        let key = key.into();
        let mut core = self.core();
        core.check_active()?;
        if let Some(found) = core.lookup(TypeId::of::<T>(), &key) {
            drop(core);
            let st = found.state();
            let gone = st.status == Status::Deleted;
            drop(st);
            if gone {
                return Ok(None);
            }
            return Ok(downcast::<T>(found));
        }
        self.shared.io_guard()?;
        core.autoflush_locked(&self.shared)?;
        let stmt = unit_of_work::select_by_key(T::mapper(), &key)?;
        let objs = core.execute_load::<T, _>(&self.shared, &stmt)?;
        let any: crate::relationship::Related = objs.iter().map(Obj::as_any).collect();
        crate::loading::apply_loaders(&mut core, &self.shared, T::mapper(), &any, &[])?;
        Ok(objs.into_iter().next())
    }

    /// Like [`get`](Session::get), but a missing row is `NoResultFound`.
    ///
    /// # Errors
    /// As `get`, plus `NoResultFound`.
    pub fn get_one<T: Model>(&mut self, key: impl Into<Key>) -> Result<Obj<T>> {
        let key = key.into();
        let shown = key.to_string();
        self.get::<T>(key)?.ok_or_else(|| {
            Error::no_result_found(format!(
                "No row was found when one was required: {} with primary key {shown}",
                T::mapper().name()
            ))
        })
    }

    /// Runs `stmt` (typically `calcine_orm::select::<T>()...`) and returns the rows as
    /// instances of `T`, through the identity map (`session.scalars(select(User))`).
    ///
    /// # Errors
    /// The database's error, a row that does not fit `T`, or the statement does not select
    /// `T`'s columns in table order.
    pub fn scalars<T: Model>(&mut self, stmt: &ModelSelect<T>) -> Result<Vec<Obj<T>>> {
        let mut core = self.query_core()?;
        crate::loading::run_model_select(&mut core, &self.shared, stmt)
    }

    /// Streams the instances of `T` selected by `stmt`, `n` at a time (SQLAlchemy's
    /// `session.scalars(stmt.execution_options(yield_per=n)).partitions()`): `f` gets each
    /// partition in turn, and only about one partition of rows is in memory at once. The
    /// statement runs in the session's transaction, after an autoflush, on the session's
    /// connection, which stays busy until the last partition: implicit IO through the session's
    /// objects inside `f` (a lazy load, a reload of expired attributes) is refused with
    /// `InvalidRequest`, as with `AsyncSession::stream_scalars`. Load what `f` needs eagerly
    /// with a regular query, or keep the objects and use them afterwards.
    ///
    /// # Errors
    /// As [`scalars`](Session::scalars); `InvalidRequest` for a statement with loader options
    /// or a model with eager (`selectin` / `joined`) relationships, which a stream does not
    /// load; `f`'s error, returned as it is (nothing more is fetched).
    pub fn for_each_partition<T: Model>(
        &mut self,
        stmt: &ModelSelect<T>,
        n: usize,
        mut f: impl FnMut(Vec<Obj<T>>) -> Result<()>,
    ) -> Result<()> {
        if crate::loading::has_loaders(T::mapper(), &stmt.options, None) {
            return Err(Error::invalid_request(format!(
                "a stream of {} loads no relationships: drop the loader options (or the \
                 relationships' eager defaults) and load them with a regular query",
                T::mapper().name()
            )));
        }
        let mut conn = self.begin_stream()?;
        let out = self.stream_partitions(&mut conn, stmt, n.max(1), &mut f);
        self.end_stream(conn);
        out
    }

    /// The loop of [`for_each_partition`](Session::for_each_partition), on the lent `conn`.
    fn stream_partitions<T: Model>(
        &self,
        conn: &mut Connection,
        stmt: &ModelSelect<T>,
        n: usize,
        f: &mut dyn FnMut(Vec<Obj<T>>) -> Result<()>,
    ) -> Result<()> {
        let mut result = conn.execute(stmt)?.yield_per(n);
        let mut chunk = Vec::new();
        loop {
            let objs = self.load_partition::<T>(&mut result, n, &mut chunk)?;
            if objs.is_empty() {
                return Ok(());
            }
            f(objs)?;
        }
    }

    /// The next (at most) `n` instances of `T` from `result`, the rows of a
    /// `select::<T>()`-shaped statement on a connection lent by
    /// [`begin_stream`](Session::begin_stream), through the identity map; fewer only at the
    /// end. `chunk` is a buffer kept from call to call. The session's lock is not held when it
    /// returns (the objects' own IO takes it). What `for_each_partition` and the async
    /// `stream_scalars` load each partition with.
    ///
    /// # Errors
    /// The driver's error, or rows that do not fit `T`.
    #[doc(hidden)]
    pub fn load_partition<T: Model>(
        &self,
        result: &mut calcine_engine::CursorResult<'_>,
        n: usize,
        chunk: &mut Vec<Value>,
    ) -> Result<Vec<Obj<T>>> {
        let width = result.columns().len();
        check_width::<T>(width)?;
        chunk.clear();
        let got = result.fetch_values(n.max(1), chunk)?;
        let mut objs = Vec::with_capacity(got);
        load_into(
            &mut self.core().identity,
            &self.shared,
            chunk.chunks_exact_mut(width),
            &mut objs,
        )?;
        Value::clear_all(chunk);
        Ok(objs)
    }

    /// Runs a Core statement in the session's transaction and returns its rows
    /// (`session.execute(stmt)` for non-ORM statements).
    ///
    /// # Errors
    /// The database's error.
    pub fn execute<S: Executable + ?Sized>(&mut self, stmt: &S) -> Result<Vec<Row>> {
        self.query_core()?.execute_rows(stmt)
    }

    /// The first column of the first row of `stmt` (`session.scalar(stmt)`).
    ///
    /// # Errors
    /// The database's error; `NoResultFound` for no rows; a decode error.
    pub fn scalar<V: FromValue, S: Executable + ?Sized>(&mut self, stmt: &S) -> Result<V> {
        let mut rows = self.execute(stmt)?;
        if rows.is_empty() {
            return Err(Error::no_result_found(
                "No row was found when one was required",
            ));
        }
        rows.swap_remove(0).take(0)
    }

    /// Runs `f` with the session's connection, in the session's transaction
    /// (`session.connection()`).
    ///
    /// # Errors
    /// Checking out the connection failed, or `f`'s error.
    pub fn connection<R>(&mut self, f: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        let mut core = self.ready_core()?;
        f(core.connection()?)
    }

    /// Marks `obj` for deletion at the next flush; a pending object is simply expunged.
    ///
    /// # Errors
    /// The object is not in this session.
    pub fn delete<T: Model>(&mut self, obj: &Obj<T>) -> Result<()> {
        let any = obj.as_any();
        let mut core = self.core();
        let mut st = any.state();
        if !st
            .session
            .upgrade()
            .is_some_and(|s| Arc::ptr_eq(&s, &self.shared))
        {
            return Err(Error::invalid_request(format!(
                "Instance {} is not persisted in this session",
                describe_locked::<T>(&st)
            )));
        }
        match st.status {
            Status::Pending => {
                st.status = Status::Transient;
                st.session = Weak::new();
                drop(st);
                core.new.retain(|i| !Arc::ptr_eq(i, &any));
            }
            Status::Persistent if !st.delete_pending => {
                st.delete_pending = true;
                drop(st);
                core.deleted.push(any);
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes all pending changes to the database in the session's transaction (INSERTs,
    /// UPDATEs of changed columns, DELETEs, in foreign-key order).
    ///
    /// # Errors
    /// The database's error (the session then needs `rollback()`), `StaleData` when an UPDATE
    /// or DELETE matched no row, or an object locked by a live guard.
    pub fn flush(&mut self) -> Result<()> {
        self.flush_then(false)
    }

    /// [`flush`](Session::flush); with `commit` (called from [`commit`](Session::commit)) the
    /// flush may end the session's transaction with its last statement (see
    /// [`SessionCore::may_commit_in_flush`]).
    fn flush_then(&mut self, commit: bool) -> Result<()> {
        self.core().flush_locked(&self.shared, commit)
    }

    /// The session's state, locked once for an operation that may do IO: the transaction
    /// checked, implicit IO allowed here.
    fn ready_core(&self) -> Result<MutexGuard<'_, SessionCore>> {
        let core = self.core();
        core.check_active()?;
        self.shared.io_guard()?;
        Ok(core)
    }

    /// [`ready_core`](Self::ready_core) for a query: the autoflush done too.
    fn query_core(&self) -> Result<MutexGuard<'_, SessionCore>> {
        let mut core = self.ready_core()?;
        core.autoflush_locked(&self.shared)?;
        Ok(core)
    }

    /// Runs `f` with autoflush suppressed (`with session.no_autoflush:`).
    pub fn no_autoflush<R>(&mut self, f: impl FnOnce(&mut Session) -> R) -> R {
        self.core().no_autoflush += 1;
        struct Restore<'a>(&'a SessionShared);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let mut core = self.0.core();
                core.no_autoflush = core.no_autoflush.saturating_sub(1);
            }
        }
        let shared = self.shared.clone();
        let _restore = Restore(&shared);
        f(self)
    }

    /// Flushes, commits the transaction, returns the connection to the pool and (with
    /// `expire_on_commit`) expires every instance.
    ///
    /// When the flush ends with an INSERT after which nothing can fail (no UPDATE or DELETE,
    /// whose row counts are checked, and no association rows follow it), that INSERT carries
    /// the `COMMIT`: on PostgreSQL both go out together, one round trip (with the deferred
    /// `BEGIN`, a unit of work of one INSERT is one round trip). Not on a caller's connection
    /// (`with_connection`) nor inside `begin_nested`.
    ///
    /// # Errors
    /// The flush's or the commit's error. After either, nothing of the transaction is committed
    /// and the session is as after any failed flush: call `rollback()` before using it again
    /// (objects inserted in the transaction become transient, deleted ones persistent).
    pub fn commit(&mut self) -> Result<()> {
        self.flush_then(true)?;
        let mut core = self.core();
        if core.conn.is_some() {
            self.shared.io_guard()?;
        }
        if !core.joined_outer {
            if let Some(conn) = core.conn.as_mut() {
                if conn.in_transaction() {
                    if let Err(e) = conn.commit() {
                        // Nothing of the transaction is committed (PostgreSQL ended it; SQLite
                        // keeps it open on a deferred constraint): the session's objects still
                        // show it as written, so, as after a failed flush, it needs `rollback()`.
                        core.pending_rollback = Some(e.to_string());
                        return Err(e);
                    }
                }
            }
        }
        core.committed();
        Ok(())
    }

    /// Rolls back the transaction and the session's in-memory changes: objects inserted in it
    /// become transient again, deleted ones persistent, and every instance is expired.
    ///
    /// # Errors
    /// The database's rollback error (the session's state is reset regardless).
    pub fn rollback(&mut self) -> Result<()> {
        let dirty = self.shared.take_dirty();
        drop(dirty);
        let mut guard = self.core();
        let core = &mut *guard;
        let mut result = Ok(());
        if let Some(conn) = core.conn.as_mut() {
            if conn.in_transaction() && !core.joined_outer {
                result = conn.rollback();
            }
        }
        if !core.external {
            core.conn = None;
        }
        core.pending_rollback = None;
        let inserted = std::mem::take(&mut core.tx_inserted);
        for inst in &inserted {
            core.unregister(inst);
            let mut st = inst.state();
            st.status = Status::Transient;
            st.key = None;
            st.session = Weak::new();
        }
        for inst in std::mem::take(&mut core.new) {
            let mut st = inst.state();
            st.status = Status::Transient;
            st.session = Weak::new();
        }
        let deleted = std::mem::take(&mut core.tx_deleted);
        core.restore_deleted(deleted);
        for inst in std::mem::take(&mut core.deleted) {
            inst.state().delete_pending = false;
        }
        core.expire_all();
        result
    }

    /// Runs `f` inside a SAVEPOINT (`with session.begin_nested():`): released if `f` returns
    /// `Ok` (after a flush), rolled back if it returns `Err`, in which case objects inserted
    /// inside become transient, deleted ones persistent, and every instance is expired.
    ///
    /// # Errors
    /// `f`'s error, or the flush's/savepoint's.
    pub fn begin_nested<R>(&mut self, f: impl FnOnce(&mut Session) -> Result<R>) -> Result<R> {
        self.flush()?;
        let (savepoint, inserted_mark, deleted_mark) = {
            let mut core = self.core();
            let sp = core.connection()?.begin_nested()?.detach();
            (sp, core.tx_inserted.len(), core.tx_deleted.len())
        };
        let out = f(self).and_then(|v| self.flush().map(|()| v));
        match out {
            Ok(v) => {
                let mut core = self.core();
                savepoint.commit(core.connection()?)?;
                Ok(v)
            }
            Err(e) => {
                self.rollback_savepoint(savepoint, inserted_mark, deleted_mark)?;
                Err(e)
            }
        }
    }

    fn rollback_savepoint(
        &mut self,
        savepoint: DetachedTransaction,
        inserted_mark: usize,
        deleted_mark: usize,
    ) -> Result<()> {
        let _ = self.shared.take_dirty();
        let mut core = self.core();
        savepoint.rollback(core.connection()?)?;
        core.pending_rollback = None;
        let inserted: Vec<_> = core.tx_inserted.drain(inserted_mark..).collect();
        for inst in &inserted {
            core.unregister(inst);
            let mut st = inst.state();
            st.status = Status::Transient;
            st.key = None;
            st.session = Weak::new();
        }
        let deleted: Vec<_> = core.tx_deleted.drain(deleted_mark..).collect();
        core.restore_deleted(deleted);
        core.expire_all();
        Ok(())
    }

    /// Begins the session's transaction explicitly (it also begins on first use).
    ///
    /// # Errors
    /// `InvalidRequest` if a transaction is already begun.
    pub fn begin(&mut self) -> Result<()> {
        let mut core = self.ready_core()?;
        let conn = core.connection()?;
        if conn.in_transaction() {
            return Err(Error::invalid_request(
                "A transaction is already begun on this Session.",
            ));
        }
        conn.begin()?.detach();
        Ok(())
    }

    /// Whether the session has a transaction in progress (a connection lent to a stream is
    /// running one: the stream's statement is in it).
    pub fn in_transaction(&self) -> bool {
        let core = self.core();
        core.lent || core.conn.as_ref().is_some_and(Connection::in_transaction)
    }

    /// Detaches every object and returns the connection (rolling back its transaction).
    pub fn close(&mut self) {
        let _ = self.shared.take_dirty();
        self.expunge_all();
        let mut guard = self.core();
        let core = &mut *guard;
        if core.external {
            // The caller's connection stays with the caller, with our transaction ended.
            if let Some(conn) = core.conn.as_mut() {
                if conn.in_transaction() && !core.joined_outer {
                    let _ = conn.rollback();
                }
            }
        } else {
            // Back to the pool, whose reset on return rolls back (on PostgreSQL without
            // waiting for the reply: see `DriverConnection::reset`).
            core.conn = None;
        }
        core.pending_rollback = None;
        core.new.clear();
        core.deleted.clear();
        core.tx_inserted.clear();
        core.tx_deleted.clear();
    }

    /// Ends the session and hands back the connection it was bound to with
    /// [`with_connection`](Session::with_connection) (`None` for engine-bound sessions).
    pub fn into_connection(self) -> Option<Connection> {
        let mut core = self.core();
        core.external = false;
        core.conn.take()
    }

    /// Expires `obj`: its next read reloads it, and unflushed changes to it are discarded.
    pub fn expire<T: Model>(&mut self, obj: &Obj<T>) {
        let mut st = lock_state(&obj.inner.state);
        if st.status == Status::Persistent {
            obj.inner
                .expired
                .store(true, std::sync::atomic::Ordering::Release);
            st.committed = None;
        }
    }

    /// Expires every instance in the session.
    pub fn expire_all(&mut self) {
        self.core().expire_all();
    }

    /// Reloads `obj` from the database now.
    ///
    /// # Errors
    /// The object is not persistent here, its row is gone (`ObjectDeleted`), or the database's
    /// error.
    pub fn refresh<T: Model>(&mut self, obj: &Obj<T>) -> Result<()> {
        self.query_core()?.refresh_instance(&obj.as_any())
    }

    /// Reloads the named relationships of `obj` now (`session.refresh(obj, ["posts"])`): each
    /// is expired and loaded again with one SELECT.
    ///
    /// # Errors
    /// An unknown relationship name, or as [`refresh`](Session::refresh).
    pub fn refresh_relationships<T: Model>(&mut self, obj: &Obj<T>, names: &[&str]) -> Result<()> {
        drop(self.query_core()?);
        let any = obj.as_any();
        let key = any.state().key.clone();
        let rels = T::relationships();
        for name in names {
            let index = rels.iter().position(|r| r.name == *name).ok_or_else(|| {
                Error::invalid_request(format!(
                    "{} has no relationship named {name:?}",
                    T::mapper().name()
                ))
            })?;
            let tkey = any.relation_target_key(index)?;
            let items = {
                let mut core = self.core();
                core.load_related(&self.shared, &any, index, key.clone(), tkey)?
            };
            any.relation_set_loaded(index, items)?;
        }
        Ok(())
    }

    /// Removes `obj` from the session: it becomes detached (or transient if never flushed).
    pub fn expunge<T: Model>(&mut self, obj: &Obj<T>) {
        let any = obj.as_any();
        let mut core = self.core();
        core.unregister(&any);
        core.new.retain(|i| !Arc::ptr_eq(i, &any));
        core.deleted.retain(|i| !Arc::ptr_eq(i, &any));
        detach_state(&mut any.state());
    }

    /// Removes every object from the session.
    pub fn expunge_all(&mut self) {
        self.core().expunge_all();
    }

    /// Copies the state of `value` onto the persistent instance with the same primary key
    /// (loading it if needed), or adds it as new if there is none (`session.merge`).
    ///
    /// # Errors
    /// Loading the existing row failed.
    pub fn merge<T: Model>(&mut self, value: T) -> Result<Obj<T>> {
        self.merge_obj(&Obj::new(value))
    }

    /// [`merge`](Session::merge) of a handle, typically detached or from another session: its
    /// column values are copied onto the persistent instance with its key (loaded if needed),
    /// or a new pending instance; relationships with the `merge` cascade are merged the same
    /// way, object by object, and the merged instance's collections hold the merged objects.
    /// An object already in this session is returned as is.
    ///
    /// # Errors
    /// Loading the existing row failed, or an object is locked by a live guard.
    pub fn merge_obj<T: Model>(&mut self, obj: &Obj<T>) -> Result<Obj<T>> {
        self.merge_memo(obj, &mut crate::relationship::MergeMemo::default())
    }

    /// `merge_obj` that remembers what it merged, so a graph with cycles (back references)
    /// merges each object once.
    pub(crate) fn merge_memo<T: Model>(
        &mut self,
        obj: &Obj<T>,
        memo: &mut crate::relationship::MergeMemo,
    ) -> Result<Obj<T>> {
        let any = obj.as_any();
        let id = Arc::as_ptr(&any) as *const () as usize;
        if let Some(done) = memo.get(&id) {
            if let Some(o) = downcast::<T>(done.clone()) {
                return Ok(o);
            }
        }
        let own = any
            .state()
            .session
            .upgrade()
            .is_some_and(|s| Arc::ptr_eq(&s, &self.shared));
        if own {
            return Ok(obj.clone());
        }
        let values = any.try_values()?;
        let pk: Vec<Value> = T::mapper()
            .primary_key()
            .iter()
            .map(|&i| values[i].clone())
            .collect();
        let existing = match Key::from_values(&pk) {
            Some(key) => self.get::<T>(key)?,
            None => None,
        };
        let merged = match existing {
            Some(existing) => {
                {
                    let mut target = existing.write()?;
                    for (i, v) in values.into_iter().enumerate() {
                        target
                            .set_column_value(i, v)
                            .map_err(|e| Error::decode(T::mapper().name(), e))?;
                    }
                }
                existing
            }
            None => {
                let mut values = values;
                let value = T::from_values(&mut values).map_err(|(i, e)| {
                    Error::decode(
                        format!(
                            "{}.{}",
                            T::mapper().name(),
                            crate::instance::column_name::<T>(i)
                        ),
                        e,
                    )
                })?;
                self.add(value)
            }
        };
        memo.insert(id, merged.as_any());
        for (i, rel) in T::relationships().iter().enumerate() {
            if !rel.cascade.merge {
                continue;
            }
            let Some(items) = any.relation_loaded_items(i)? else {
                continue;
            };
            let mut out = Vec::with_capacity(items.len());
            for child in items {
                out.push((rel.target.merge)(self, child, memo)?);
            }
            let target = merged.as_any();
            target.with_relation(i, &mut |r| r.merge_set(out.clone()))?;
            // Written: the flush syncs the collection's foreign keys.
            drop(merged.write()?);
        }
        Ok(merged)
    }

    /// Whether `obj` has changes a flush would write.
    ///
    /// # Errors
    /// The object is locked by a live write guard.
    pub fn is_modified<T: Model>(&self, obj: &Obj<T>) -> Result<bool> {
        let any = obj.as_any();
        let snapshot = {
            let st = any.state();
            if st.status == Status::Pending {
                return Ok(true);
            }
            st.committed.clone()
        };
        match snapshot {
            None => Ok(false),
            Some(before) => Ok(any.try_values()? != before),
        }
    }

    /// Pending objects of type `T` (`session.new`).
    pub fn new_objects<T: Model>(&self) -> Vec<Obj<T>> {
        typed(self.core().new.iter())
    }

    /// Persistent objects of type `T` written since their last load or flush (`session.dirty`).
    pub fn dirty_objects<T: Model>(&self) -> Vec<Obj<T>> {
        let dirty = self.shared.dirty.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Obj<T>> = Vec::new();
        for inst in dirty.iter() {
            if inst.state().committed.is_some() {
                if let Some(o) = downcast::<T>(inst.clone()) {
                    if !out.contains(&o) {
                        out.push(o);
                    }
                }
            }
        }
        out
    }

    /// Objects of type `T` marked for deletion (`session.deleted`).
    pub fn deleted_objects<T: Model>(&self) -> Vec<Obj<T>> {
        typed(self.core().deleted.iter())
    }

    /// Number of instances in the identity map (live handles only).
    pub fn identity_len(&self) -> usize {
        self.core().identity.live_len()
    }
}

fn typed<'a, T: Model>(iter: impl Iterator<Item = &'a Arc<dyn AnyInstance>>) -> Vec<Obj<T>> {
    iter.filter_map(|i| downcast::<T>(i.clone())).collect()
}

fn describe_locked<T: Model>(st: &InstanceState) -> String {
    match &st.key {
        Some(k) => format!("<{} {}>", T::mapper().name(), k),
        None => format!("<{} (transient)>", T::mapper().name()),
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Detach the objects so their handles stop pointing at a dead session; the connection
        // goes back to the pool, which rolls back its transaction.
        let mut core = self.core();
        core.expunge_all();
        let identity = std::mem::take(&mut core.identity);
        drop(core);
        identity.recycle();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("in_transaction", &self.in_transaction())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn session_is_send() {
        assert_send::<Session>();
    }
}
