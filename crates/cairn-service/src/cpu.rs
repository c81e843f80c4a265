//! The one way to run CPU-bound work from async code.

use std::sync::{Arc, LazyLock};

use tokio::sync::Semaphore;

use crate::ServiceError;

/// How many pieces of CPU work run at once: one per core. More would not
/// finish sooner on the same cores, and every blocking-pool thread that has
/// run such work keeps its own allocator pages, token-count memo and zstd
/// context: with one thread per concurrent request, 16 clients made 16 of each.
static CPU_SLOTS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(cpu_slots())));

fn cpu_slots() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Runs `work` on the blocking pool, inside the caller's tracing span, so an
/// async worker thread never stalls on hashing, zstd, tokenizing or rendering.
/// At most one piece of work per core runs at a time; the rest wait in order.
/// A panic in `work` becomes an internal error instead of taking the server down.
pub async fn spawn_cpu<F, R>(work: F) -> Result<R, ServiceError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot = CPU_SLOTS.clone().acquire_owned().await.map_err(failed)?;
    let span = tracing::Span::current();
    // The slot is freed when the work ends, even if the caller stopped waiting.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        span.in_scope(work)
    })
    .await
    .map_err(failed)
}

fn failed(error: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("background work failed: {error}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_work_runs_at_once_than_there_are_slots() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..4 * cpu_slots() {
            let (running, most) = (running.clone(), most.clone());
            tasks.push(tokio::spawn(spawn_cpu(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                i
            })));
        }
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.expect("the task ran").expect("the work ran"));
        }
        assert_eq!(done, (0..4 * cpu_slots()).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cpu_slots()).contains(&most),
            "{most} pieces of work ran at once, with {} slots",
            cpu_slots()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slot_is_held_until_the_work_ends_even_when_its_caller_gave_up() {
        // Every slot taken by work that waits for a signal; its callers are gone.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(released));
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..cpu_slots() {
            let (released, running) = (released.clone(), started.clone());
            let caller = tokio::spawn(spawn_cpu(move || {
                running.fetch_add(1, Ordering::SeqCst);
                let _ = released.lock().map(|released| released.recv());
            }));
            while started.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            started.store(0, Ordering::SeqCst);
            caller.abort();
        }
        let next = tokio::spawn(spawn_cpu(|| "ran"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !next.is_finished(),
            "work started while every slot was busy"
        );
        for _ in 0..cpu_slots() {
            release.send(()).expect("a waiting piece of work");
        }
        assert_eq!(
            next.await.expect("the task ran").expect("the work ran"),
            "ran"
        );
    }
}
