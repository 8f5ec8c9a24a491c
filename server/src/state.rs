//! Shared application state handed to every route group and background task.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::SharedStore;

/// A source of time, so tests and future code can control it.
pub trait Clock: Send + Sync + 'static {
    /// Unix time in seconds.
    fn now(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
    /// Unix time in milliseconds.
    fn now_millis(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

type ExtMap = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// Everything a handler needs. Cheap to clone: one reference count (every request's filters
/// clone it, and seven counters touched on every core showed in the relay's profile).
#[derive(Clone)]
pub struct AppState(Arc<StateInner>);

/// The fields of [`AppState`], reached through it (`state.store`, `state.config`, ...).
pub struct StateInner {
    /// Configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: SharedStore,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Authentication-failure rate limiter.
    pub limiter: Arc<RateLimiter>,
    shutdown: watch::Receiver<bool>,
    extensions: RwLock<ExtMap>,
}

impl std::ops::Deref for AppState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.0
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("listen", &self.config.listen)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state on a new temporary embedded store with `config` and the system clock, for unit
    /// tests; keep the sender (the shutdown signal) alive while the state is used.
    #[cfg(test)]
    pub(crate) fn for_tests(config: Config) -> (AppState, watch::Sender<bool>) {
        let store: SharedStore =
            Arc::new(crate::store::RedbStore::temporary().expect("a temporary store for a test"));
        let (tx, rx) = watch::channel(false);
        (AppState::new(config, store, Arc::new(SystemClock), rx), tx)
    }

    /// [`AppState::for_tests`] with the default config on a new temporary data directory (so
    /// its blobs land there too); keep the directory and the sender alive while it is used.
    #[cfg(test)]
    pub(crate) fn for_tests_in_temp_dir() -> (tempfile::TempDir, AppState, watch::Sender<bool>) {
        let dir = tempfile::tempdir().expect("a temporary data directory for a test");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let (state, tx) = AppState::for_tests(config);
        (dir, state, tx)
    }

    /// Builds the state. `shutdown` turns `true` when the relay begins shutting down.
    pub fn new(
        config: Config,
        store: SharedStore,
        clock: Arc<dyn Clock>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let limiter = RateLimiter::new(config.limits.auth_failures_per_minute);
        Self(Arc::new(StateInner {
            config: Arc::new(config),
            store,
            clock,
            metrics: Arc::new(Metrics::new()),
            limiter: Arc::new(limiter),
            shutdown,
            extensions: RwLock::new(HashMap::new()),
        }))
    }

    /// Unix time in seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A receiver that turns `true` when the relay shuts down; background tasks stop on it.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Stores a shared value of type `T` (e.g. a channel sender of a background task), replacing
    /// any previous one.
    pub fn insert_extension<T: Any + Send + Sync>(&self, value: T) {
        let mut map = self.extensions.write().unwrap_or_else(|p| p.into_inner());
        map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The shared value of type `T`, inserting `T::default()` on first use.
    pub fn extension_or_default<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        if let Some(v) = self.extension::<T>() {
            return v;
        }
        let mut map = self.extensions.write().unwrap_or_else(|p| p.into_inner());
        map.entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone()
            .downcast::<T>()
            .unwrap_or_else(|_| Arc::new(T::default()))
    }

    /// The shared value of type `T`, if one was inserted.
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let map = self.extensions.read().unwrap_or_else(|p| p.into_inner());
        map.get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }
}
