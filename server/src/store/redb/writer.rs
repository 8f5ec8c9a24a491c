//! Group commit: one thread owns redb's write transactions and commits the writes of every
//! request waiting at that moment together, with one fsync.
//!
//! redb runs one write transaction at a time and syncs each commit ([`redb::Durability::Immediate`],
//! its default). One transaction per request made every write wait for its own fsync behind all
//! the others (about 300 commits a second on this project's test machines, whatever the
//! number of cores). Here a request hands its write to the writer thread as a job and waits;
//! the writer takes every job queued (up to [`MAX_BATCH`]), runs them in order inside one
//! write transaction, commits once, and only then answers each of them. A write is therefore
//! acknowledged only once it is durable, as before, and a read (an MVCC read transaction) only
//! ever sees committed, synced data: readers never wait for a flush.
//!
//! Jobs run in arrival order and each sees the writes of the jobs before it, so the batch is
//! the same as running them one after another. A job that fails with a storage error (it may
//! have written part of its work) aborts the batch; every job of the batch is then run again
//! in a transaction of its own, so one failure never fails its neighbours.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, Durability, WriteTransaction};

use crate::store::StoreError;

/// Most jobs in one write transaction (bounds the work an fsync waits for).
const MAX_BATCH: usize = 512;

type Run = Box<dyn FnMut(&WriteTransaction) -> Result<(), StoreError> + Send>;
type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

struct Job {
    run: Run,
    /// Called with the outcome once the batch is committed (or failed).
    done: Done,
    /// Whether the job's caller keeps what it writes durable elsewhere ([`Writer::run_lazy`]):
    /// a batch of such jobs only is committed without a sync.
    lazy: bool,
}

/// The writer thread and its queue.
pub(super) struct Writer {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn stopped() -> StoreError {
    StoreError::Backend("the store's writer has stopped".to_owned())
}

impl Writer {
    /// Starts the writer thread of `db`.
    pub(super) fn start(db: Arc<Database>) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || serve(&db, &rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the store writer: {e}")))?;
        Ok(Self {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `f` in a write transaction shared with the other writes waiting now, and returns
    /// its result once that transaction is committed (durable). `f` may run more than once
    /// (see the module documentation): only its last run counts.
    pub(super) fn run<T: Send + 'static>(
        &self,
        f: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run_with(f, false)
    }

    /// [`Writer::run`] for a write whose loss in a crash its caller repairs (an upload's offset,
    /// recorded durably in its blob file): answered once committed, durable only with the next
    /// batch that has a job of [`Writer::run`] (redb's [`redb::Durability::None`]; a durable
    /// commit makes every earlier commit durable). A batch mixing both kinds is synced.
    pub(super) fn run_lazy<T: Send + 'static>(
        &self,
        f: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run_with(f, true)
    }

    fn run_with<T: Send + 'static>(
        &self,
        f: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
        lazy: bool,
    ) -> Result<T, StoreError> {
        let (tx, answer) = mpsc::sync_channel(1);
        self.submit_job(
            f,
            move |r| {
                let _ = tx.send(r);
            },
            lazy,
        )?;
        answer.recv().map_err(|_| stopped())?
    }

    /// Queues `f` for the next group commit without waiting: `done` gets `f`'s result (of its
    /// last run) once the transaction is committed, or the error (on the writer thread: keep
    /// it short). An async caller awaits a channel that `done` fills, and holds no thread
    /// meanwhile.
    pub(super) fn submit_with<T: Send + 'static>(
        &self,
        f: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
        done: impl FnOnce(Result<T, StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.submit_job(f, done, false)
    }

    fn submit_job<T: Send + 'static>(
        &self,
        mut f: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
        done: impl FnOnce(Result<T, StoreError>) + Send + 'static,
        lazy: bool,
    ) -> Result<(), StoreError> {
        let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let out = Arc::clone(&slot);
        let run: Run = Box::new(move |wtx| {
            let value = f(wtx)?;
            *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
            Ok(())
        });
        let done: Done = Box::new(move |r| {
            let value = r.and_then(|()| {
                slot.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .ok_or_else(stopped)
            });
            done(value);
        });
        self.enqueue(Job { run, done, lazy })
    }

    /// Queues `run` for the next group commit without waiting for it; `done` gets the outcome
    /// once it is committed (on the writer thread: keep it short). Such a write is lazy (see
    /// [`Writer::run_lazy`]): durable with the next synced batch, which every write issued
    /// after it and waited for is in or after.
    pub(super) fn submit(
        &self,
        run: impl FnMut(&WriteTransaction) -> Result<(), StoreError> + Send + 'static,
        done: impl FnOnce(Result<(), StoreError>) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.enqueue(Job {
            run: Box::new(run),
            done: Box::new(done),
            lazy: true,
        })
    }

    fn enqueue(&self, job: Job) -> Result<(), StoreError> {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }

    /// Stops the thread after the jobs queued so far.
    pub(super) fn stop(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(db: &Database, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match run_batch(db, &mut batch) {
            Ok(()) => {
                for job in batch {
                    (job.done)(Ok(()));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    (job.done)(Err(e));
                }
            }
            Err(_) => {
                // Each alone, so that only the failing one fails.
                for mut job in batch {
                    let result = run_batch(db, std::slice::from_mut(&mut job));
                    (job.done)(result);
                }
            }
        }
    }
}

fn run_batch(db: &Database, jobs: &mut [Job]) -> Result<(), StoreError> {
    let mut wtx = db
        .begin_write()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    if jobs.iter().all(|j| j.lazy) {
        wtx.set_durability(Durability::None)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
    }
    for job in jobs.iter_mut() {
        let result = catch_unwind(AssertUnwindSafe(|| (job.run)(&wtx))).unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "a store write panicked; nothing of it was written".to_owned(),
            ))
        });
        if let Err(e) = result {
            let _ = wtx.abort();
            return Err(e);
        }
    }
    wtx.commit().map_err(|e| StoreError::Backend(e.to_string()))
}
