//! [`Obj`]: the shared handle on one mapped instance, and the instance's ORM state
//! (SQLAlchemy's `InstanceState`).
//!
//! An instance is an `Arc` holding the struct behind a `RwLock` plus its state: status
//! (transient, pending, persistent, deleted, detached), identity key, the committed snapshot
//! taken on the first [`Obj::write`] since the last load or flush, the expired flag and a weak
//! link to its session. `write()` marks the instance dirty in its session, so a flush looks only
//! at instances that were written, never at the whole identity map.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use calcine_engine::{Error, Result};
use calcine_sql::Value;

use crate::key::Key;
use crate::model::{Mapper, Model};
use crate::session::SessionShared;

/// Where an instance stands relative to a session (SQLAlchemy's object states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not in any session, no database identity.
    Transient,
    /// Added to a session, not yet inserted.
    Pending,
    /// Has a database identity and belongs to a session.
    Persistent,
    /// Deleted in a flush; gone for good once the transaction commits.
    Deleted,
    /// Has a database identity but no session.
    Detached,
}

pub(crate) struct InstanceState {
    pub(crate) status: Status,
    pub(crate) key: Option<Key>,
    /// Column values as last loaded or flushed; `Some` once `write()` was called since then.
    pub(crate) committed: Option<Vec<Value>>,
    /// Marked for deletion at the next flush.
    pub(crate) delete_pending: bool,
    pub(crate) session: Weak<SessionShared>,
}

pub(crate) struct Instance<T> {
    pub(crate) data: RwLock<T>,
    pub(crate) state: Mutex<InstanceState>,
    /// Whether a relationship field may hold changes (added/removed objects, a new target)
    /// since the last flush: see [`AnyInstance::relations_changed`].
    pub(crate) relations_changed: AtomicBool,
    /// The loaded attributes are expired (after commit, rollback or `expire`): the next
    /// access reloads them. Written with the state locked, read without it, so reading a
    /// loaded object takes no lock on its state.
    pub(crate) expired: AtomicBool,
}

/// A shared handle on one mapped instance (what SQLAlchemy hands out as the object itself).
///
/// Cloning the handle does not copy the object: every handle sees the same data, and the
/// session's identity map returns the same instance for the same primary key. Read through
/// [`read`](Obj::read), change through [`write`](Obj::write): the write guard marks the object
/// modified in its session, and the next flush writes the columns that changed. Handles are
/// `Send + Sync`.
///
/// Don't hold a guard across a session call that flushes: flush never blocks on a locked
/// object, it returns an error naming it.
pub struct Obj<T: Model> {
    pub(crate) inner: Arc<Instance<T>>,
}

