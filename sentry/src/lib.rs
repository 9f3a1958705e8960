//! The Sentry: Husk's kernel in user space.
//!
//! It implements the Linux syscall ABI for the sandboxed app. The app runs in
//! a stub process that the [`platform`] controls; each syscall it makes stops
//! there and is handled here, against state the Sentry owns: the memory
//! manager over one memory file ([`mm`]), the file tree served by the Gofer
//! ([`vfs`]), and the task's descriptors, credentials and limits
//! ([`kernel`]). Handlers are grouped by family under [`syscalls`], as in
//! gVisor. The app's syscalls never reach the host kernel, and the Sentry
//! opens no host path of the app's: files come from the Gofer as donated fds.
//!
//! The runtime calls [`Sandbox::boot`] and then [`Sandbox::run`].
#![deny(unsafe_code)]

pub mod kernel;
pub mod loader;
pub mod mm;
mod sys;
pub mod syscalls;
pub mod vfs;

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use abi::Errno;
use platform::{Platform, PlatformError};

use kernel::fd_table::FdTable;
use kernel::process::{Credentials, ProcState, Process, ThreadGroup};
use kernel::signal::SigHandlers;
use kernel::task::{FsContext, Task, TaskHandle, TaskParts};
use kernel::Kernel;
pub use kernel::{ExitStatus, UTS_RELEASE};
use mm::{MemoryFile, MemoryManager};
use vfs::{Follow, Vfs};

/// Virtual size of the memory file. It is sparse: only touched pages cost.
const MEMORY_FILE_SIZE: u64 = 64 << 30;

/// Platforms the Sentry can run on.
pub const PLATFORMS: &[&str] = &["ptrace", "systrap"];

/// The platform to use when none is named: systrap where the host supports
/// it (seccomp `SECCOMP_RET_TRAP` and a working stub, checked once by
/// starting one), ptrace otherwise, with a log line saying why.
pub fn default_platform() -> &'static str {
    static CHOICE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    CHOICE.get_or_init(|| match platform::systrap::probe() {
        Ok(()) => "systrap",
        Err(e) => {
            log::info!("systrap platform unavailable ({e}); using ptrace");
            "ptrace"
        }
    })
}

