//! The identity map (SQLAlchemy `orm/identity.py`): one instance per (model, primary key) in a
//! session, held weakly so objects the program no longer uses can go.

use std::any::TypeId;
use std::sync::{Arc, Weak};

use rustc_hash::FxHashMap;

use crate::instance::AnyInstance;
use crate::key::{Key, KeyPart};

thread_local! {
    /// The emptied identity map of the last session that ended on this thread
    /// ([`IdentityMap::recycle`]). Taken and put back in one step, never borrowed across a
    /// greenlet switch.
    static SPARE: std::cell::RefCell<Option<IdentityMap>> = const { std::cell::RefCell::new(None) };
}

/// A weak handle on an instance, as the identity map holds it.
type Entry = Weak<dyn AnyInstance>;

/// One model's entries. Most tables have a single integer primary key: those keys live in a
/// table keyed by the integer itself (24 bytes an entry instead of 48, one integer hashed
/// and compared), every other key (text, composite, ...) in a general one. An empty table
/// allocates nothing.
#[derive(Default)]
struct Entries {
    int: FxHashMap<i64, Entry>,
    any: FxHashMap<Key, Entry>,
}

/// The integer of a single-integer key.
#[inline]
fn int_key(key: &Key) -> Option<i64> {
    match key {
        Key::Single(KeyPart::Int(i)) => Some(*i),
        _ => None,
    }
}

impl Entries {
    fn get(&self, key: &Key) -> Option<&Entry> {
        match int_key(key) {
            Some(i) => self.int.get(&i),
            None => self.any.get(key),
        }
    }

    /// Records `entry` under `key`; whether the key is new.
    fn insert(&mut self, key: Key, entry: Entry) -> bool {
        match int_key(&key) {
            Some(i) => self.int.insert(i, entry).is_none(),
            None => self.any.insert(key, entry).is_none(),
        }
    }

    fn remove(&mut self, key: &Key) -> bool {
        match int_key(key) {
            Some(i) => self.int.remove(&i).is_some(),
            None => self.any.remove(key).is_some(),
        }
    }

    fn values(&self) -> impl Iterator<Item = &Entry> {
        self.int.values().chain(self.any.values())
    }

    fn len(&self) -> usize {
        self.int.len() + self.any.len()
    }

    fn capacity(&self) -> usize {
        self.int.capacity() + self.any.capacity()
    }

    /// Room for `n` more entries of keys shaped like `like` (integer keys if `None`).
    fn reserve(&mut self, n: usize, like: Option<&Key>) {
        match like.map(int_key) {
            Some(None) => self.any.reserve(n),
            _ => self.int.reserve(n),
        }
    }

    /// Keeps the entries whose instance is alive.
    fn retain_live(&mut self) {
        self.int.retain(|_, w| w.strong_count() > 0);
        self.any.retain(|_, w| w.strong_count() > 0);
    }

    /// Empties the table (its room kept), calling `f` on every instance still alive.
    fn drain_live(&mut self, f: &mut impl FnMut(&Arc<dyn AnyInstance>)) {
        let live = self
            .int
            .drain()
            .map(|(_, w)| w)
            .chain(self.any.drain().map(|(_, w)| w))
            .filter_map(|w| w.upgrade());
        for inst in live {
            f(&inst);
        }
    }

    fn clear(&mut self) {
        self.int.clear();
        self.any.clear();
    }
}

/// Weak references to the session's instances, by model type then key. Two levels so a lookup
/// borrows the caller's key instead of building a `(TypeId, Key)` tuple.
#[derive(Default)]
pub(crate) struct IdentityMap {
    maps: FxHashMap<TypeId, Entries>,
    len: usize,
    sweep_at: usize,
}

impl IdentityMap {
    /// The live instance of model `ty` with `key`.
    pub(crate) fn get(&self, ty: TypeId, key: &Key) -> Option<Arc<dyn AnyInstance>> {
        self.maps.get(&ty)?.get(key)?.upgrade()
    }

    /// Records `inst` under `key`, sweeping dead entries as the map grows.
    pub(crate) fn insert(&mut self, ty: TypeId, key: Key, inst: &Arc<dyn AnyInstance>) {
        let map = self.maps.entry(ty).or_default();
        if map.insert(key, Arc::downgrade(inst)) {
            self.len += 1;
        }
        if self.len > self.sweep_at.max(1024) {
            self.sweep();
        }
    }

    fn sweep(&mut self) {
        let mut len = 0;
        for map in self.maps.values_mut() {
            map.retain_live();
            len += map.len();
        }
        self.len = len;
        self.sweep_at = len * 2;
    }

