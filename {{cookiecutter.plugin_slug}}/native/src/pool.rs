//! The process-wide pool of warm, idle workers, keyed by the settings they were loaded with.
//!
//! JobWorkerP builds a new instance and calls `load()` for every job of a worker without
//! `use_static`: the instance takes a worker loaded with the same settings from here (no
//! process start, no Python `load()`), and gives it back when it is dropped. At most
//! `JOBWORKERP_BRIDGE_IDLE_WORKERS` (default 16) wait here, over all settings: past that the
//! one idle longest is stopped. One idle longer than `JOBWORKERP_BRIDGE_IDLE_SECONDS`
//! (default 60) is stopped too.

use crate::process::Worker;
use std::collections::HashMap;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

pub const IDLE_WORKERS_VARIABLE: &str = "JOBWORKERP_BRIDGE_IDLE_WORKERS";
pub const IDLE_SECONDS_VARIABLE: &str = "JOBWORKERP_BRIDGE_IDLE_SECONDS";
const DEFAULT_IDLE_WORKERS: usize = 16;
const DEFAULT_IDLE_SECONDS: u64 = 60;

struct Idle {
    worker: Worker,
    since: Instant,
}

static POOL: Mutex<Option<HashMap<Vec<u8>, Vec<Idle>>>> = Mutex::new(None);
static REAPER: Once = Once::new();

fn number<T: std::str::FromStr>(variable: &str, default: T) -> T {
    std::env::var(variable)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(default)
}

fn limit() -> usize {
    number(IDLE_WORKERS_VARIABLE, DEFAULT_IDLE_WORKERS)
}

fn idle_time() -> Duration {
    Duration::from_secs(number(IDLE_SECONDS_VARIABLE, DEFAULT_IDLE_SECONDS))
}

fn with_pool<R>(call: impl FnOnce(&mut HashMap<Vec<u8>, Vec<Idle>>) -> R) -> R {
    let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    call(pool.get_or_insert_with(HashMap::new))
}

/// A live worker loaded with `settings`, the one that went idle last.
pub fn take(settings: &[u8]) -> Option<Worker> {
    let mut dead = Vec::new();
    let found = with_pool(|pool| {
        let idle = pool.get_mut(settings)?;
        let mut found = None;
        while let Some(entry) = idle.pop() {
            if entry.worker.process.alive() {
                found = Some(entry.worker);
                break;
            }
            dead.push(entry);
        }
        if idle.is_empty() {
            pool.remove(settings);
        }
        found
    });
    // Stopped outside the lock (dropping a worker signals its group).
    drop(dead);
    found
}

/// Keeps an idle worker for the next instance with the same settings, or stops it.
pub fn give_back(settings: Vec<u8>, worker: Worker) {
    let limit = limit();
    if limit == 0 || !worker.process.alive() {
        return;
    }
    let retired = with_pool(|pool| {
        pool.entry(settings).or_default().push(Idle {
            worker,
            since: Instant::now(),
        });
        let mut retired = Vec::new();
        while pool.values().map(Vec::len).sum::<usize>() > limit {
            let oldest = pool
                .iter()
                .filter_map(|(key, idle)| idle.first().map(|entry| (key.clone(), entry.since)))
                .min_by_key(|(_, since)| *since);
            let Some((key, _)) = oldest else { break };
            if let Some(idle) = pool.get_mut(&key) {
                retired.push(idle.remove(0));
                if idle.is_empty() {
                    pool.remove(&key);
                }
            }
        }
        retired
    });
    drop(retired);
    REAPER.call_once(start_reaper);
}

/// Stops workers idle for longer than the idle time, checking every few seconds.
fn start_reaper() {
    let Ok(runtime) = crate::runtime() else {
        return;
    };
    runtime.spawn(async {
        loop {
            let idle_time = idle_time();
            let tick = (idle_time / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
            tokio::time::sleep(tick).await;
            let retired = with_pool(|pool| {
                let mut retired = Vec::new();
                for idle in pool.values_mut() {
                    let (old, kept): (Vec<Idle>, Vec<Idle>) = idle
                        .drain(..)
                        .partition(|entry| entry.since.elapsed() >= idle_time);
                    *idle = kept;
                    retired.extend(old);
                }
                pool.retain(|_, idle| !idle.is_empty());
                retired
            });
            drop(retired);
        }
    });
}