/// What to run and how.
pub struct SandboxConfig {
    /// The program's path inside the rootfs; also argv\[0\]'s default.
    pub program: Vec<u8>,
    /// argv.
    pub argv: Vec<Vec<u8>>,
    /// The environment, `KEY=VALUE` each.
    pub envp: Vec<Vec<u8>>,
    /// The working directory inside the sandbox.
    pub cwd: Vec<u8>,
    /// The sandbox's hostname.
    pub hostname: String,
    /// `--strace`.
    pub strace: bool,
    /// `--platform`.
    pub platform: String,
    /// The app's fds 0, 1 and 2.
    pub stdio: Vec<OwnedFd>,
    /// The uid and gid the app runs as.
    pub user: (u32, u32),
}

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The memory file could not be created.
    #[error("creating the memory file: {0}")]
    MemoryFile(#[source] std::io::Error),
    /// The platform could not start.
    #[error("platform: {0}")]
    Platform(#[from] PlatformError),
    /// `--platform` named something unknown.
    #[error("unknown platform {0:?} (known: {known})", known = PLATFORMS.join(", "))]
    UnknownPlatform(String),
    /// The rootfs could not be attached through the Gofer.
    #[error("attaching the rootfs: {0}")]
    Rootfs(Errno),
    /// The working directory is not a directory of the rootfs.
    #[error("working directory {path}: {errno}")]
    Cwd {
        /// The path.
        path: String,
        /// Why.
        errno: Errno,
    },
    /// The program could not be loaded.
    #[error("{path}: {reason}", reason = exec_reason(*errno))]
    Exec {
        /// The program.
        path: String,
        /// Why, as execve would say it.
        errno: Errno,
    },
}

fn exec_reason(e: Errno) -> String {
    match e {
        Errno::ENOENT => "no such file in the rootfs".into(),
        Errno::ENOEXEC => "not an ELF executable for this architecture".into(),
        Errno::EACCES => "not an executable regular file".into(),
        Errno::ELIBBAD => "its ELF interpreter is not usable".into(),
        e => format!("cannot execute ({e})"),
    }
}

fn new_platform(name: &str, mf: &MemoryFile) -> Result<Box<dyn Platform>, BootError> {
    match name {
        "ptrace" => Ok(Box::new(platform::ptrace::PtracePlatform::new(mf.fd())?)),
        "systrap" => Ok(Box::new(platform::systrap::SystrapPlatform::new(mf.fd())?)),
        other => Err(BootError::UnknownPlatform(other.to_string())),
    }
}

/// Mounts the in-Sentry filesystems: a tmpfs at /tmp, the device
/// filesystem at /dev and a tmpfs at /dev/shm (all over whatever the rootfs
/// has there, or on mount points made for them). A mount that cannot be made
/// is logged and skipped.
fn mount_filesystems(vfs: &Vfs, mf: &Arc<MemoryFile>) {
    use vfs::tmpfs::{FsKind, MemFs};
    let tmp = MemFs::new(FsKind::Tmpfs, mf.clone()).new_root(0o1777, 0, 0);
    let mounts: [(&str, Result<Arc<vfs::Dentry>, Errno>); 3] = [
        ("/tmp", Ok(tmp)),
        ("/dev", vfs::devfs::new(mf.clone())),
        ("/dev/shm", Ok(MemFs::new(FsKind::Tmpfs, mf.clone()).new_root(0o1777, 0, 0))),
    ];
    for (path, root) in mounts {
        if let Err(e) = root.and_then(|r| vfs.mount_at(path.as_bytes(), r)) {
            log::warn!("cannot mount {path}: {e}");
        }
    }
}

/// A booted sandbox, ready to run its first task.
pub struct Sandbox {
    kernel: Arc<Kernel>,
    init: Task,
}

/// Sends signals from outside the sandbox into it.
#[derive(Clone)]
pub struct Signaller(Arc<Kernel>);

impl Signaller {
    /// Sends `sig` to the sandbox's pid 1. Init ignores signals it has no
    /// handler for, except SIGKILL and SIGSTOP, as a pid namespace's init does.
    pub fn send(&self, sig: u32) {
        let info = kernel::signal::SigInfo::from_sender(sig, kernel::signal::code::SI_USER, 0, 0);
        let _ = kernel::task::exit::send_to_process(&self.0, 1, info, None);
    }

    /// Delivers `sig` as the terminal generates it (`si_code` SI_KERNEL) to
    /// the console's foreground process group, or to init if there is no
    /// console: for the signals the host's line discipline sent the Sentry
    /// (SIGINT, SIGQUIT, SIGTSTP from ^C, ^\ and ^Z; SIGWINCH, which is
    /// passed on only if the window size changed since the app last heard).
    pub fn send_to_foreground(&self, sig: u32) {
        if sig == 0 || sig > kernel::signal::NSIG {
            return;
        }
        match self.0.console.get() {
            Some(tty) => kernel::tty::signal_foreground(&self.0, tty, sig),
            None => kernel::task::exit::kernel_signal_group(&self.0, &mut self.0.procs(), 1, sig),
        }
    }
}

impl Sandbox {
    /// Builds the kernel, attaches the rootfs through the Gofer connection
    /// `gofer`, and loads the program into the first task.
    pub fn boot(cfg: SandboxConfig, gofer: OwnedFd) -> Result<Sandbox, BootError> {
        let mf = Arc::new(MemoryFile::new(MEMORY_FILE_SIZE).map_err(BootError::MemoryFile)?);
        let platform = new_platform(&cfg.platform, &mf)?;
        let vfs = Vfs::new(Arc::new(gofer::GoferClient::new(gofer))).map_err(BootError::Rootfs)?;
        mount_filesystems(&vfs, &mf);
        let root = vfs.root().clone();
        let cwd = vfs.resolve(&root, &root, &cfg.cwd, Follow::Yes).and_then(|d| {
            if d.is_dir() {
                Ok(d)
            } else {
                Err(Errno::ENOTDIR)
            }
        });
        let cwd = cwd.map_err(|errno| BootError::Cwd { path: String::from_utf8_lossy(&cfg.cwd).into(), errno })?;
        let exec_err = |errno: Errno| BootError::Exec { path: String::from_utf8_lossy(&cfg.program).into(), errno };
        let (exe, argv, _) =
            kernel::task::exec::resolve_program(&vfs, &root, &cwd, &cfg.program, cfg.argv.clone()).map_err(exec_err)?;

        let (min, max) = (platform.min_user_address(), platform.max_user_address());
        let kernel = Arc::new(Kernel::new(platform, mf.clone(), vfs, cfg.hostname, cfg.strace));
        let mut mm = MemoryManager::new(mf, min, max);
        let mut fds = FdTable::default();
        let (files, console) = kernel::tty::stdio_files(cfg.stdio);
        for (n, file) in files {
            let _ = fds.insert_at(n, file, false, u64::MAX);
        }
        // A terminal on stdio is init's session's controlling terminal, with
        // init's group in the foreground, as a login shell's would be.
        if let Some(tty) = &console {
            tty.set_session(1, 1);
            let _ = kernel.console.set(tty.clone());
        }
        let creds = Credentials::new(cfg.user.0, cfg.user.1);
        let args = loader::ExecArgs { argv: &argv, envp: &cfg.envp, execfn: &cfg.program, creds: creds.clone() };
        let loaded = loader::load(&mut mm, &kernel.vfs, &root, &exe, &args).map_err(exec_err)?;

        let tg = ThreadGroup::new(1, SigHandlers::default(), creds, kernel::task::default_rlimits());
        let handle = TaskHandle::new(1, tg.clone(), 0);
        {
            let mut procs = kernel.procs();
            let id = procs.alloc_id();
            debug_assert_eq!(id, Some(1));
            procs.threads.insert(1, handle.clone());
            procs.procs.insert(
                1,
                Process {
                    tg,
                    parent: 0,
                    children: Default::default(),
                    threads: vec![handle.clone()],
                    pgid: 1,
                    sid: 1,
                    state: ProcState::Running,
                    continued: false,
                    exit_signal: 0,
                    did_exec: true,
                    ctty: console,
                },
            );
        }
        let fs = FsContext { root, cwd, umask: 0o022 };
        let parts = TaskParts {
            handle,
            pid: 1,
            mm: Arc::new(Mutex::new(mm)),
            fds: Arc::new(Mutex::new(fds)),
            fs: Arc::new(Mutex::new(fs)),
            regs: platform::Regs::for_entry(loaded.entry, loaded.sp),
            sigmask: 0,
        };
        let mut init = Task::new(kernel.clone(), parts);
        let name = cfg.program.rsplit(|&b| b == b'/').next().unwrap_or(&cfg.program).to_vec();
        init.set_comm(&name);
        Ok(Sandbox { kernel, init })
    }

    /// A handle to signal the sandbox's init from outside.
    pub fn signaller(&self) -> Signaller {
        Signaller(self.kernel.clone())
    }

    /// Runs the app until its init process exits, then ends every other
    /// process; returns init's status.
    pub fn run(self) -> ExitStatus {
        let kernel = self.kernel.clone();
        if let Err(e) = self.init.start() {
            log::error!("cannot start the init task: {e}");
            return ExitStatus::Signaled(abi::flags::signal::SIGKILL);
        }
        kernel.wait_for_end()
    }
}
