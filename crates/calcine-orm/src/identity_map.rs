//! The identity map (SQLAlchemy `orm/identity.py`): one instance per (model, primary key) in a
//! session, held weakly so objects the program no longer uses can go.

use std::any::TypeId;
use std::sync::{Arc, Weak};

use rustc_hash::FxHashMap;

use crate::instance::AnyInstance;
use crate::key::Key;

/// Weak references to the session's instances, by model type then key. Two levels so a lookup
/// borrows the caller's key instead of building a `(TypeId, Key)` tuple.
#[derive(Default)]
pub(crate) struct IdentityMap {
    maps: FxHashMap<TypeId, FxHashMap<Key, Weak<dyn AnyInstance>>>,
    len: usize,
    sweep_at: usize,
}

impl IdentityMap {
    /// The live instance of model `ty` with `key`.
    pub(crate) fn get(&self, ty: TypeId, key: &Key) -> Option<Arc<dyn AnyInstance>> {
        self.maps.get(&ty)?.get(key)?.upgrade()
    }

    /// The live instance of `ty` with `key` (`true`: it was there), or the one `make` builds,
    /// recorded under `key`: one hash probe either way (the loader's path for every row; call
    /// [`reserve`](Self::reserve) before a batch, which is where sweeps happen).
    pub(crate) fn get_or_insert_with<E>(
        &mut self,
        ty: TypeId,
        key: Key,
        make: impl FnOnce(&Key) -> Result<Arc<dyn AnyInstance>, E>,
    ) -> Result<(Arc<dyn AnyInstance>, bool), E> {
        use std::collections::hash_map::Entry;
        let map = self.maps.entry(ty).or_default();
        let inst = match map.entry(key) {
            Entry::Occupied(mut e) => {
                if let Some(live) = e.get().upgrade() {
                    return Ok((live, true));
                }
                let inst = make(e.key())?;
                e.insert(Arc::downgrade(&inst));
                inst
            }
            Entry::Vacant(e) => {
                let inst = make(e.key())?;
                e.insert(Arc::downgrade(&inst));
                self.len += 1;
                inst
            }
        };
        Ok((inst, false))
    }

    /// Records `inst` under `key`, sweeping dead entries as the map grows.
    pub(crate) fn insert(&mut self, ty: TypeId, key: Key, inst: &Arc<dyn AnyInstance>) {
        let map = self.maps.entry(ty).or_default();
        if map.insert(key, Arc::downgrade(inst)).is_none() {
            self.len += 1;
        }
        if self.len > self.sweep_at.max(1024) {
            self.sweep();
        }
    }

    fn sweep(&mut self) {
        let mut len = 0;
        for map in self.maps.values_mut() {
            map.retain(|_, w| w.strong_count() > 0);
            len += map.len();
        }
        self.len = len;
        self.sweep_at = len * 2;
    }

    /// Forgets the entry of `ty` with `key`.
    pub(crate) fn remove(&mut self, ty: TypeId, key: &Key) {
        if let Some(map) = self.maps.get_mut(&ty) {
            if map.remove(key).is_some() {
                self.len -= 1;
            }
        }
    }

    /// Forgets the entry of `ty` with `key` if it is `inst` (not another instance since).
    pub(crate) fn remove_instance(&mut self, ty: TypeId, key: &Key, inst: &Arc<dyn AnyInstance>) {
        let same = self
            .maps
            .get(&ty)
            .and_then(|m| m.get(key))
            .is_some_and(|w| std::ptr::addr_eq(w.as_ptr(), Arc::as_ptr(inst)));
        if same {
            self.remove(ty, key);
        }
    }

    /// Calls `f` on every live instance (no list built).
    pub(crate) fn for_each_live(&self, mut f: impl FnMut(&Arc<dyn AnyInstance>)) {
        for w in self.maps.values().flat_map(|m| m.values()) {
            if let Some(inst) = w.upgrade() {
                f(&inst);
            }
        }
    }

    /// Every live instance.
    pub(crate) fn live(&self) -> Vec<Arc<dyn AnyInstance>> {
        self.maps
            .values()
            .flat_map(|m| m.values().filter_map(Weak::upgrade))
            .collect()
    }

    /// How many entries point at live instances.
    pub(crate) fn live_len(&self) -> usize {
        self.maps
            .values()
            .flat_map(|m| m.values())
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Room for `n` more entries of model `ty`, sweeping dead entries first if the batch would
    /// pass the sweep mark. The batch itself ([`get_or_insert_with`](Self::get_or_insert_with))
    /// never sweeps: a loader keeps every instance it adds alive, so a sweep in the middle would
    /// only walk (and miss the cache on) entries that cannot be dead.
    pub(crate) fn reserve(&mut self, ty: TypeId, n: usize) {
        if self.len + n > self.sweep_at.max(1024) {
            self.sweep();
        }
        self.maps.entry(ty).or_default().reserve(n);
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.maps.clear();
        self.len = 0;
    }
}
