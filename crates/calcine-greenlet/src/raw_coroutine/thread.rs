//! Thread backend (`cfg(miri)` or `--cfg calcine_thread_backend`): each coroutine body runs on
//! its own OS thread, and every resume/suspend is a blocking channel hand-off, so exactly one of
//! the two threads runs at any time. Miri cannot execute corosensei's stack switch, but it can
//! check this backend and, through it, the greenlet state machine above.
//!
//! ```text
//!  poller thread                      body thread
//!  resume(i) ──Down::Resume(i)──────▶ body runs ... suspend(y)
//!            ◀─────────Up::Yield(y)── blocks in recv
//!  force_unwind ──Down::Unwind──────▶ suspend panics with ForcedUnwind, frames drop
//!            ◀─────────Up::Returned── thread exits, joined
//! ```

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The result of one `resume`.
pub(crate) enum CoroutineResult<Y, R> {
    /// The body suspended with this value.
    Yield(Y),
    /// The body returned this value.
    Return(R),
}

/// Stand-in for a stack: the body thread is given this size.
pub(crate) struct Stack {
    size: usize,
}

/// A "stack" of `size` bytes (the body thread's stack size).
pub(crate) fn new_stack(size: usize) -> std::io::Result<Stack> {
    Ok(Stack { size })
}

/// Usable bytes of `stack`.
pub(crate) fn stack_size(stack: &Stack) -> usize {
    stack.size
}

/// Moves a value to the body thread and back. Sound only because the two threads strictly
/// alternate (see the module docs): no value is ever used by both at once.
struct Handoff<T>(T);
// SAFETY: the channel protocol gives strict alternation between the poller and the body thread,
// with a happens-before edge at every hand-off, exactly like a stack switch on one thread. The
// values handed over are the coroutine's inputs, yields and body, which the native backend also
// moves between stacks.
unsafe impl<T> Send for Handoff<T> {}

enum Down<I> {
    Resume(I),
    Unwind,
}

enum Up<Y> {
    Yield(Y),
    Returned,
}

/// The private panic payload that unwinds a cancelled body.
struct ForcedUnwind;

type Body<I, Y, R> = Box<dyn FnOnce(&Yielder<I, Y>, I) -> R>;

enum State<I, Y, R> {
    Fresh(Body<I, Y, R>),
    Suspended,
    Done,
}

type ReturnSlot<R> = Arc<Mutex<Option<Handoff<std::thread::Result<R>>>>>;

/// A coroutine whose body runs on its own thread.
pub(crate) struct Coroutine<I, Y, R> {
    state: State<I, Y, R>,
    down: Option<Sender<Handoff<Down<I>>>>,
    up: Option<Receiver<Handoff<Up<Y>>>>,
    ret: ReturnSlot<R>,
    thread: Option<JoinHandle<()>>,
    stack: Option<Stack>,
}

/// The body's handle for suspending itself.
pub(crate) struct Yielder<I, Y> {
    up: Sender<Handoff<Up<Y>>>,
    down: Receiver<Handoff<Down<I>>>,
}

impl<I, Y> Yielder<I, Y> {
    /// Hands `value` to the poller and blocks until resumed (or unwinds if cancelled).
    pub(crate) fn suspend(&self, value: Y) -> I {
        if self.up.send(Handoff(Up::Yield(value))).is_err() {
            panic::resume_unwind(Box::new(ForcedUnwind));
        }
        match self.down.recv() {
            Ok(Handoff(Down::Resume(input))) => input,
            Ok(Handoff(Down::Unwind)) | Err(_) => panic::resume_unwind(Box::new(ForcedUnwind)),
        }
    }
}

/// Creates a coroutine running `body` on its own thread (started on the first resume).
///
/// # Safety
/// Same contract as the native backend: what `body` borrows outlives the coroutine.
pub(crate) unsafe fn new_coroutine<'a, I, Y, R, F>(stack: Stack, body: F) -> Coroutine<I, Y, R>
where
    F: FnOnce(&Yielder<I, Y>, I) -> R + 'a,
{
    let body: Box<dyn FnOnce(&Yielder<I, Y>, I) -> R + 'a> = Box::new(body);
    // SAFETY: only the lifetime is erased; the caller promises the borrows outlive the
    // coroutine, and Drop joins the body thread before the coroutine goes away.
    let body: Body<I, Y, R> = unsafe { std::mem::transmute(body) };
    Coroutine {
        state: State::Fresh(body),
        down: None,
        up: None,
        ret: Arc::new(Mutex::new(None)),
        thread: None,
        stack: Some(stack),
    }
}

