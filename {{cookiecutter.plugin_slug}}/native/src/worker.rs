//! One long-lived thread per Python runner, where that runner's calls run.
//!
//! A short job's cost is mostly the hand-off to another thread and back: waking a parked
//! thread, then waking the host's. Both sides therefore wait a little before they sleep: the
//! worker spins for the next call for `SPIN` after each call, and the job's future spins for
//! the answer for `SPIN` before it returns `Pending` (and is then woken as usual). A call that
//! takes longer than that (I/O, `time.sleep`) costs one spin, and the host's thread is free
//! for other jobs while it runs. The thread keeps its Python thread state between calls (see
//! `python::attach`) and ends when its runner is dropped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long either side waits, awake, for the other before it sleeps.
const SPIN: Duration = Duration::from_micros(50);

type Call = Box<dyn FnOnce() + Send>;

/// The sending end of a worker thread; the thread ends when every copy of this is dropped.
#[derive(Clone)]
pub struct Worker {
    calls: mpsc::Sender<Call>,
}

/// A call's answer: in hand already, or still running on the worker.
pub enum Answer<T> {
    Ready(T),
    Running(oneshot::Receiver<T>),
}

impl Worker {
    pub fn start() -> Result<Self, String> {
        let (calls, incoming) = mpsc::channel::<Call>();
        std::thread::Builder::new()
            .name("jobworkerp-python-bridge".to_string())
            .spawn(move || serve(&incoming))
            .map_err(|error| format!("cannot start the bridge's thread: {error}"))?;
        Ok(Self { calls })
    }

    /// Runs `call` on the worker thread; its answer arrives by spinning, or later by waking.
    /// `None` when the thread is gone.
    pub fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> Option<Answer<T>> {
        let (answer, mut received) = oneshot::channel();
        self.calls
            .send(Box::new(move || {
                let _ = answer.send(call());
            }))
            .ok()?;
        let started = Instant::now();
        loop {
            match received.try_recv() {
                Ok(value) => return Some(Answer::Ready(value)),
                Err(oneshot::error::TryRecvError::Closed) => return None,
                Err(oneshot::error::TryRecvError::Empty) if started.elapsed() < SPIN => {
                    std::thread::yield_now();
                }
                Err(oneshot::error::TryRecvError::Empty) => return Some(Answer::Running(received)),
            }
        }
    }

    /// Runs `call` on the worker thread without waiting for it.
    pub fn post(&self, call: impl FnOnce() + Send + 'static) -> bool {
        self.calls.send(Box::new(call)).is_ok()
    }
}

fn serve(incoming: &mpsc::Receiver<Call>) {
    loop {
        let started = Instant::now();
        let next = loop {
            match incoming.try_recv() {
                Ok(call) => break Some(call),
                Err(mpsc::TryRecvError::Disconnected) => break None,
                Err(mpsc::TryRecvError::Empty) if started.elapsed() < SPIN => {
                    std::thread::yield_now();
                }
                Err(mpsc::TryRecvError::Empty) => break incoming.recv().ok(),
            }
        };
        let Some(call) = next else { return };
        // A panic ends the call (its answer is dropped, so the job fails), not the thread.
        let _ = catch_unwind(AssertUnwindSafe(call));
    }
}
