//! Statement events (SQLAlchemy's `before_cursor_execute` / `after_cursor_execute` engine events).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use calcine_sql::Value;

/// When an [`ExecuteEvent`] fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecutePhase {
    /// Just before the statement is sent to the driver (`before_cursor_execute`).
    Before,
    /// After the driver executed it successfully, before rows are fetched
    /// (`after_cursor_execute`).
    After,
}

/// One statement passing through an engine, as seen by listeners registered with
/// [`Engine::on_execute`](crate::Engine::on_execute).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ExecuteEvent<'a> {
    /// Before or after execution.
    pub phase: ExecutePhase,
    /// The SQL text sent to the driver.
    pub statement: &'a str,
    /// The bound parameters.
    pub params: &'a [Value],
}

pub(crate) type Listener = Arc<dyn Fn(&ExecuteEvent<'_>) + Send + Sync>;

/// The listeners of one engine. Firing takes a snapshot, so a listener may register others.
#[derive(Default)]
pub(crate) struct Listeners {
    any: AtomicBool,
    list: RwLock<Arc<[Listener]>>,
}

impl Listeners {
    pub(crate) fn add(&self, listener: Listener) {
        let mut list = self.list.write().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<Listener> = list.iter().cloned().collect();
        v.push(listener);
        *list = v.into();
        self.any.store(true, Ordering::Release);
    }

    /// Whether any listener is registered (else [`fire`](Listeners::fire) does nothing).
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Calls every listener with the event (nothing to do, checked inline, when there is none:
    /// the common case, twice per statement).
    #[inline]
    pub(crate) fn fire(&self, phase: ExecutePhase, statement: &str, params: &[Value]) {
        if self.any() {
            self.fire_all(phase, statement, params);
        }
    }

    #[cold]
    #[inline(never)]
    fn fire_all(&self, phase: ExecutePhase, statement: &str, params: &[Value]) {
        let snapshot = Arc::clone(&self.list.read().unwrap_or_else(|e| e.into_inner()));
        let ev = ExecuteEvent {
            phase,
            statement,
            params,
        };
        for l in snapshot.iter() {
            l(&ev);
        }
    }
}
