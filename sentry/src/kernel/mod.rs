//! The kernel layer: the state the syscall handlers work on.
//!
//! [`Kernel`] holds what the whole sandbox shares: the platform, the memory
//! file, the filesystem tree, the process tree and the futex table.
//! [`task::Task`] is one app thread; each runs on a host thread of its own.
//!
//! Lock order, outermost first: `Kernel::procs` (the process tree), then a
//! thread group's locks (`sighand`, `pending`, `creds`, `exiting`) or a
//! terminal's state ([`tty`]), then a task's memory manager, then the memory file's allocator. A dentry's child
//! map is held across the Gofer lookup that fills it; nothing else is held
//! during a Gofer call or while a task sleeps.

pub mod aio;
pub mod caps;
pub mod console;
pub mod fasync;
pub mod fd_table;
pub mod futex;
pub mod ipc;
pub mod keys;
pub mod ldisc;
pub mod lease;
pub mod locks;
pub mod nat;
pub mod ns;
pub mod process;
pub mod ptrace;
pub mod pty;
pub mod seccomp;
pub mod signal;
pub mod task;
pub mod timer;
pub mod tty;
pub mod usage;
pub mod vdso;
pub mod waiter;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use abi::SYSCALL_COUNT;
use platform::Platform;

use crate::mm::MemoryFile;
use crate::vfs::Vfs;
use process::ProcessTable;

/// The release string `uname -r` reports inside every sandbox.
pub const UTS_RELEASE: &str = "6.1.0-husk";
/// The version string `uname -v` reports.
pub const UTS_VERSION: &str = "#1 SMP Husk";

/// How many distinct syscall numbers past the table are logged as
/// unimplemented; after that, they are not logged at all.
const MAX_WILD_LOGGED: usize = 64;

thread_local! {
    /// How many guards of the process tree this host thread holds.
    static PROCS_HELD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The process tree, locked ([`Kernel::procs`]): its thread knows it holds
/// it ([`procs_held`]).
pub struct ProcsGuard<'a>(std::sync::MutexGuard<'a, ProcessTable>);

impl std::ops::Deref for ProcsGuard<'_> {
    type Target = ProcessTable;
    fn deref(&self) -> &ProcessTable {
        &self.0
    }
}

impl std::ops::DerefMut for ProcsGuard<'_> {
    fn deref_mut(&mut self) -> &mut ProcessTable {
        &mut self.0
    }
}

impl Drop for ProcsGuard<'_> {
    fn drop(&mut self) {
        PROCS_HELD.with(|h| h.set(h.get().saturating_sub(1)));
    }
}

/// Whether this host thread holds the process tree: what it does must not
/// take it again (a file closed as a process exits cannot signal then).
pub fn procs_held() -> bool {
    PROCS_HELD.with(|h| h.get() > 0)
}

