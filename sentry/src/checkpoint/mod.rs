//! Checkpoint and restore: the whole sandbox written to an image, and a new
//! Sentry brought up from it.
//!
//! A checkpoint first freezes every task ([`Freezer`]): as Linux's freezer
//! does, it looks to each task like a signal with no handler, so a blocked
//! syscall returns its restart code and is rewound, and the task parks at
//! the top of its run loop with all of its state in the Sentry (registers,
//! FPU, masks, restart block). The kernel's objects are then written out
//! as plain data ([`image`]), shared objects once each, and the memory
//! file's pages into a file of their own at their own offsets. Restore
//! boots a Sentry over the same bundle (the rootfs, the mounts), loads the
//! memory file back at the same offsets (so every page reference in the
//! image stays valid), rebuilds the objects, reopens named files by path
//! (checking that a host file's size and mtime are unchanged), and starts
//! the tasks where they stopped.
//!
//! What a checkpoint does not cover yet it refuses by name
//! ([`CheckpointError::Unsupported`]), never writing an image that would
//! restore wrong.

pub mod image;
pub mod load;
mod memfs;
pub mod save;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use platform::{FpState, Regs};

pub use image::{Image, ImageError};
pub use load::restore_tasks;
pub use save::{checkpoint, thread_image};

use crate::kernel::fd_table::FdTable;
use crate::kernel::task::FsContext;
use crate::mm::MemoryManager;

/// How long a checkpoint waits for every task to park.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a checkpoint failed. The sandbox runs on as before.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The sandbox holds something a checkpoint does not cover yet.
    #[error("cannot checkpoint: {0} (not covered by checkpoints yet)")]
    Unsupported(String),
    /// Some tasks did not stop in time.
    #[error("cannot checkpoint: tasks {0:?} did not stop within 10 s (a host call in progress?)")]
    Busy(Vec<i32>),
    /// Another checkpoint is under way.
    #[error("a checkpoint of this sandbox is already in progress")]
    InProgress,
    /// The sandbox has ended.
    #[error("the sandbox has ended")]
    Ended,
    /// Writing the image failed.
    #[error("cannot write the image: {0}")]
    Io(String),
    /// Encoding failed.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The image cannot be read.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A file the image names changed on the host since the checkpoint.
    #[error("cannot restore: {path} changed since the checkpoint ({what})")]
    Changed {
        /// The file's path in the sandbox.
        path: String,
        /// What differs.
        what: String,
    },
    /// A file the image names cannot be opened again.
    #[error("cannot restore: cannot reopen {path}: {errno}")]
    Reopen {
        /// The file's path in the sandbox.
        path: String,
        /// Why.
        errno: abi::Errno,
    },
    /// The image contradicts itself (an index out of range, a thread
    /// without its process...).
    #[error("cannot restore: the image is inconsistent ({0})")]
    Inconsistent(String),
    /// Reading the pages failed.
    #[error("cannot restore: reading the pages: {0}")]
    Io(String),
    /// The checkpointed sandbox had a terminal, and the restore gives it
    /// none.
    #[error("cannot restore: the checkpointed sandbox had a terminal; restore it with one (process.terminal in config.json and --console-socket, or a terminal on husk restore's stdio)")]
    NoTerminal,
    /// The image kept files of an overlay on disk, and the restored
    /// sandbox's overlay there keeps them in memory.
    #[error("cannot restore: the overlay at {0} kept its files on disk; restore into an overlay on disk too (the dev.husk.overlay annotation, as at the checkpoint)")]
    NotOnDisk(String),
    /// The pages file does not fit its extents and checksums.
    #[error("cannot restore: {0}")]
    Pages(#[from] crate::mm::lazy::LoadError),
}

/// What a parked task left for the checkpoint: its private state, and the
/// objects it shares with others (to be written once each).
pub struct Parked {
    /// The general registers.
    pub regs: Regs,
    /// The FPU state, if the platform gave it.
    pub fp: Option<Box<FpState>>,
    /// The thread's private state, as the image keeps it (its `mm`, `fds`
    /// and `fs` indexes are filled in by the checkpoint).
    pub image: image::ThreadImage,
    /// The last switch stopped at a syscall whose result is not yet
    /// through signal delivery (its restart is still to be decided).
    pub in_syscall: bool,
    /// The address space.
    pub mm: Arc<Mutex<MemoryManager>>,
    /// The fd table.
    pub fds: Arc<Mutex<FdTable>>,
    /// Root, cwd, umask.
    pub fs: Arc<Mutex<FsContext>>,
    /// Its thread keyring.
    pub keyring: Option<Arc<crate::kernel::keys::KeyRef>>,
}

/// Stops every task at a point where all its state is the Sentry's.
#[derive(Default)]
pub struct Freezer {
    requested: AtomicBool,
    parked: Mutex<BTreeMap<i32, Parked>>,
    changed: Condvar,
}

impl Freezer {
    /// Whether tasks are asked to park: blocking calls give up as for a
    /// signal ([`crate::kernel::task::Task::interrupted`]).
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Called by a task at the top of its run loop while a freeze is
    /// requested: leaves its state and sleeps until the thaw.
    pub fn park(&self, tid: i32, state: Parked) {
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        parked.insert(tid, state);
        self.changed.notify_all();
        while self.requested() {
            parked = self.changed.wait(parked).unwrap_or_else(|e| e.into_inner());
        }
        parked.remove(&tid);
    }
}

/// A frozen sandbox; dropping it lets the tasks go on.
pub struct Frozen<'k> {
    kernel: &'k crate::kernel::Kernel,
}

impl Frozen<'_> {
    /// Runs `f` over what the parked tasks left.
    pub fn with_parked<T>(&self, f: impl FnOnce(&BTreeMap<i32, Parked>) -> T) -> T {
        f(&self.kernel.freezer.parked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let f = &self.kernel.freezer;
        let _guard = f.parked.lock().unwrap_or_else(|e| e.into_inner());
        f.requested.store(false, Ordering::Release);
        f.changed.notify_all();
    }
}

/// Freezes every task of `kernel`: each parks at the top of its run loop.
/// Fails, thawing those that parked, if some do not within
/// [`FREEZE_TIMEOUT`].
pub fn freeze(kernel: &crate::kernel::Kernel) -> Result<Frozen<'_>, CheckpointError> {
    let f = &kernel.freezer;
    if f.requested.swap(true, Ordering::AcqRel) {
        return Err(CheckpointError::InProgress);
    }
    let frozen = Frozen { kernel };
    if kernel.init_has_exited() {
        return Err(CheckpointError::Ended);
    }
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    loop {
        let live: Vec<_> = kernel.procs().threads.values().cloned().collect();
        let missing: Vec<i32> = {
            let parked = f.parked.lock().unwrap_or_else(|e| e.into_inner());
            live.iter().map(|t| t.tid).filter(|tid| !parked.contains_key(tid)).collect()
        };
        if missing.is_empty() {
            return Ok(frozen);
        }
        if Instant::now() >= deadline {
            return Err(CheckpointError::Busy(missing));
        }
        for t in live.iter().filter(|t| missing.contains(&t.tid)) {
            t.kick();
            // A stopped group sleeps on its stop state, not its waker.
            let _stopped = t.tg.stopped.lock().unwrap_or_else(|e| e.into_inner());
            t.tg.stop_cv.notify_all();
        }
        let parked = f.parked.lock().unwrap_or_else(|e| e.into_inner());
        let _ = f.changed.wait_timeout(parked, Duration::from_millis(20)).unwrap_or_else(|e| e.into_inner());
    }
}
