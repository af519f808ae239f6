//! `NativeSyncClient` and `NativeSyncHandle`: the core's sync client on the
//! addon's own tokio runtime.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use iron_runtime_analytics::sync::SpoolStatus;
use iron_runtime_analytics::{SyncClient, SyncConfig, SyncHandle, SyncReport};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::js_error;
use crate::store::NativeStore;

/// The addon's own tokio runtime: sync loops, JSON and HTTP run on its
/// threads, never on the JS event loop.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("iron-analytics-sync")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| js_error(format!("cannot start the sync runtime: {e}")))
}

/// Durations and sizes of a `SyncConfig`, as the wrapper passes them (ms).
#[napi(object)]
pub struct JsSyncSettings {
    pub interval_ms: f64,
    pub batch_threshold: u32,
    pub timeout_ms: f64,
    pub max_in_flight: u32,
    pub backoff_initial_ms: f64,
    pub backoff_max_ms: f64,
    pub stop_deadline_ms: f64,
    pub max_batch: u32,
    pub threshold_check_ms: f64,
    pub max_event_bytes: u32,
    /// The spool directory, or none.
    pub spool_dir: Option<String>,
    pub spool_max_bytes: f64,
    pub spool_interval_ms: f64,
}

/// A delivery report.
#[napi(object)]
pub struct JsSyncReport {
    pub delivered: f64,
    pub rejected: f64,
    pub remaining: f64,
    pub spooled: f64,
    pub replayed: f64,
}

impl From<SyncReport> for JsSyncReport {
    fn from(r: SyncReport) -> Self {
        Self {
            delivered: r.delivered as f64,
            rejected: r.rejected as f64,
            remaining: r.remaining as f64,
            spooled: r.spooled as f64,
            replayed: r.replayed as f64,
        }
    }
}

/// The spool's state.
#[napi(object)]
pub struct JsSpoolStatus {
    pub dir: String,
    pub spooled: f64,
    pub file_bytes: f64,
    pub read_back: f64,
    pub left_out: f64,
    pub torn_records: f64,
    pub garbage_bytes: f64,
    pub unreadable_records: f64,
    pub write_errors: f64,
}

impl From<SpoolStatus> for JsSpoolStatus {
    fn from(s: SpoolStatus) -> Self {
        Self {
            dir: s.dir.display().to_string(),
            spooled: s.spooled as f64,
            file_bytes: s.file_bytes as f64,
            read_back: s.read_back as f64,
            left_out: s.left_out as f64,
            torn_records: s.torn_records as f64,
            garbage_bytes: s.garbage_bytes as f64,
            unreadable_records: s.unreadable_records as f64,
            write_errors: s.write_errors as f64,
        }
    }
}

/// An event the server refused (400/422).
#[napi(object)]
pub struct JsRejectedEvent {
    pub event_id: String,
    pub status: u32,
    pub error_code: Option<String>,
    pub message: String,
}

/// A transient failure of the last pass, as the JS `SyncError` wants it.
#[napi(object)]
pub struct JsSyncFailure {
    pub kind: String,
    pub message: String,
    pub status: Option<u32>,
    pub retry_after_ms: Option<f64>,
}

/// Warnings of the core's `log` output, kept for the wrapper to hand to
/// `console.warn` (the JS thread owns the console; these come from tokio's).
struct WarningQueue(Mutex<std::collections::VecDeque<String>>);

/// Warnings kept at most: the core warns once per kind, so this is plenty.
const MAX_WARNINGS: usize = 256;

impl log::Log for WarningQueue {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
            && metadata.target().starts_with("iron_runtime_analytics")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.len() == MAX_WARNINGS {
                queue.pop_front();
            }
            queue.push_back(format!("iron-runtime-analytics: {}", record.args()));
        }
    }

    fn flush(&self) {}
}

fn warnings() -> &'static WarningQueue {
    static QUEUE: OnceLock<WarningQueue> = OnceLock::new();
    QUEUE.get_or_init(|| WarningQueue(Mutex::default()))
}

pub(crate) fn install_logger() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Another logger may own `log` in this process (an embedding addon): then
        // the warnings go there instead, which is fine.
        if log::set_logger(warnings()).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    });
}

/// How many warnings wait to be taken (cheap: for the wrapper to skip the call).
pub(crate) fn warnings_pending() -> usize {
    warnings()
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}

/// Warnings logged by the sync loops since the last call, oldest first.
#[napi(catch_unwind)]
pub fn take_warnings() -> Vec<String> {
    warnings()
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain(..)
        .collect()
}

fn ms(v: f64) -> Duration {
    Duration::from_millis(v as u64)
}

/// `iron_runtime_analytics::SyncClient` over a native store.
#[napi]
pub struct NativeSyncClient {
    client: SyncClient,
}