/// What the whole sandbox shares.
pub struct Kernel {
    /// How app threads run.
    pub platform: Box<dyn Platform>,
    /// The pages behind all app memory.
    pub memfile: Arc<MemoryFile>,
    /// The vDSO every process gets (none where this build has no image,
    /// or its pages could not be had).
    pub vdso: Option<Arc<vdso::Vdso>>,
    /// The filesystem tree.
    pub vfs: Vfs,
    /// The sandbox's host and domain names (its own UTS namespace).
    pub uts: Mutex<UtsNames>,
    /// The namespaces processes made inside the sandbox: their counts,
    /// bounds and inode numbers.
    pub namespaces: ns::NsRegistry,
    /// Print a line per syscall to stderr.
    pub strace: bool,
    /// When the sandbox booted (uptime).
    pub boot: Instant,
    /// The process tree.
    pub procs: Mutex<ProcessTable>,
    /// Futex waiters.
    pub futexes: futex::FutexTable,
    /// The terminal of `husk run`'s stdio, if it is one: init's session's
    /// controlling terminal at boot.
    pub console: OnceLock<Arc<tty::Tty>>,
    /// The init process's exit status, once it has exited.
    init_exit: Mutex<Option<ExitStatus>>,
    init_exit_cv: Condvar,
    /// Host threads running tasks, joined when the sandbox ends.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Where to report the exit of each process started from outside the
    /// sandbox (`husk exec`), by pid.
    external: Mutex<HashMap<i32, mpsc::Sender<ExitStatus>>>,
    /// The names Unix sockets are bound to.
    pub unix_names: crate::vfs::unix::Namespace,
    /// The network outside the loopback (`--network nat`); unset: the
    /// loopback is all there is.
    pub nat: OnceLock<Arc<nat::Nat>>,
    /// The timer thread's deadlines (timerfd, setitimer, alarm).
    pub timers: timer::Timers,
    /// System V IPC objects and POSIX message queues: the sandbox's own
    /// IPC namespace.
    pub ipc: ipc::IpcNamespace,
    /// The filesystem memfd_create's files live on (in no directory).
    pub memfd_fs: Arc<crate::vfs::tmpfs::MemFs>,
    /// The filesystem, mounted nowhere, of the copies a checkpoint makes
    /// of host files deleted while open or mapped (and a restore brings
    /// back as in-memory files).
    pub deleted_fs: Arc<crate::vfs::tmpfs::MemFs>,
    /// The sandbox's pseudo-terminals (its one devpts instance).
    pub ptys: Arc<pty::PtyRegistry>,
    /// Linux AIO contexts (io_setup).
    pub aio: aio::AioRegistry,
    /// File owners' signals waiting for the timer thread.
    pub sigio: Arc<fasync::Deferred>,
    /// The sandbox's keys and keyrings (add_key, keyctl).
    pub keys: Arc<keys::KeyTable>,
    /// The file handles made (name_to_handle_at).
    pub handles: crate::vfs::handles::HandleTable,
    /// Stops every task for a checkpoint.
    pub freezer: crate::checkpoint::Freezer,
    /// Which unimplemented syscalls were logged already.
    enosys_logged: Box<[AtomicBool]>,
    /// The same, for numbers past `enosys_logged`.
    enosys_wild: Mutex<std::collections::BTreeSet<u64>>,
    /// The sandbox's cgroup limits, which a sysfs mounted at run time
    /// shows as the one mounted at boot does.
    pub cgroup_limits: OnceLock<crate::vfs::sysfs::CgroupLimits>,
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
            ipc: ipc::IpcNamespace::new(memfile.clone()),
            memfd_fs: crate::vfs::tmpfs::MemFs::new(crate::vfs::tmpfs::FsKind::Tmpfs, memfile.clone()),
            deleted_fs: crate::vfs::tmpfs::MemFs::new(crate::vfs::tmpfs::FsKind::Tmpfs, memfile.clone()),
            ptys: pty::PtyRegistry::new(),
            vdso: vdso::Vdso::new(&memfile).unwrap_or_else(|e| {
                log::warn!("vdso: no pages for it ({e}); clocks are read by syscall");
                None
            }),
            aio: aio::AioRegistry::default(),
            sigio: fasync::Deferred::new(),
            keys: keys::KeyTable::new(),
            handles: Default::default(),
            memfile,
            vfs,
            uts: Mutex::new(UtsNames { hostname: hostname.into_bytes(), domainname: b"(none)".to_vec() }),
            namespaces: ns::NsRegistry::default(),
            strace,
            boot: Instant::now(),
            procs: Mutex::new(ProcessTable::default()),
            futexes: futex::FutexTable::default(),
            console: OnceLock::new(),
            init_exit: Mutex::new(None),
            init_exit_cv: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            external: Mutex::new(HashMap::new()),
            unix_names: crate::vfs::unix::Namespace::default(),
            nat: OnceLock::new(),
            timers: timer::Timers::default(),
            freezer: Default::default(),
            enosys_logged: (0..SYSCALL_COUNT.max(1024)).map(|_| AtomicBool::new(false)).collect(),
            enosys_wild: Mutex::new(std::collections::BTreeSet::new()),
            cgroup_limits: OnceLock::new(),
        }
    }

    /// Logs, once per syscall number, that the app called something Husk
    /// does not implement.
    pub fn log_unimplemented(&self, nr: u64) {
        let first = match self.enosys_logged.get(nr as usize) {
            Some(flag) => !flag.swap(true, Ordering::Relaxed),
            // Numbers past the table: remembered in a set, up to a bound, so
            // an app looping over a wild number cannot flood the log.
            None => {
                let mut wild = self.enosys_wild.lock().unwrap_or_else(|e| e.into_inner());
                wild.len() < MAX_WILD_LOGGED && wild.insert(nr)
            }
        };
        if first {
            let name = abi::SYSCALL_NAMES.get(nr as usize).copied().filter(|n| !n.is_empty()).unwrap_or("unknown");
            log::warn!("unimplemented syscall {name} ({nr}): returning ENOSYS");
        }
    }

    /// The process tree, locked.
    pub fn procs(&self) -> ProcsGuard<'_> {
        let guard = self.procs.lock().unwrap_or_else(|e| e.into_inner());
        PROCS_HELD.with(|h| h.set(h.get() + 1));
        ProcsGuard(guard)
    }

    /// Records a task's host thread, to be joined at the end.
    pub fn adopt_thread(&self, h: JoinHandle<()>) {
        let mut t = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        t.retain(|h| !h.is_finished());
        t.push(h);
    }

    /// Called when the init process has exited: ends every other process.
    pub fn init_exited(&self, status: ExitStatus) {
        *self.init_exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        self.init_exit_cv.notify_all();
        self.end_all(ExitStatus::Signaled(abi::flags::signal::SIGKILL));
    }

    /// Ends every process with `status`, as SIGKILL does (a checkpoint
    /// that does not leave the sandbox running, and init's end).
    pub fn end_all(&self, status: ExitStatus) {
        let procs = self.procs();
        for p in procs.procs.values() {
            p.tg.begin_exit(status);
            for t in &p.threads {
                t.kick();
            }
        }
    }

    /// Registers where the exit status of process `pid`, started from
    /// outside the sandbox, goes.
    pub fn watch_external(&self, pid: i32, to: mpsc::Sender<ExitStatus>) {
        self.external.lock().unwrap_or_else(|e| e.into_inner()).insert(pid, to);
    }

    /// Called when a process started from outside has exited.
    pub fn external_exited(&self, pid: i32, status: ExitStatus) {
        if let Some(to) = self.external.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid) {
            // The receiver may be gone (the runtime stopped listening).
            let _ = to.send(status);
        }
    }

    /// Whether init has exited.
    pub fn init_has_exited(&self) -> bool {
        self.init_exit.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Waits for init to exit, then for every task thread to finish.
    pub fn wait_for_end(&self) -> ExitStatus {
        let mut s = self.init_exit.lock().unwrap_or_else(|e| e.into_inner());
        while s.is_none() {
            s = self.init_exit_cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        let status = s.unwrap_or(ExitStatus::Exited(0));
        drop(s);
        loop {
            let handles: Vec<JoinHandle<()>> =
                std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
            if handles.is_empty() {
                break;
            }
            for h in handles {
                let _ = h.join();
            }
        }
        status
    }
}

/// The names uname reports that the sandbox may change (sethostname,
/// setdomainname).
#[derive(Clone, Debug)]
pub struct UtsNames {
    /// nodename.
    pub hostname: Vec<u8>,
    /// domainname.
    pub domainname: Vec<u8>,
}

impl Kernel {
    /// The host and domain names now.
    pub fn uts_names(&self) -> UtsNames {
        self.uts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The host and domain names in the UTS namespace of `ns`.
    pub fn uts_names_in(&self, ns: &ns::NsSet) -> UtsNames {
        match &ns.uts {
            Some(u) => u.names.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None => self.uts_names(),
        }
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit or exit_group with this status.
    Exited(u8),
    /// Killed by this signal.
    Signaled(u32),
    /// Killed by this signal, with a core dump reported.
    Dumped(u32),
}

impl ExitStatus {
    /// The status a shell reports: N, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => i32::from(c),
            ExitStatus::Signaled(s) | ExitStatus::Dumped(s) => 128 + s as i32,
        }
    }

    /// The status word wait4 reports.
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => i32::from(c) << 8,
            ExitStatus::Signaled(s) => s as i32,
            ExitStatus::Dumped(s) => s as i32 | 0x80,
        }
    }
}