    /// Forgets the entry of `ty` with `key`.
    pub(crate) fn remove(&mut self, ty: TypeId, key: &Key) {
        if let Some(map) = self.maps.get_mut(&ty) {
            if map.remove(key) {
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

    /// Empties the map, calling `f` on every instance still alive: one walk over the entries
    /// (the teardown of a session, where most objects may already be gone and their memory is
    /// freed with the last weak handle, here).
    pub(crate) fn drain_live(&mut self, mut f: impl FnMut(&Arc<dyn AnyInstance>)) {
        // The tables keep their room (see `recycle`).
        for map in self.maps.values_mut() {
            map.drain_live(&mut f);
        }
        self.len = 0;
        self.sweep_at = 0;
    }

    /// An empty map for a new session: the tables of the last session that ended on this
    /// thread when there is one (their room kept: a session per request would otherwise
    /// allocate and free a table of its size every time), else a new one.
    pub(crate) fn for_new_session() -> IdentityMap {
        SPARE
            .try_with(|s| s.borrow_mut().take())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Keeps this map, emptied, for the next session on this thread ([`for_new_session`]),
    /// unless its tables are large (a session that loaded many objects gives the room back).
    ///
    /// [`for_new_session`]: IdentityMap::for_new_session
    pub(crate) fn recycle(mut self) {
        const KEEP: usize = 4096;
        if self.maps.len() > 16 || self.maps.values().any(|m| m.capacity() > KEEP) {
            return;
        }
        for map in self.maps.values_mut() {
            map.clear();
        }
        self.len = 0;
        self.sweep_at = 0;
        // Fails only while the thread is being torn down: the map is then simply freed.
        let _ = SPARE.try_with(|s| *s.borrow_mut() = Some(self));
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
        let entries = self.batch(ty, n);
        entries.map.reserve(n, None);
    }

    /// The entries of model `ty`, with room for `n` more (sweeping first as
    /// [`reserve`](Self::reserve) does), for a loader's batch of lookups: the model's map is
    /// found once per batch, not once per row.
    pub(crate) fn batch(&mut self, ty: TypeId, n: usize) -> ModelEntries<'_> {
        if self.len + n > self.sweep_at.max(1024) {
            self.sweep();
        }
        ModelEntries {
            map: self.maps.entry(ty).or_default(),
            len: &mut self.len,
            room: n,
        }
    }
}

/// One model's entries of an [`IdentityMap`], for a batch of lookups
/// ([`IdentityMap::batch`]). It never sweeps: a loader keeps every instance it adds alive.
pub(crate) struct ModelEntries<'m> {
    map: &'m mut Entries,
    len: &'m mut usize,
    /// Room still to make, in the table of the first key looked up (which tells the shape).
    room: usize,
}

impl ModelEntries<'_> {
    /// The live instance with `key` (`Some`), or else records the instance `make` builds, by
    /// the weak handle it returns (`None`): one hash probe either way, and no strong handle
    /// taken for a new instance (the caller keeps the one it made).
    pub(crate) fn get_or_insert_with<E>(
        &mut self,
        key: Key,
        make: impl FnOnce(&Key) -> Result<Entry, E>,
    ) -> Result<Option<Arc<dyn AnyInstance>>, E> {
        self.make_room(&key);
        match int_key(&key) {
            Some(i) => probe(self.map.int.entry(i), self.len, |_| make(&key)),
            None => probe(self.map.any.entry(key), self.len, make),
        }
    }

    /// Records `inst` under `key` (replacing the entry there), for a batch of instances the
    /// caller keeps alive (the flush's inserted objects, held by the transaction).
    pub(crate) fn insert(&mut self, key: Key, inst: &Arc<dyn AnyInstance>) {
        self.make_room(&key);
        if self.map.insert(key, Arc::downgrade(inst)) {
            *self.len += 1;
        }
    }

    /// Makes the batch's room in the table that keys like `key` go to (the first key tells).
    #[inline]
    fn make_room(&mut self, key: &Key) {
        if self.room > 0 {
            self.map.reserve(std::mem::take(&mut self.room), Some(key));
        }
    }
}

/// The live instance in `entry` (`Some`), or else the one `make` builds, recorded (`None`).
fn probe<K, E>(
    entry: std::collections::hash_map::Entry<'_, K, Entry>,
    len: &mut usize,
    make: impl FnOnce(&K) -> Result<Entry, E>,
) -> Result<Option<Arc<dyn AnyInstance>>, E> {
    use std::collections::hash_map::Entry as Slot;
    match entry {
        Slot::Occupied(mut e) => {
            if let Some(live) = e.get().upgrade() {
                return Ok(Some(live));
            }
            let weak = make(e.key())?;
            e.insert(weak);
        }
        Slot::Vacant(e) => {
            let weak = make(e.key())?;
            e.insert(weak);
            *len += 1;
        }
    }
    Ok(None)
}
