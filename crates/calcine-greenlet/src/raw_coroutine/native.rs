//! corosensei backend: a real stack switch on a pooled, guard-paged stack.

use corosensei::stack::Stack as _;

pub(crate) use corosensei::{Coroutine, CoroutineResult, Yielder};

/// A coroutine stack: `mmap`ed, with a guard page below it.
pub(crate) type Stack = corosensei::stack::DefaultStack;

/// Allocates a stack of at least `size` usable bytes (plus the guard page).
pub(crate) fn new_stack(size: usize) -> std::io::Result<Stack> {
    Stack::new(size)
}

/// Usable bytes of `stack`.
pub(crate) fn stack_size(stack: &Stack) -> usize {
    stack.base().get() - stack.limit().get()
}

/// Creates a coroutine running `body` on `stack`.
///
/// # Safety
/// Everything `body` borrows must stay valid until the coroutine has returned or has been
/// dropped (dropping unwinds it). The caller (`Greenlet`) owns the coroutine and is itself
/// bounded by the lifetime of what `body` borrows, so the borrow checker enforces this for
/// every safe path; `mem::forget` of the owner leaks the stack and never runs the body again.
pub(crate) unsafe fn new_coroutine<'a, I, Y, R, F>(stack: Stack, body: F) -> Coroutine<I, Y, R>
where
    F: FnOnce(&Yielder<I, Y>, I) -> R + 'a,
{
    // SAFETY: forwarded to our caller, see above.
    unsafe { Coroutine::with_stack_unchecked(stack, body) }
}