impl<I, Y, R> Coroutine<I, Y, R> {
    /// Runs the body until it suspends or returns.
    pub(crate) fn resume(&mut self, input: I) -> CoroutineResult<Y, R> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Fresh(body) => self.start(body),
            State::Suspended => {}
            State::Done => panic!("attempt to resume a completed coroutine"),
        }
        if let Some(down) = &self.down {
            // A send error means the thread is gone; the receive below reports it.
            let _ = down.send(Handoff(Down::Resume(input)));
        }
        self.wait()
    }

    fn start(&mut self, body: Body<I, Y, R>) {
        let (down_tx, down_rx) = channel::<Handoff<Down<I>>>();
        let (up_tx, up_rx) = channel::<Handoff<Up<Y>>>();
        let ret = self.ret.clone();
        let size = self.stack.as_ref().map_or(256 * 1024, |s| s.size);
        let payload = Handoff((body, down_rx, up_tx));
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
            // Move the whole wrapper in (a destructuring pattern alone would capture the
            // fields one by one, bypassing `Handoff`).
            let payload = payload;
            let Handoff((body, down_rx, up_tx)) = payload;
            let input = match down_rx.recv() {
                Ok(Handoff(Down::Resume(input))) => input,
                _ => return,
            };
            let yielder = Yielder {
                up: up_tx.clone(),
                down: down_rx,
            };
            let result = panic::catch_unwind(AssertUnwindSafe(|| body(&yielder, input)));
            let forced = matches!(&result, Err(p) if p.is::<ForcedUnwind>());
            if !forced {
                if let Ok(mut slot) = ret.lock() {
                    *slot = Some(Handoff(result));
                }
            }
            let _ = up_tx.send(Handoff(Up::Returned));
        });
        // SAFETY: only the lifetime is erased. The thread is joined in `finish` before the
        // coroutine is dropped (`Drop` unwinds and joins), so nothing it borrows can end first.
        let job: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(job) };
        let thread = std::thread::Builder::new()
            .name("calcine-greenlet-body".into())
            .stack_size(size.max(64 * 1024))
            .spawn(job);
        match thread {
            Ok(t) => self.thread = Some(t),
            Err(e) => panic!("calcine-greenlet: could not start a body thread: {e}"),
        }
        self.down = Some(down_tx);
        self.up = Some(up_rx);
    }

    fn wait(&mut self) -> CoroutineResult<Y, R> {
        let msg = self.up.as_ref().map(|up| up.recv());
        match msg {
            Some(Ok(Handoff(Up::Yield(y)))) => {
                self.state = State::Suspended;
                CoroutineResult::Yield(y)
            }
            _ => {
                self.finish();
                let taken = self.ret.lock().ok().and_then(|mut s| s.take());
                match taken {
                    Some(Handoff(Ok(r))) => CoroutineResult::Return(r),
                    Some(Handoff(Err(p))) => panic::resume_unwind(p),
                    None => {
                        panic!("calcine-greenlet: coroutine body thread ended without a result")
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        self.state = State::Done;
        self.down = None;
        self.up = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Whether the body has been resumed at least once (only the `panic = "abort"` drop path
    /// asks).
    #[cfg_attr(not(panic = "abort"), allow(dead_code))]
    pub(crate) fn started(&self) -> bool {
        !matches!(self.state, State::Fresh(_))
    }

    /// Whether the body has finished (as `started`).
    #[cfg_attr(not(panic = "abort"), allow(dead_code))]
    pub(crate) fn done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Unwinds a suspended body (its destructors run), or drops an unstarted one.
    pub(crate) fn force_unwind(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Fresh(body) => drop(body),
            State::Done => {}
            State::Suspended => loop {
                if let Some(down) = &self.down {
                    let _ = down.send(Handoff(Down::Unwind));
                }
                match self.up.as_ref().map(|up| up.recv()) {
                    // The body caught the unwind and suspended again: unwind again.
                    Some(Ok(Handoff(Up::Yield(_)))) => continue,
                    _ => {
                        self.finish();
                        let taken = self.ret.lock().ok().and_then(|mut s| s.take());
                        if let Some(Handoff(Err(p))) = taken {
                            panic::resume_unwind(p);
                        }
                        return;
                    }
                }
            },
        }
    }

    /// The stack of a finished coroutine, for reuse.
    pub(crate) fn into_stack(mut self) -> Stack {
        self.stack.take().unwrap_or(Stack { size: 256 * 1024 })
    }
}

impl<I, Y, R> Drop for Coroutine<I, Y, R> {
    fn drop(&mut self) {
        self.force_unwind();
    }
}
