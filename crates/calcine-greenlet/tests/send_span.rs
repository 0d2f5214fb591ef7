//! A10, `Send` mode: the caller's `tracing` span is the parent of the spans created in the
//! greenlet on its home thread. Own test binary, since it installs a global subscriber.

#![allow(clippy::unwrap_used)]

use calcine_greenlet::{await_, spawn_send};
use tracing::Subscriber;
use tracing_subscriber::registry::{LookupSpan, Registry};

fn parent_name_of(span: &tracing::Span) -> Option<String> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(&span.id()?)?;
        span.parent().map(|p| p.name().to_owned())
    })
}

fn current_span_name() -> Option<String> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let id = dispatch.current_span().id()?.clone();
        registry.span(&id).map(|s| s.name().to_owned())
    })
}

#[test]
fn callers_span_is_the_parent_of_the_works_spans() {
    fn _is_subscriber<S: Subscriber>() {}
    _is_subscriber::<Registry>();
    tracing::subscriber::set_global_default(Registry::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (outer_in_work, parent_of_inner) = rt.block_on(async {
        let request = tracing::info_span!("request");
        let _enter = request.enter();
        tokio::spawn(spawn_send(|| {
            let outer = current_span_name();
            await_(tokio::task::yield_now()).unwrap();
            // A span created after a suspension (as a per-statement span would be).
            let inner = tracing::info_span!("db_work");
            await_(tokio::task::yield_now()).unwrap();
            (outer, parent_name_of(&inner))
        }))
        .await
        .unwrap()
    });
    assert_eq!(outer_in_work.as_deref(), Some("request"));
    assert_eq!(parent_of_inner.as_deref(), Some("request"));
}
