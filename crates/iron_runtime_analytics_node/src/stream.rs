//! The stream of a streaming store, read off the event loop, in the same
//! packed form as snapshots.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use iron_runtime_analytics::StreamReceiver;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::packed::{pack_events, pack_events_owned, PackedEvents, PackedEventsOwned};
use crate::store::NativeStore;

#[napi]
impl NativeStore {
    #[napi(catch_unwind)]
    pub fn stream_dropped_count(&self) -> f64 {
        self.inner.stream_dropped_count() as f64
    }

    /// Closes the stream: the channel disconnects, so later events are no
    /// longer offered to it (nor counted as dropped).
    #[napi(catch_unwind)]
    pub fn close_stream(&self) {
        self.stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Streamed events already waiting (at most `max`), without waiting.
    #[napi(catch_unwind)]
    pub fn try_recv_packed<'env>(&self, env: &'env Env, max: u32) -> Result<PackedEvents<'env>> {
        let (rx, _) = self.receiver()?;
        let events: Vec<_> = rx.try_iter().take(max.max(1) as usize).collect();
        pack_events(env, &events)
    }

    /// Waits (off the event loop, on the libuv pool) up to `timeout_ms` for
    /// streamed events; resolves to at most `max` events, packed.
    #[napi(catch_unwind, ts_return_type = "Promise<PackedEventsOwned>")]
    pub fn recv_batch(&self, max: u32, timeout_ms: u32) -> Result<AsyncTask<RecvBatch>> {
        let (rx, closed) = self.receiver()?;
        Ok(AsyncTask::new(RecvBatch {
            rx,
            closed,
            max: max.max(1) as usize,
            timeout: Duration::from_millis(timeout_ms.into()),
        }))
    }
}

/// The blocking part of [`NativeStore::recv_batch`].
pub struct RecvBatch {
    rx: Arc<StreamReceiver>,
    /// Disconnects when the stream is closed: the wait ends at once.
    closed: crossbeam_channel::Receiver<()>,
    max: usize,
    timeout: Duration,
}

impl Task for RecvBatch {
    type Output = PackedEventsOwned;
    type JsValue = PackedEventsOwned;

    fn compute(&mut self) -> Result<Self::Output> {
        let mut events = Vec::new();
        crossbeam_channel::select! {
            recv(self.rx) -> first => events.extend(first.ok()),
            // Closed: whatever the channel still holds, then done.
            recv(self.closed) -> _ => {}
            default(self.timeout) => {}
        }
        events.extend(self.rx.try_iter().take(self.max - events.len()));
        pack_events_owned(&events)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}
