//! The one model of `scrawl serve`, on a thread of its own.
//!
//! Inference reads the model through `&self` and writes only a [`Workspace`], so the
//! weights are held once. One thread runs it, with one workspace reused for every
//! request (no allocation per request but the answer), and answers a bounded queue of
//! jobs, one image at a time: the queue is the server's back-pressure, and a forward
//! pass already uses every core. A request waits for its answer on a oneshot channel, so the async
//! threads that read sockets never run a forward pass and `/healthz` never waits on
//! one. Each image is run on its own (a batch of one), so an answer never depends on
//! which other requests arrived at the same moment.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::model::{Sequential, Workspace};

/// Why a job got no probabilities.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The queue is full: the server is busy (503).
    Busy,
    /// The model thread has stopped: the server is shutting down (503).
    Stopped,
    /// The model failed on this input (500), with its message.
    Failed(String),
}

struct Job {
    pixels: Vec<u8>,
    answer: oneshot::Sender<Result<Vec<f32>, Refused>>,
}

/// A handle on the model thread; cloning it shares the same thread and queue.
#[derive(Clone)]
pub struct Inference {
    queue: SyncSender<Job>,
}

impl Inference {
    /// Moves `model` onto a new thread that answers at most `queue` waiting jobs.
    /// The thread ends when every handle is dropped and the queue is drained.
    pub fn start(model: Sequential, queue: usize) -> (Inference, JoinHandle<()>) {
        let (tx, rx) = sync_channel::<Job>(queue.max(1));
        // As many threads as the global pool, so that a forward pass splits its work
        // the same way and gives the same bits as `Sequential::predict_values` there.
        let threads = rayon::current_num_threads();
        let thread = std::thread::Builder::new()
            .name("scrawl-model".into())
            .spawn(move || {
                // The loop runs on a worker of a pool of its own, so that each forward
                // pass's parallel sections start from there, with no hand-over to a
                // pool and back per request. Not the global pool: a worker parked
                // here for the server's life would be one fewer for everything else,
                // and a few servers in one process would park them all.
                match rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("scrawl-model-{i}"))
                    .build()
                {
                    Ok(pool) => pool.install(move || Self::answer_all(&model, rx)),
                    // No threads to be had: each forward pass on the global pool.
                    Err(_) => Self::answer_all(&model, rx),
                }
            })
            .expect("spawn the model thread");
        (Inference { queue: tx }, thread)
    }

    fn answer_all(model: &Sequential, rx: std::sync::mpsc::Receiver<Job>) {
        let mut ws = Workspace::default();
        for job in rx {
            let x: Vec<f32> = job
                .pixels
                .iter()
                .map(|&p| (p as f64 / 255.0) as f32)
                .collect();
            // Defence in depth: a bug in a layer must cost one request, not
            // the model thread and with it every later request.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                model.predict_with(&x, &mut ws).map(<[f32]>::to_vec)
            }))
            .map_err(|_| {
                // The workspace may be half-written: start the next job afresh.
                ws = Workspace::default();
                Refused::Failed("the model panicked".into())
            })
            .and_then(|r| r.map_err(|e| Refused::Failed(e.to_string())));
            let _ = job.answer.send(result);
        }
    }

    /// The class probabilities of 784 grey levels (0-255), or why there are none.
    /// Never blocks the caller's thread: a full queue is answered at once.
    pub async fn predict(&self, pixels: Vec<u8>) -> Result<Vec<f32>, Refused> {
        let (answer, rx) = oneshot::channel();
        match self.queue.try_send(Job { pixels, answer }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Refused::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(Refused::Stopped),
        }
        rx.await.unwrap_or(Err(Refused::Stopped))
    }
}