#[napi]
impl NativeSyncClient {
    #[napi(constructor, catch_unwind)]
    pub fn new(
        store: &NativeStore,
        server_url: String,
        ic_token: String,
        s: JsSyncSettings,
    ) -> Result<Self> {
        let config = SyncConfig::new(server_url, ic_token)
            .with_interval(ms(s.interval_ms))
            .with_batch_threshold(s.batch_threshold as usize)
            .with_timeout(ms(s.timeout_ms))
            .with_max_in_flight(s.max_in_flight as usize)
            .with_backoff(ms(s.backoff_initial_ms), ms(s.backoff_max_ms))
            .with_stop_deadline(ms(s.stop_deadline_ms))
            .with_max_batch(s.max_batch as usize)
            .with_threshold_check(ms(s.threshold_check_ms))
            .with_max_event_bytes(s.max_event_bytes as usize)
            .with_spool_interval(ms(s.spool_interval_ms));
        let config = match s.spool_dir {
            Some(dir) => config.with_spool(dir, s.spool_max_bytes as u64),
            None => config,
        };
        install_logger();
        let client = SyncClient::try_new(store.inner.clone(), config).map_err(js_error)?;
        Ok(Self { client })
    }

    /// One pass, off the event loop; resolves to the number delivered.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn sync_events(&self) -> AsyncTask<SyncPass> {
        AsyncTask::new(SyncPass {
            client: self.client.clone(),
        })
    }

    /// The first transient failure of the last pass (manual or background), if any.
    #[napi(catch_unwind)]
    pub fn last_error(&self) -> Option<JsSyncFailure> {
        self.client.last_failure().map(|f| JsSyncFailure {
            kind: f.kind.to_owned(),
            message: f.message,
            status: f.status.map(u32::from),
            retry_after_ms: f.retry_after.map(|d| d.as_millis() as f64),
        })
    }

    /// Starts the background loop on the addon's runtime.
    #[napi(catch_unwind)]
    pub fn start(&self) -> Result<NativeSyncHandle> {
        let handle = self.client.clone().start(runtime()?.handle());
        Ok(NativeSyncHandle {
            handle: Arc::new(Mutex::new(Some(handle))),
        })
    }

    #[napi(catch_unwind)]
    pub fn rejected_events(&self) -> Vec<JsRejectedEvent> {
        self.client
            .rejected_events()
            .into_iter()
            .map(|r| JsRejectedEvent {
                event_id: r.event_id.to_string(),
                status: u32::from(r.status),
                error_code: r.error_code,
                message: r.message,
            })
            .collect()
    }

    #[napi(catch_unwind)]
    pub fn delivered_count(&self) -> f64 {
        self.client.delivered_count() as f64
    }

    #[napi(catch_unwind)]
    pub fn rejected_count(&self) -> f64 {
        self.client.rejected_count() as f64
    }

    /// The spool's state, or none without a spool.
    #[napi(catch_unwind)]
    pub fn spool_status(&self) -> Option<JsSpoolStatus> {
        self.client.spool_status().map(JsSpoolStatus::from)
    }

    /// Writes the undelivered events to the spool now, synchronously (for
    /// the process's `exit` event); how many it holds, or none.
    #[napi(catch_unwind)]
    pub fn spool_now(&self) -> Option<f64> {
        self.client.spool_now().map(|n| n as f64)
    }

    /// Writes the spool one last time and releases its directory.
    #[napi(catch_unwind)]
    pub fn close_spool(&self) -> Option<f64> {
        self.client.close_spool().map(|n| n as f64)
    }
}

/// The blocking part of [`NativeSyncClient::sync_events`], on the libuv pool.
pub struct SyncPass {
    client: SyncClient,
}

impl Task for SyncPass {
    type Output = u32;
    type JsValue = u32;

    fn compute(&mut self) -> Result<Self::Output> {
        // A transient failure is not an exception in JS: what was delivered
        // before it counts, and `lastError()` says what went wrong.
        Ok(runtime()?.block_on(self.client.sync_pass()).delivered as u32)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// A running background loop.
#[napi]
pub struct NativeSyncHandle {
    handle: Arc<Mutex<Option<SyncHandle>>>,
}

impl Drop for NativeSyncHandle {
    /// Collected by the garbage collector while still running: stop it
    /// without blocking the JS thread (inside the runtime's context, the
    /// core's drop spools at once and flushes in the background).
    fn drop(&mut self) {
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let (Some(handle), Ok(runtime)) = (handle, runtime()) {
            let _context = runtime.enter();
            drop(handle);
        }
    }
}

#[napi]
impl NativeSyncHandle {
    /// Flushes and stops (bounded by the stop deadline), off the event loop.
    #[napi(catch_unwind, ts_return_type = "Promise<JsSyncReport>")]
    pub fn stop(&self) -> AsyncTask<StopTask> {
        AsyncTask::new(StopTask {
            handle: self.handle.clone(),
        })
    }

    #[napi(catch_unwind)]
    pub fn report(&self) -> JsSyncReport {
        let guard = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .map(SyncHandle::report)
            .unwrap_or_default()
            .into()
    }
}

/// The blocking part of [`NativeSyncHandle::stop`].
pub struct StopTask {
    handle: Arc<Mutex<Option<SyncHandle>>>,
}

impl Task for StopTask {
    type Output = SyncReport;
    type JsValue = JsSyncReport;

    fn compute(&mut self) -> Result<Self::Output> {
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Ok(handle.map(SyncHandle::stop).unwrap_or_default())
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output.into())
    }
}