impl<T: Model> Clone for Obj<T> {
    fn clone(&self) -> Self {
        Obj {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Model + std::fmt::Debug> std::fmt::Debug for Obj<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.data.try_read() {
            Ok(d) => write!(f, "Obj({d:?})"),
            Err(_) => write!(f, "Obj(<locked {}>)", T::mapper().name()),
        }
    }
}

impl<T: Model> PartialEq for Obj<T> {
    /// Handles are equal when they are the same instance (SQLAlchemy's `is`).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
impl<T: Model> Eq for Obj<T> {}

impl<T: Model> Obj<T> {
    /// A new transient instance (not in any session).
    pub fn new(value: T) -> Self {
        Obj {
            inner: Arc::new(Instance {
                data: RwLock::new(value),
                state: Mutex::new(InstanceState {
                    status: Status::Transient,
                    key: None,
                    committed: None,
                    delete_pending: false,
                    session: Weak::new(),
                }),
                // Built by the caller, fields and all: assume anything.
                relations_changed: AtomicBool::new(true),
                expired: AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn from_arc(inner: Arc<Instance<T>>) -> Self {
        Obj { inner }
    }

    pub(crate) fn as_any(&self) -> Arc<dyn AnyInstance> {
        self.inner.clone()
    }

    /// Reads the object. An expired object (after commit, rollback or `expire`) is reloaded
    /// first through its session.
    ///
    /// # Errors
    /// Reloading failed: [`DetachedInstance`](calcine_engine::ErrorKind::DetachedInstance)
    /// without a session, [`MissingGreenlet`](calcine_engine::ErrorKind::MissingGreenlet) from
    /// async code outside `run_sync`, [`ObjectDeleted`](calcine_engine::ErrorKind::ObjectDeleted)
    /// when the row is gone, or the database's error.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, T>> {
        self.load_if_expired()?;
        self.inner.data.read().map_err(|_| poisoned::<T>())
    }

    /// Writes the object: the guard marks it modified in its session (the committed values are
    /// snapshotted first), and the next flush UPDATEs the columns that differ.
    ///
    /// # Errors
    /// As [`read`](Obj::read).
    pub fn write(&self) -> Result<RwLockWriteGuard<'_, T>> {
        self.load_if_expired()?;
        let guard = self.inner.data.write().map_err(|_| poisoned::<T>())?;
        // The guard can change relationship fields: the flush looks at them again. Set while
        // the guard is held, so a flush clearing the flag meanwhile fails on the guard
        // (and sets it back) or runs before the guard was taken.
        if !T::relationships().is_empty() {
            self.inner.relations_changed.store(true, Ordering::Release);
        }
        let session = {
            let mut st = lock_state(&self.inner.state);
            if st.status == Status::Persistent && st.committed.is_none() {
                st.committed = Some(guard.to_values());
                st.session.upgrade()
            } else {
                None
            }
        };
        if let Some(session) = session {
            session.mark_dirty(self.as_any());
        }
        Ok(guard)
    }

    /// The object's state in its session.
    pub fn status(&self) -> Status {
        lock_state(&self.inner.state).status
    }

    /// The identity key, once the object has one (after its INSERT, or when loaded).
    pub fn key(&self) -> Option<Key> {
        lock_state(&self.inner.state).key.clone()
    }

    /// Whether loaded attributes are expired (the next access reloads them).
    pub fn is_expired(&self) -> bool {
        self.inner.expired.load(Ordering::Acquire)
    }

    fn load_if_expired(&self) -> Result<()> {
        if !self.inner.expired.load(Ordering::Acquire) {
            return Ok(());
        }
        let session = {
            let st = lock_state(&self.inner.state);
            if !self.inner.expired.load(Ordering::Acquire) {
                return Ok(());
            }
            st.session.upgrade()
        };
        match session {
            Some(s) => s.refresh_expired(&self.as_any()),
            None => Err(Error::detached_instance(format!(
                "Instance <{} at {}> is not bound to a Session; attribute refresh operation \
                 cannot proceed",
                T::mapper().name(),
                self.key().map_or_else(|| "?".to_owned(), |k| k.to_string())
            ))),
        }
    }
}

fn poisoned<T: Model>() -> Error {
    Error::invalid_request(format!(
        "an instance of {} was poisoned: a thread panicked while writing it",
        T::mapper().name()
    ))
}

pub(crate) fn lock_state(m: &Mutex<InstanceState>) -> MutexGuard<'_, InstanceState> {
    // The state is plain data: a panic while it was held cannot leave it half-updated in a way
    // that matters more than losing the object, so a poisoned lock is still used.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The type-erased view of an instance that the session and the unit of work use.
pub(crate) trait AnyInstance: Send + Sync {
    fn mapper(&self) -> &'static Mapper;
    fn model_type(&self) -> TypeId;
    fn state(&self) -> MutexGuard<'_, InstanceState>;
    /// Current column values; an error (never a wait) if a write guard is live.
    fn try_values(&self) -> Result<Vec<Value>>;
    /// Runs `f` on the object's columns, lent ([`Model::column_ref`]) under one read lock; an
    /// error (never a wait) if a write guard is live.
    fn try_read_columns(
        &self,
        f: &mut dyn FnMut(&dyn crate::model::ColumnRefs) -> Result<()>,
    ) -> Result<()>;
    /// Sets column values from the database; an error if a guard is live.
    fn try_set_values(&self, values: &[(usize, Value)]) -> Result<()>;
    /// After the object's INSERT: the value the database generated for a column (`Some((index,
    /// value))`) goes into it, and it becomes persistent with `key`, nothing snapshotted. An
    /// error (nothing changed) if a guard is live.
    fn try_set_inserted(&self, generated: Option<(usize, Value)>, key: Key) -> Result<()>;
    /// Whether the object can be written now (no live guard on it).
    fn can_write(&self) -> bool;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    fn describe(&self) -> String;
    /// Whether a relationship field may hold changes since the last flush: set when the object
    /// is built with changes ([`Obj::new`], or a value with [`Many::from_vec`] /
    /// [`One::to`](crate::One::to) added to a session) and by every [`Obj::write`]; cleared by
    /// the flush that clears the changes. `false` means none of its relationship fields has
    /// changes, so the flush skips its relationship bookkeeping.
    ///
    /// [`Many::from_vec`]: crate::Many::from_vec
    fn relations_changed(&self) -> bool;
    /// Clears the flag before the flush clears the changes, or sets it back if that failed.
    fn set_relations_changed(&self, on: bool);
    /// Whether the loaded attributes are expired.
    fn expired(&self) -> bool;
    /// Sets the expired flag (with the state locked by the caller).
    fn set_expired(&self, on: bool);
    /// Runs `f` on relationship field `index` (an error if the object is write-locked).
    fn with_relation(
        &self,
        index: usize,
        f: &mut dyn FnMut(&dyn crate::relationship::AnyRelation),
    ) -> Result<()>;
}

/// Relationship-field helpers over [`AnyInstance::with_relation`].
impl dyn AnyInstance {
    pub(crate) fn relation_loaded(&self, index: usize) -> Result<bool> {
        let mut out = false;
        self.with_relation(index, &mut |r| out = r.is_loaded())?;
        Ok(out)
    }

    pub(crate) fn relation_set_loaded(
        &self,
        index: usize,
        items: crate::relationship::Related,
    ) -> Result<()> {
        self.put_loaded(index, items, true)
    }

    /// Sets the loaded contents of relationship `index` unless they are loaded already (an
    /// eager load never replaces what the object holds); one visit of the field.
    pub(crate) fn relation_fill(
        &self,
        index: usize,
        items: crate::relationship::Related,
    ) -> Result<()> {
        self.put_loaded(index, items, false)
    }

    fn put_loaded(
        &self,
        index: usize,
        items: crate::relationship::Related,
        replace: bool,
    ) -> Result<()> {
        let mut items = Some(items);
        self.with_relation(index, &mut |r| {
            if replace || !r.is_loaded() {
                if let Some(items) = items.take() {
                    r.set_loaded(items);
                }
            }
        })
    }

    pub(crate) fn relation_target_key(&self, index: usize) -> Result<Option<Key>> {
        let mut out = None;
        self.with_relation(index, &mut |r| out = r.target_key())?;
        Ok(out)
    }

    pub(crate) fn relation_changes(
        &self,
        index: usize,
    ) -> Result<(crate::relationship::Related, crate::relationship::Related)> {
        let mut out = (Vec::new(), Vec::new());
        self.with_relation(index, &mut |r| out = r.pending_changes())?;
        Ok(out)
    }

    /// What relationship `index` gained (a collection's added objects, or a reference's new
    /// target) and lost since the last flush, read in one pass over the field.
    pub(crate) fn relation_touched(
        &self,
        index: usize,
    ) -> Result<(crate::relationship::Related, crate::relationship::Related)> {
        let mut out = (Vec::new(), Vec::new());
        self.with_relation(index, &mut |r| {
            out = r.pending_changes();
            if let Some(Some(t)) = r.one_change() {
                out.0.push(t);
            }
        })?;
        Ok(out)
    }

    pub(crate) fn relation_one_change(
        &self,
        index: usize,
    ) -> Result<Option<Option<Arc<dyn AnyInstance>>>> {
        let mut out = None;
        self.with_relation(index, &mut |r| out = r.one_change())?;
        Ok(out)
    }

    pub(crate) fn relation_clear_changes(&self, index: usize) -> Result<()> {
        self.with_relation(index, &mut |r| r.clear_changes())
    }

    /// After a flush: forgets the changes of every relationship field and clears
    /// [`relations_changed`](AnyInstance::relations_changed) (first, so a write guard taken
    /// meanwhile sets it again; if a field is locked, the flag is set back).
    pub(crate) fn clear_relation_changes(&self) -> Result<()> {
        if !self.relations_changed() {
            return Ok(());
        }
        self.set_relations_changed(false);
        for r in 0..self.mapper().relationships().len() {
            if let Err(e) = self.relation_clear_changes(r) {
                self.set_relations_changed(true);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Snapshots the committed values before the flush changes a persistent object's columns
    /// (a foreign key set through a relationship), so its UPDATE sees the change.
    pub(crate) fn ensure_snapshot(&self) -> Result<()> {
        let needs = {
            let st = self.state();
            st.status == Status::Persistent && st.committed.is_none()
        };
        if needs {
            let values = self.try_values()?;
            let mut st = self.state();
            if st.committed.is_none() {
                st.committed = Some(values);
            }
        }
        Ok(())
    }

    pub(crate) fn relation_loaded_items(
        &self,
        index: usize,
    ) -> Result<Option<crate::relationship::Related>> {
        let mut out = None;
        self.with_relation(index, &mut |r| out = r.loaded())?;
        Ok(out)
    }
}

impl<T: Model> AnyInstance for Instance<T> {
    fn mapper(&self) -> &'static Mapper {
        T::mapper()
    }

    fn model_type(&self) -> TypeId {
        TypeId::of::<T>()
    }

    fn state(&self) -> MutexGuard<'_, InstanceState> {
        lock_state(&self.state)
    }

    fn try_values(&self) -> Result<Vec<Value>> {
        match self.data.try_read() {
            Ok(d) => Ok(d.to_values()),
            Err(_) => Err(locked(self.describe())),
        }
    }

    fn try_read_columns(
        &self,
        f: &mut dyn FnMut(&dyn crate::model::ColumnRefs) -> Result<()>,
    ) -> Result<()> {
        match self.data.try_read() {
            Ok(d) => f(&*d),
            Err(_) => Err(locked(self.describe())),
        }
    }

    fn can_write(&self) -> bool {
        self.data.try_write().is_ok()
    }

    fn relations_changed(&self) -> bool {
        self.relations_changed.load(Ordering::Acquire)
    }

    fn set_relations_changed(&self, on: bool) {
        self.relations_changed.store(on, Ordering::Release);
    }

    fn expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }

    fn set_expired(&self, on: bool) {
        self.expired.store(on, Ordering::Release);
    }

    fn try_set_values(&self, values: &[(usize, Value)]) -> Result<()> {
        let mut d = self.data.try_write().map_err(|_| locked(self.describe()))?;
        for (i, v) in values {
            d.set_column_value(*i, v.clone()).map_err(|e| {
                Error::decode(
                    format!("{}.{}", T::mapper().name(), column_name::<T>(*i)),
                    e,
                )
            })?;
        }
        Ok(())
    }

    fn try_set_inserted(&self, generated: Option<(usize, Value)>, key: Key) -> Result<()> {
        if let Some((index, value)) = generated {
            let mut d = self.data.try_write().map_err(|_| locked(self.describe()))?;
            d.set_column_value(index, value).map_err(|e| {
                Error::decode(
                    format!("{}.{}", T::mapper().name(), column_name::<T>(index)),
                    e,
                )
            })?;
        }
        let mut st = lock_state(&self.state);
        st.status = Status::Persistent;
        st.key = Some(key);
        st.committed = None;
        Ok(())
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn with_relation(
        &self,
        index: usize,
        f: &mut dyn FnMut(&dyn crate::relationship::AnyRelation),
    ) -> Result<()> {
        let d = self.data.try_read().map_err(|_| locked(self.describe()))?;
        if let Some(r) = d.relation(index) {
            f(r.0);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let st = lock_state(&self.state);
        match &st.key {
            Some(k) => format!("<{} {}>", T::mapper().name(), k),
            None => format!("<{} (pending)>", T::mapper().name()),
        }
    }
}

pub(crate) fn column_name<T: Model>(i: usize) -> &'static str {
    T::mapper().column_names().get(i).map_or("?", |n| &**n)
}

fn locked(what: String) -> Error {
    Error::invalid_request(format!(
        "object {what} is locked by a live read()/write() guard; drop the guard before the \
         session flushes or refreshes it"
    ))
}

/// Downcasts a type-erased instance to its handle.
pub(crate) fn downcast<T: Model>(any: Arc<dyn AnyInstance>) -> Option<Obj<T>> {
    any.into_any()
        .downcast::<Instance<T>>()
        .ok()
        .map(Obj::from_arc)
}
