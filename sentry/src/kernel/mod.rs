//! The kernel layer: the state the syscall handlers work on.
//!
//! [`Kernel`] holds what the whole sandbox shares (the platform, the memory
//! file, the filesystem tree, the identity strings); [`task::Task`] holds one
//! app thread's state and runs it.
//!
//! Lock order: a task's own state is owned, not locked; inside it the memory
//! manager comes before the memory file's allocator, and a dentry's child map
//! before any Gofer call made while holding it.

pub mod fd_table;
pub mod task;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use abi::SYSCALL_COUNT;
use platform::Platform;

use crate::mm::MemoryFile;
use crate::vfs::Vfs;

/// The release string `uname -r` reports inside every sandbox.
pub const UTS_RELEASE: &str = "6.1.0-husk";
/// The version string `uname -v` reports.
pub const UTS_VERSION: &str = "#1 SMP Husk";

/// What the whole sandbox shares.
pub struct Kernel {
    /// How app threads run.
    pub platform: Box<dyn Platform>,
    /// The pages behind all app memory.
    pub memfile: Arc<MemoryFile>,
    /// The filesystem tree.
    pub vfs: Vfs,
    /// The sandbox's hostname.
    pub hostname: String,
    /// Print a line per syscall to stderr.
    pub strace: bool,
    /// When the sandbox booted (uptime, CLOCK_BOOTTIME-like answers).
    pub boot: Instant,
    /// Which unimplemented syscalls were logged already.
    enosys_logged: Box<[AtomicBool]>,
}

impl Kernel {
    /// A kernel over the given parts.
    pub fn new(
        platform: Box<dyn Platform>,
        memfile: Arc<MemoryFile>,
        vfs: Vfs,
        hostname: String,
        strace: bool,
    ) -> Self {
        Kernel {
            platform,
            memfile,
            vfs,
            hostname,
            strace,
            boot: Instant::now(),
            enosys_logged: (0..SYSCALL_COUNT.max(1024)).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Logs, once per syscall number, that the app called something Husk
    /// does not implement.
    pub fn log_unimplemented(&self, nr: u64) {
        let first = match self.enosys_logged.get(nr as usize) {
            Some(flag) => !flag.swap(true, Ordering::Relaxed),
            None => true,
        };
        if first {
            let name = abi::SYSCALL_NAMES
                .get(nr as usize)
                .copied()
                .filter(|n| !n.is_empty())
                .unwrap_or("unknown");
            log::warn!("unimplemented syscall {name} ({nr}): returning ENOSYS");
        }
    }
}

/// How the app ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit or exit_group with this status.
    Exited(u8),
    /// Killed by this signal.
    Signaled(u32),
}

impl ExitStatus {
    /// The status a shell reports: N, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => i32::from(c),
            ExitStatus::Signaled(s) => 128 + s as i32,
        }
    }
}
