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

mod arch;
pub mod checkpoint;
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

pub use kernel::caps::CapSets;
use kernel::fd_table::FdTable;
use kernel::process::{Credentials, ProcState, Process, ThreadGroup};
use kernel::signal::SigHandlers;
use kernel::task::{FsContext, Task, TaskHandle, TaskParts};
use kernel::Kernel;
pub use kernel::{ExitStatus, UTS_RELEASE};
use mm::{MemoryFile, MemoryManager};
use vfs::procfs::ProcFs;
use vfs::{Follow, MountRecord, Vfs};

/// Virtual size of the memory file. It is sparse: only touched pages cost.
const MEMORY_FILE_SIZE: u64 = 64 << 30;

/// Platforms the Sentry can run on.
/// `kvm` is never the default: it is chosen by name, and refuses where the
/// host's KVM cannot run it.
pub const PLATFORMS: &[&str] = &["ptrace", "systrap", "kvm"];

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

/// Opens the host devices platform `name` needs, while host paths can still
/// be opened (before the Sentry enters its empty root): /dev/kvm for `kvm`.
/// A failure is reported when the platform starts.
pub fn open_platform_devices(name: &str) {
    #[cfg(target_arch = "x86_64")]
    if name == "kvm" {
        platform::kvm::open_dev_kvm();
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = name;
}

/// Whether platform `kvm` can run on this host: its probe (a tiny guest)
/// passes; the reason otherwise. For test harnesses that skip kvm cases.
pub fn platform_usable_here() -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    return platform::kvm::probe().map_err(|e| e.to_string());
    #[cfg(not(target_arch = "x86_64"))]
    Err("not supported on this architecture (x86_64 only)".into())
}

/// statfs's `f_type` of a tmpfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// What to run and how.
pub struct SandboxConfig {
    /// The first process, pid 1.
    pub init: ProcessConfig,
    /// The sandbox's hostname.
    pub hostname: String,
    /// `--strace`.
    pub strace: bool,
    /// `--platform`.
    pub platform: String,
    /// The filesystems to mount over the rootfs, in order; `None` mounts
    /// the defaults (a tmpfs at /tmp and at /dev/shm). Whatever the list,
    /// the Sentry's own device filesystem, procfs and sysfs cover /dev,
    /// /proc and /sys ([`with_system_mounts`]).
    pub mounts: Option<Vec<MountSpec>>,
    /// What becomes of the app's writes to the root.
    pub root: RootWrites,
    /// The overlays' upper layers keep their files' data on disk, in this
    /// served tree of the Gofer (the index into its extra roots: a private
    /// directory it serves writable); `None`: in the memory file.
    pub overlay_disk: Option<usize>,
    /// The sandbox's resource limits, as its cgroup v2 view at
    /// /sys/fs/cgroup shows them (the runtime enforces them on the host).
    pub limits: CgroupLimits,
    /// `--network nat`: the Sentry's end of the relay's socket
    /// (`netrelay`), through which the app reaches outside addresses that
    /// the egress policy allows. `None`: the loopback only.
    pub relay: Option<OwnedFd>,
    /// With `relay`: the relay's second socket, on which connections to
    /// published ports (`-p`) arrive.
    pub relay_ingress: Option<OwnedFd>,
    /// `--network sandbox`: the namespace's interface, taken for the
    /// Sentry's own TCP/IP stack (`netstack`). Exclusive with `relay`.
    pub network_stack: Option<NetworkStack>,
    /// `--network host` (weaker isolation): the app's Internet sockets
    /// are host sockets of the namespace the Sentry runs in, and the
    /// Sentry's filter allows the socket calls. Exclusive with the two
    /// above.
    pub host_network: bool,
}

/// The interface a `--network sandbox` sandbox's stack sits on, and what
/// it may reach.
pub struct NetworkStack {
    /// A packet socket bound to the interface (`netstack::capture`).
    pub fd: OwnedFd,
    /// The interface, as it was in the namespace.
    pub config: netstack::Config,
    /// The egress policy (its hostnames resolved).
    pub policy: netrelay::Policy,
    /// Whom to ask again for the policy's hostnames when their TTL runs
    /// out (port 53 of the namespace's nameservers), through the stack.
    pub nameservers: Vec<std::net::SocketAddr>,
    /// Hears of each destination the policy denies.
    pub audit: kernel::nat::AuditHook,
}

pub use kernel::nat::AuditHook;
pub use vfs::sysfs::CgroupLimits;

/// What becomes of the app's writes to its root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RootWrites {
    /// The root is an overlay whose changes the Sentry holds in memory
    /// (`vfs::overlay`); the Gofer serves the rootfs read-only, and the
    /// host's directory is never written.
    #[default]
    Overlay,
    /// The root refuses writes (EROFS), as OCI's `root.readonly`.
    ReadOnly,
    /// Writes go through the Gofer into the rootfs directory itself
    /// (`--root-writes host`, and OCI's `root.readonly=false` as runc
    /// does it); the Gofer must serve the rootfs writable.
    Host,
}

/// One filesystem to mount in the sandbox (an OCI `mounts` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    /// Where, as an absolute path inside the sandbox. A missing mount
    /// point is made (its parent must exist, or be made by an earlier
    /// mount); an existing one must be of the same kind (directory or not).
    pub destination: Vec<u8>,
    /// What to mount.
    pub kind: MountKind,
    /// Refuse writes with EROFS.
    pub readonly: bool,
}

/// A tmpfs mount's nosuid, nodev and noexec options (an OCI mount's, such
/// as Docker's /dev/shm and `--tmpfs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountFlags {
    /// nosuid: shown in /proc/mounts; it holds everywhere, since the
    /// Sentry runs no set-id program with its owner's ids.
    pub nosuid: bool,
    /// nodev: shown in /proc/mounts; it holds on every tmpfs, where the
    /// app can make no device node (mknod of one is EPERM).
    pub nodev: bool,
    /// noexec: its files cannot be executed (execve: EACCES) nor mapped
    /// executable (mmap: EPERM; mprotect: EACCES).
    pub noexec: bool,
}

impl MountFlags {
    /// The options as /proc/mounts lists them after rw or ro.
    fn options(self) -> String {
        let mut o = String::new();
        for (on, name) in [(self.nosuid, ",nosuid"), (self.nodev, ",nodev"), (self.noexec, ",noexec")] {
            if on {
                o.push_str(name);
            }
        }
        o
    }
}

/// The kinds of filesystem a [`MountSpec`] can mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// A host directory or file served by the Gofer: the index into the
    /// Gofer's list of extra roots. Read-only, or (unless the spec says
    /// `readonly`) changed on the host through the Gofer, which then must
    /// serve that root writable.
    Bind {
        /// Index 0 is the first `--mount` the Gofer was started with.
        source: usize,
    },
    /// A host directory served by the Gofer (the index into its extra
    /// roots, as for `Bind`) as the read-only lower layer of an overlay of
    /// its own: the app may change it, the changes stay in the sandbox's
    /// memory. The host's system directories, for a sandbox with no rootfs.
    HostSystem {
        /// Index 0 is the first `--mount` the Gofer was started with.
        source: usize,
    },
    /// An empty tmpfs whose root has this mode (permission bits).
    Tmpfs {
        /// The root directory's mode, e.g. 0o1777.
        mode: u32,
        /// Most bytes of file data it holds (`size=`); half of the host's
        /// memory without.
        size: Option<u64>,
        /// nosuid, nodev, noexec.
        flags: MountFlags,
    },
    /// procfs, over the sandbox's own processes.
    Proc,
    /// A read-only sysfs with the CPU topology files.
    Sysfs,
    /// devpts: the sandbox's pseudo-terminals.
    Devpts,
    /// The POSIX message-queue filesystem: the sandbox's queues.
    Mqueue,
    /// Husk's device filesystem (null, zero, full, random, urandom, tty, ...): used for an OCI "/dev" tmpfs.
    Devfs,
    /// A read-only file of these bytes, over a file of the rootfs: the
    /// sandbox's own /etc/resolv.conf under `--network nat`, as Docker
    /// mounts its own.
    File {
        /// The file's contents.
        contents: Vec<u8>,
    },
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
    /// The network could not be set up.
    #[error("network: {0}")]
    Network(Errno),
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
    /// The sandbox's init has already exited.
    #[error("the sandbox has ended")]
    Ended,
    /// The checkpoint image cannot be restored.
    #[error("{0}")]
    Restore(#[from] checkpoint::RestoreError),
    /// A mount could not be made.
    #[error("mount at {destination}: {reason}")]
    Mount {
        /// The mount's destination.
        destination: String,
        /// Why, in words.
        reason: String,
    },
    /// The Sentry's seccomp filter could not be installed.
    #[error("confining the Sentry: {0}")]
    Seccomp(#[from] seccomp::Error),
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
        #[cfg(target_arch = "x86_64")]
        "kvm" => {
            platform::kvm::probe()?;
            Ok(Box::new(platform::kvm::KvmPlatform::new(mf.fd())?))
        }
        #[cfg(not(target_arch = "x86_64"))]
        "kvm" => {
            Err(BootError::Platform(PlatformError::Kvm("not supported on this architecture (x86_64 only)".into())))
        }
        other => Err(BootError::UnknownPlatform(other.to_string())),
    }
}

/// Confines this process, and the stubs it forks from now on, to the
/// Sentry's seccomp filter (`seccomp::sentry`). A syscall outside it is
/// skipped and raises SIGSYS, which the reporter installed here names on
/// stderr before the Sentry dies of it. `HUSK_SECCOMP=log` instead logs
/// such calls to the kernel log and lets them run: only for finding what
/// the filter lacks.
fn confine(mf: &MemoryFile, host_network: bool, kvm: bool) -> Result<(), BootError> {
    use std::os::fd::AsRawFd;
    let deny = match std::env::var("HUSK_SECCOMP").as_deref() {
        Ok("log") => {
            log::warn!("HUSK_SECCOMP=log: the Sentry's filter only logs; it confines nothing");
            seccomp::Deny::Log
        }
        _ => seccomp::Deny::Trap,
    };
    sandbox_cpus();
    let fds = seccomp::SentryFds { memfd: mf.fd().as_raw_fd(), host_network, kvm };
    let prog = seccomp::sentry(fds, deny)?;
    sys::report_seccomp_traps();
    seccomp::install(&prog)?;
    Ok(())
}

/// `--network host`'s view of the interfaces: the loopback and the
/// namespace's first other interface, as they are at boot.
fn host_view() -> vfs::netlink::NetView {
    match netstack::capture::look() {
        Ok(Some(cfg)) => vfs::netlink::NetView::of_interface(&cfg),
        Ok(None) => vfs::netlink::NetView::new(false),
        Err(e) => {
            log::warn!(
                "--network host: the host's interfaces cannot be read ({e}); the sandbox sees its loopback only"
            );
            vfs::netlink::NetView::new(false)
        }
    }
}

/// The mounts of a sandbox that asks for none: a tmpfs at /tmp and at
/// /dev/shm, devpts at /dev/pts, and the message-queue filesystem at
/// /dev/mqueue (and, added by [`with_system_mounts`], /dev, /proc and
/// /sys).
pub fn default_mounts() -> Vec<MountSpec> {
    let tmpfs = |d: &str| MountSpec {
        destination: d.as_bytes().to_vec(),
        kind: MountKind::Tmpfs { mode: 0o1777, size: None, flags: MountFlags::default() },
        readonly: false,
    };
    let mqueue = MountSpec { destination: b"/dev/mqueue".to_vec(), kind: MountKind::Mqueue, readonly: false };
    let devpts = MountSpec { destination: b"/dev/pts".to_vec(), kind: MountKind::Devpts, readonly: false };
    vec![tmpfs("/tmp"), tmpfs("/dev/shm"), devpts, mqueue]
}

/// The paths the Sentry always covers with its own filesystems, whatever
/// the rootfs holds there (a chroot's host procfs, say) and whatever the
/// mount list says, and the kind each must be.
const SYSTEM_MOUNTS: [(&str, MountKind); 3] =
    [("/dev", MountKind::Devfs), ("/proc", MountKind::Proc), ("/sys", MountKind::Sysfs)];

/// `specs` with the Sentry's device filesystem, procfs and sysfs first at
/// /dev, /proc and /sys where `specs` do not mount them, so that the
/// sandbox never sees what the rootfs holds at those paths, and the mounts
/// of `specs` beneath them land on them. A mount of another kind exactly
/// at one of those paths is refused.
pub fn with_system_mounts(specs: Vec<MountSpec>) -> Result<Vec<MountSpec>, BootError> {
    let trimmed = |d: &[u8]| -> Vec<u8> {
        let t = d.strip_suffix(b"/").filter(|t| !t.is_empty()).unwrap_or(d);
        t.to_vec()
    };
    let mut missing = Vec::new();
    for (path, kind) in SYSTEM_MOUNTS {
        let mut covered = false;
        for spec in specs.iter().filter(|s| trimmed(&s.destination) == path.as_bytes()) {
            if spec.kind != kind {
                return Err(BootError::Mount {
                    destination: path.into(),
                    reason: format!("{path} is always the sandbox's own {}", system_fs_name(&kind)),
                });
            }
            covered = true;
        }
        if !covered {
            missing.push(MountSpec { destination: path.as_bytes().to_vec(), readonly: kind == MountKind::Sysfs, kind });
        }
    }
    missing.extend(specs);
    Ok(missing)
}

fn system_fs_name(kind: &MountKind) -> &'static str {
    match kind {
        MountKind::Devfs => "device filesystem",
        MountKind::Proc => "procfs",
        _ => "sysfs",
    }
}

/// A process to start in the sandbox: init at boot, or one that `husk exec`
/// adds to a running sandbox.
pub struct ProcessConfig {
    /// The program's path inside the sandbox (looked up in `PATH` if it
    /// has no `/`).
    pub program: Vec<u8>,
    /// argv.
    pub argv: Vec<Vec<u8>>,
    /// The environment, `KEY=VALUE` each.
    pub envp: Vec<Vec<u8>>,
    /// The working directory.
    pub cwd: Vec<u8>,
    /// The uid and gid it runs as.
    pub user: (u32, u32),
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Its fds 0, 1 and 2.
    pub stdio: Vec<OwnedFd>,
    /// Resource limits to set, (resource, soft, hard), over the defaults.
    pub rlimits: Vec<(u32, u64, u64)>,
    /// Start with PR_SET_NO_NEW_PRIVS set.
    pub no_new_privs: bool,
    /// Its capability sets as the runtime leaves them when it executes the
    /// program (as runc applies an OCI config's `process.capabilities`);
    /// the program then gets them through execve's rules (root regains
    /// the bounding set, others keep the ambient set).
    pub caps: CapSets,
}

/// The PATH a process without one searches (runc's default).
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds a program named without a `/` in the directories of the `PATH` in
/// `envp`, as OCI runtimes do for `process.args[0]`; otherwise, or if no
/// directory has it, the name as given (relative to `cwd`).
fn search_path(
    vfs: &Vfs,
    root: &Arc<vfs::Dentry>,
    cwd: &Arc<vfs::Dentry>,
    program: &[u8],
    envp: &[Vec<u8>],
) -> Vec<u8> {
    if program.is_empty() || program.contains(&b'/') {
        return program.to_vec();
    }
    let path = envp.iter().rev().find_map(|e| e.strip_prefix(b"PATH=")).unwrap_or(DEFAULT_PATH);
    for dir in path.split(|&b| b == b':').filter(|d| !d.is_empty()) {
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(program);
        if vfs.resolve(root, cwd, &candidate, Follow::Yes).is_ok_and(|d| d.is_regular()) {
            return candidate;
        }
    }
    program.to_vec()
}

/// Builds a process from `cfg`, ready to start: pid 1 if `init`, else the
/// next free pid, with no parent inside the sandbox (it is the runtime's
/// child, as `runc exec`'s process is outside the container's pid
/// namespace's tree). Its process group and session are its own.
fn new_process(kernel: &Arc<Kernel>, cfg: ProcessConfig, init: bool) -> Result<Task, BootError> {
    let vfs = &kernel.vfs;
    let root = vfs.root().clone();
    let cwd =
        vfs.resolve(&root, &root, &cfg.cwd, Follow::Yes).and_then(
            |d| {
                if d.is_dir() {
                    Ok(d)
                } else {
                    Err(Errno::ENOTDIR)
                }
            },
        );
    let cwd = cwd.map_err(|errno| BootError::Cwd { path: String::from_utf8_lossy(&cfg.cwd).into(), errno })?;
    let exec_err = |errno: Errno| BootError::Exec { path: String::from_utf8_lossy(&cfg.program).into(), errno };
    let program = search_path(vfs, &root, &cwd, &cfg.program, &cfg.envp);
    let (exe, argv, _) =
        kernel::task::exec::resolve_program(vfs, &root, &cwd, &program, cfg.argv.clone(), None).map_err(exec_err)?;

    let (min, max) = (kernel.platform.min_user_address(), kernel.platform.max_user_address());
    let mut mm = MemoryManager::new(kernel.memfile.clone(), min, max);
    let mut fds = FdTable::default();
    // Init's terminal is the console, the node /dev/console if there is one.
    let console_node = init
        .then(|| vfs.resolve(&root, &root, b"/dev/console", Follow::Yes).ok())
        .flatten()
        .filter(|d| vfs::devfs::device_of(d) == Some(vfs::devfs::Device::Console));
    let owner = kernel::tty::StdioOwner { uid: cfg.user.0, init, console_node };
    let (files, console) = kernel::tty::stdio_files(kernel, cfg.stdio, &owner);
    for (n, file) in files {
        let _ = fds.insert_at(n, file, false, u64::MAX);
    }
    let mut creds = Credentials::new(cfg.user.0, cfg.user.1);
    creds.groups = cfg.groups;
    creds.caps = cfg.caps.normalized();
    let secure = kernel::caps::exec(&mut creds, cfg.no_new_privs);
    let args = loader::ExecArgs {
        argv: &argv,
        envp: &cfg.envp,
        execfn: &cfg.program,
        creds: creds.clone(),
        secure,
        vdso: kernel.vdso.as_ref(),
        timens: false,
    };
    let loaded = loader::load(&mut mm, vfs, &root, &exe, &args).map_err(exec_err)?;

    let (pid, handle) = {
        let mut procs = kernel.procs();
        let pid = if init { procs.alloc_id().filter(|&id| id == 1) } else { procs.alloc_id() };
        let pid =
            pid.ok_or(BootError::Exec { path: String::from_utf8_lossy(&cfg.program).into(), errno: Errno::EAGAIN })?;
        let mut limits = kernel::task::default_rlimits();
        for &(resource, cur, max) in &cfg.rlimits {
            if let Some(l) = limits.get_mut(resource as usize) {
                *l = abi::types::Rlimit { cur, max };
            }
        }
        // A terminal on stdio is the controlling terminal of the process's
        // new session, with its group in the foreground, as a login shell's
        // would be; init's is the sandbox's console.
        if let Some(tty) = &console {
            tty.set_session(pid, pid);
            if init {
                let _ = kernel.console.set(tty.clone());
            }
        }
        let tg = ThreadGroup::new(pid, SigHandlers::default(), creds, limits);
        let handle = TaskHandle::new(pid, tg.clone(), 0);
        procs.threads.insert(pid, handle.clone());
        procs.procs.insert(
            pid,
            Process {
                tg,
                parent: 0,
                children: Default::default(),
                threads: vec![handle.clone()],
                pgid: pid,
                sid: pid,
                state: ProcState::Running,
                continued: false,
                exit_signal: 0,
                did_exec: true,
                ctty: console,
                remains: None,
            },
        );
        (pid, handle)
    };
    let fs = FsContext { root, cwd, umask: 0o022 };
    let parts = TaskParts {
        handle,
        pid,
        mm: Arc::new(Mutex::new(mm)),
        fds: Arc::new(Mutex::new(fds)),
        fs: Arc::new(Mutex::new(fs)),
        regs: platform::Regs::for_entry(loaded.entry, loaded.sp),
        sigmask: 0,
    };
    let mut task = Task::new(kernel.clone(), parts);
    let name = cfg.program.rsplit(|&b| b == b'/').next().unwrap_or(&cfg.program).to_vec();
    task.set_comm(&name);
    task.handle.no_new_privs.store(cfg.no_new_privs, std::sync::atomic::Ordering::Relaxed);
    task.publish_program(Some(exe.dentry.clone()), kernel::task::nul_join(&argv), kernel::task::nul_join(&cfg.envp));
    Ok(task)
}

/// A process started in a running sandbox by [`Controller::exec`].
pub struct Started {
    /// Its pid inside the sandbox.
    pub pid: i32,
    /// Receives its exit status when it ends (or is dropped, without a
    /// status, if the sandbox ends first).
    pub exit: std::sync::mpsc::Receiver<ExitStatus>,
}

/// Sends `sig` to process `pid` as the runtime (SI_USER from no process of
/// the sandbox's).
fn signal_from_outside(kernel: &Kernel, pid: i32, sig: u32) -> Result<(), Errno> {
    let info = kernel::signal::SigInfo::from_sender(sig, kernel::signal::code::SI_USER, 0, 0);
    kernel::task::exit::send_to_process(kernel, pid, info, None)
}

/// Reaches into a running sandbox from outside: the OCI runtime's `kill`,
/// `exec` and `ps` go through it.
#[derive(Clone)]
pub struct Controller(Arc<Kernel>);

impl Controller {
    /// Sends `sig` to init, which ignores signals it has no handler for
    /// (but SIGKILL and SIGSTOP), as a pid namespace's init does.
    pub fn signal_init(&self, sig: u32) {
        let _ = signal_from_outside(&self.0, 1, sig);
    }

    /// Sends `sig` to every process of the sandbox (`kill --all`), init
    /// last so the others are not first killed by init's end.
    pub fn signal_all(&self, sig: u32) {
        let mut pids: Vec<i32> = self.0.procs().procs.keys().copied().filter(|&p| p != 1).collect();
        pids.push(1);
        for pid in pids {
            let _ = signal_from_outside(&self.0, pid, sig);
        }
    }

    /// Sends `sig` to process `pid` (an exec'd process, for its runtime
    /// proxy); ESRCH if it is gone.
    pub fn signal_pid(&self, pid: i32, sig: u32) -> Result<(), Errno> {
        signal_from_outside(&self.0, pid, sig)
    }

    /// Starts a new process in the sandbox (`husk exec`).
    pub fn exec(&self, cfg: ProcessConfig) -> Result<Started, BootError> {
        if self.0.init_has_exited() {
            return Err(BootError::Ended);
        }
        let task = new_process(&self.0, cfg, false)?;
        let pid = task.pid;
        let (tx, rx) = std::sync::mpsc::channel();
        // Before it runs, so its exit cannot be missed.
        self.0.watch_external(pid, tx);
        if let Err(e) = task.start() {
            self.0.external_exited(pid, ExitStatus::Signaled(abi::flags::signal::SIGKILL));
            return Err(BootError::Exec { path: "task thread".into(), errno: e });
        }
        Ok(Started { pid, exit: rx })
    }

    /// Checkpoints the sandbox into `state`, `pages` and `disk` (the
    /// image's files, opened by the runtime), and ends it unless
    /// `leave_running`.
    pub fn checkpoint(
        &self,
        state: OwnedFd,
        pages: OwnedFd,
        disk: Option<OwnedFd>,
        leave_running: bool,
    ) -> Result<checkpoint::save::Written, checkpoint::CheckpointError> {
        checkpoint::checkpoint(&self.0, state, pages, disk, leave_running)
    }

    /// The sandbox's live processes: each one's pid, and the host pid (in
    /// the Sentry's pid namespace) of a stub of its, which shows the host
    /// its command line (its leader thread's, else another thread's; 0 if
    /// none has one).
    pub fn pids(&self) -> Vec<(i32, i32)> {
        use std::sync::atomic::Ordering;
        let procs = self.0.procs();
        // Per process, (not the leader, stub): the leader's sorts first.
        let mut stubs: std::collections::BTreeMap<i32, (bool, i32)> = Default::default();
        for t in procs.threads.values() {
            let stub = t.stub_pid.load(Ordering::Acquire);
            if stub > 0 {
                let key = (t.tid != t.tg.tgid, stub);
                stubs.entry(t.tg.tgid).and_modify(|k| *k = (*k).min(key)).or_insert(key);
            }
        }
        procs
            .procs
            .iter()
            .filter(|(_, p)| !matches!(p.state, ProcState::Zombie(_)))
            .map(|(&pid, _)| (pid, stubs.get(&pid).map_or(0, |k| k.1)))
            .collect()
    }
}

/// The CPUs the sandbox shows (as sched_getaffinity reports them), read
/// once: the host's figure comes from cgroup files and stat calls that the
/// Sentry's seccomp filter forbids, so [`confine`] reads it first, and the
/// runtime earlier still, before a new cgroup or mount namespace hides the
/// sandbox's cgroup (its CPU quota) from it.
pub fn sandbox_cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(1024))
}

/// Why a mount failed, in words.
fn mount_reason(spec: &MountSpec, e: Errno) -> String {
    match (&spec.kind, e) {
        (MountKind::Bind { source }, Errno::ENOENT) if spec.destination.first() == Some(&b'/') => {
            format!("bind source {source} is not served by the gofer, or the mount point's parent is missing")
        }
        (MountKind::Bind { .. }, Errno::ENOTDIR) => {
            "the source and the destination must both be directories, or both files".into()
        }
        (_, Errno::ENOTDIR) => "the destination (or a directory on its way) is not a directory".into(),
        (_, Errno::ENOENT) => "the mount point's parent directory does not exist".into(),
        (_, Errno::EBUSY) => "something is already mounted there".into(),
        (_, e) => format!("cannot mount ({e})"),
    }
}

/// Mounts `specs` in order; the first that fails fails the boot. Returns
/// the procfs instances made, to be connected to the kernel.
fn apply_mounts(
    kernel: &Kernel,
    specs: &[MountSpec],
    limits: &CgroupLimits,
    disk: Option<&Arc<vfs::diskstore::DiskStore>>,
) -> Result<Vec<Arc<ProcFs>>, BootError> {
    use vfs::tmpfs::{FsKind, MemFs};
    let (vfs, mf) = (&kernel.vfs, &kernel.memfile);
    // Stand-ins for missing mount points and the directories on their way
    // come from here; the app may not write in them, as in a read-only
    // rootfs.
    let spare = MemFs::new(FsKind::Tmpfs, mf.clone());
    spare.set_readonly();
    let mut procs = Vec::new();
    for spec in specs {
        let dest = String::from_utf8_lossy(&spec.destination).into_owned();
        let fail = |e: Errno| BootError::Mount { destination: dest.clone(), reason: mount_reason(spec, e) };
        if spec.destination.first() != Some(&b'/') {
            return Err(BootError::Mount { destination: dest, reason: "not an absolute path".into() });
        }
        let mem = |kind: FsKind, mode: u32, size: Option<u64>| {
            let fs = MemFs::new(kind, mf.clone());
            if spec.readonly {
                fs.set_readonly();
            }
            if let Some(size) = size {
                fs.limit_to(size);
            }
            fs.new_root(mode & 0o7777, 0, 0)
        };
        let rw = if spec.readonly { "ro" } else { "rw" };
        let (root, source, fstype, opts) = match &spec.kind {
            MountKind::Bind { source } => {
                let index =
                    u32::try_from(*source).ok().and_then(|s| s.checked_add(1)).ok_or_else(|| fail(Errno::ENOENT))?;
                // A read-only bind is cached as a tree that never changes;
                // a writable one is the host's, changed through the Gofer
                // (which must serve it writable).
                let root = if spec.readonly {
                    vfs.attach_gofer_root(index).map_err(fail)?
                } else {
                    vfs.attach_host_root(index).map_err(fail)?
                };
                (root, "none", "9p", format!("{rw},relatime"))
            }
            MountKind::HostSystem { source } => {
                let index =
                    u32::try_from(*source).ok().and_then(|s| s.checked_add(1)).ok_or_else(|| fail(Errno::ENOENT))?;
                let upper = (!spec.readonly).then(|| mf.clone());
                let root = vfs.attach_gofer_root_with(index, upper).map_err(fail)?;
                if let (Some(ov), Some(max)) = (root.overlay(), limits.memory_max) {
                    ov.fs.limit_to(max);
                }
                if let (Some(ov), Some(store)) = (root.overlay(), disk) {
                    ov.fs.set_disk_store(store.clone());
                }
                (root, "overlay", "overlay", format!("{rw},relatime"))
            }
            MountKind::Tmpfs { mode, size, flags } => {
                let f = flags.options();
                let opts = match size {
                    Some(size) => format!("{rw}{f},relatime,size={}k", size.div_ceil(1024)),
                    None => format!("{rw}{f},relatime"),
                };
                let root = mem(FsKind::Tmpfs, *mode, *size);
                if let Some(i) = root.inode().filter(|_| flags.noexec) {
                    i.fs.set_noexec();
                }
                (root, "tmpfs", "tmpfs", opts)
            }
            MountKind::Proc => {
                let p = ProcFs::new(sandbox_cpus());
                procs.push(p.clone());
                (p.root(), "proc", "proc", "rw,nosuid,nodev,noexec,relatime".into())
            }
            MountKind::Sysfs => (
                vfs::sysfs::new(sandbox_cpus(), limits, &vfs::procnet::view(kernel)),
                "sysfs",
                "sysfs",
                "ro,nosuid,nodev,noexec,relatime".into(),
            ),
            MountKind::Devpts => (
                vfs::devpts::new_root(kernel.ptys.clone()),
                "devpts",
                "devpts",
                format!("{rw},nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666"),
            ),
            MountKind::Mqueue => (
                vfs::mqueue::new_root(kernel.ipc.mqueue.clone()),
                "mqueue",
                "mqueue",
                format!("{rw},nosuid,nodev,noexec,relatime"),
            ),
            MountKind::File { contents } => {
                let fs = vfs::synth::SynthFs::new(TMPFS_MAGIC);
                let node = vfs::synth::SynthNode::fixed(&fs, 1, 0o644, contents.clone());
                (vfs::synth::new_root(node), "tmpfs", "tmpfs", "ro,relatime".to_string())
            }
            MountKind::Devfs => {
                let root = vfs::devfs::new(mf.clone()).map_err(fail)?;
                if let Some(i) = root.inode().filter(|_| spec.readonly) {
                    i.fs.set_readonly();
                }
                (root, "tmpfs", "tmpfs", format!("{rw},nosuid,relatime"))
            }
        };
        let point = vfs.mount_at_with(&spec.destination, root.clone(), &spare).map_err(fail)?;
        vfs.record_mount(MountRecord::boot(source, &spec.destination, fstype, &opts, &root, Some(&point)));
        log::info!("mounted {fstype} at {dest}");
    }
    Ok(procs)
}

/// A booted sandbox, ready to run its first task (or, restored, the tasks
/// of its checkpoint).
pub struct Sandbox {
    kernel: Arc<Kernel>,
    tasks: Vec<Task>,
    /// A restore's pages not touched yet are loaded by a thread once the
    /// tasks run.
    load_in_background: bool,
}

/// The files of a checkpoint image to restore from, opened by the runtime
/// (the Sentry opens no host path).
pub struct RestoreFrom {
    /// The state file ([`checkpoint::image::STATE_FILE`]).
    pub state: OwnedFd,
    /// The pages file ([`checkpoint::image::PAGES_FILE`]).
    pub pages: OwnedFd,
    /// Read pages only as they are touched, with no background loading.
    pub pages_on_demand: bool,
    /// The disk file ([`checkpoint::image::DISK_FILE`]): the data of an
    /// overlay's files on disk (an image without one has none).
    pub disk: Option<OwnedFd>,
}

/// Reads the state file of an image: at most [`checkpoint::image::MAX_STATE`]
/// bytes and its header.
fn read_state(fd: OwnedFd) -> Result<checkpoint::Image, checkpoint::RestoreError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let limit = checkpoint::image::MAX_STATE + 4096;
    std::fs::File::from(fd)
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| checkpoint::RestoreError::Io(e.to_string()))?;
    Ok(checkpoint::image::decode(&bytes)?)
}

/// Makes a panic anywhere in the Sentry end the whole sandbox, once its
/// message and backtrace are printed, as gVisor's sentry does. A panic is
/// a Sentry bug: the thread it ends may hold a task whose exit never
/// comes, and its parent, and the container's user, would wait for it
/// forever. The end is an immediate exit with 134 (128 + SIGABRT, as an
/// abort would give; the pid namespace's init that the Sentry usually is
/// cannot abort itself): its runtime reports that status, and the stubs
/// and the Gofer die with it.
fn end_the_sandbox_on_a_panic() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            crate::sys::exit_now(128 + abi::flags::signal::SIGABRT as i32);
        }));
    });
}

/// Sends signals from outside the sandbox into it.
#[derive(Clone)]
pub struct Signaller(Arc<Kernel>);

impl Signaller {
    /// Sends `sig` to the sandbox's pid 1. Init ignores signals it has no
    /// handler for, except SIGKILL and SIGSTOP, as a pid namespace's init does.
    pub fn send(&self, sig: u32) {
        let _ = signal_from_outside(&self.0, 1, sig);
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
        Sandbox::boot_or_restore(cfg, gofer, None)
    }

    /// Boots a sandbox over `cfg` (the checkpointed sandbox's bundle: its
    /// rootfs, mounts and limits) and brings the checkpoint's processes
    /// back in it, where they stopped; `cfg.init`'s stdio becomes theirs.
    pub fn restore(cfg: SandboxConfig, gofer: OwnedFd, from: RestoreFrom) -> Result<Sandbox, BootError> {
        Sandbox::boot_or_restore(cfg, gofer, Some(from))
    }

    fn boot_or_restore(cfg: SandboxConfig, gofer: OwnedFd, restore: Option<RestoreFrom>) -> Result<Sandbox, BootError> {
        end_the_sandbox_on_a_panic();
        // The Gofer, started with the same limit, holds an fd per name the
        // Sentry caches: the cache stays well within it.
        vfs::set_cache_limit(crate::sys::raise_nofile());
        let mf = Arc::new(MemoryFile::new(MEMORY_FILE_SIZE).map_err(BootError::MemoryFile)?);
        let platform = new_platform(&cfg.platform, &mf)?;
        // The network's poller thread and its pipe come before the filter.
        let nat = match (cfg.relay, cfg.network_stack) {
            _ if cfg.host_network => Some(kernel::nat::Nat::host(host_view()).map_err(BootError::Network)?),
            (Some(relay), _) => Some(kernel::nat::Nat::new(relay, cfg.relay_ingress).map_err(BootError::Network)?),
            (None, Some(n)) => Some(
                kernel::nat::Nat::with_stack(n.fd, n.config, n.policy, n.nameservers, n.audit)
                    .map_err(BootError::Network)?,
            ),
            (None, None) => None,
        };
        // Everything after this reads what the app controls (its rootfs, its
        // program, a checkpoint image), so the host calls the Sentry may
        // make end here.
        confine(&mf, cfg.host_network, cfg.platform == "kvm")?;
        // A checkpoint's memory comes back first, at its own offsets, before
        // anything allocates from the memory file.
        let restore = match restore {
            Some(from) => {
                let image = read_state(from.state)?;
                checkpoint::load::load_memory(&mf, &image.memory, from.pages)?;
                Some((image, !from.pages_on_demand, from.disk))
            }
            None => None,
        };
        // The root is an overlay unless it is to be read-only: changes stay
        // in the sandbox's memory, and the host's directory is never written.
        let gofer = Arc::new(gofer::GoferClient::new(gofer));
        let vfs = match cfg.root {
            RootWrites::Overlay => Vfs::new(gofer, Some(mf.clone())),
            RootWrites::ReadOnly => Vfs::new(gofer, None),
            RootWrites::Host => Vfs::new_host(gofer),
        }
        .map_err(BootError::Rootfs)?;
        let (source, fstype, options) = match cfg.root {
            RootWrites::Overlay => ("overlay", "overlay", "rw,relatime"),
            RootWrites::ReadOnly => ("none", "9p", "ro,relatime"),
            RootWrites::Host => ("none", "9p", "rw,relatime"),
        };
        vfs.record_mount(MountRecord::boot(source, b"/", fstype, options, vfs.root(), None));
        // An overlay's upper layer is memory: within the sandbox's limit it
        // fills with ENOSPC, before the host's OOM killer would step in.
        if let (Some(ov), Some(max)) = (vfs.root().overlay(), cfg.limits.memory_max) {
            ov.fs.limit_to(max);
        }
        // Or its files' data is on disk.
        let disk = match (cfg.overlay_disk, vfs.gofer()) {
            (Some(index), Some(gofer)) => {
                let index =
                    u32::try_from(index).ok().and_then(|i| i.checked_add(1)).ok_or(BootError::Rootfs(Errno::EINVAL))?;
                Some(vfs::diskstore::DiskStore::attach(gofer, index, mf.clone()).map_err(BootError::Rootfs)?)
            }
            _ => None,
        };
        if let (Some(ov), Some(store)) = (vfs.root().overlay(), &disk) {
            ov.fs.set_disk_store(store.clone());
        }
        let specs = with_system_mounts(cfg.mounts.clone().unwrap_or_else(default_mounts))?;
        let kernel = Arc::new(Kernel::new(platform, mf, vfs, cfg.hostname, cfg.strace));
        let _ = kernel.cgroup_limits.set(cfg.limits);
        kernel.procs().task_limit = cfg.limits.pids_max.and_then(|n| usize::try_from(n).ok());
        if let Some(vdso) = &kernel.vdso {
            // Without it the page never becomes ready: the vDSO makes syscalls.
            if let Err(e) = vdso.start_timekeeper() {
                log::warn!("vdso: no timekeeper thread ({e}); clocks are read by syscall");
            }
        }
        if let Some(nat) = nat {
            let weak = Arc::downgrade(&kernel);
            nat.on_incoming(Box::new(move |ingress| {
                if let Some(k) = weak.upgrade() {
                    kernel::nat::deliver_incoming(&k, ingress);
                }
            }));
            nat.attach_listeners(&kernel);
            let _ = kernel.nat.set(nat);
        }
        let procfs = apply_mounts(&kernel, &specs, &cfg.limits, disk.as_ref())?;
        for p in &procfs {
            p.set_kernel(&kernel);
        }
        kernel.vfs.mark_memory_baseline();
        let load_in_background = restore.as_ref().is_some_and(|(_, background, _)| *background);
        let tasks = match restore {
            None => vec![new_process(&kernel, cfg.init, true)?],
            Some((image, _, disk)) => {
                let tasks = checkpoint::restore_tasks(&kernel, image, cfg.init.stdio, disk)?;
                // A block of the image's pages that turns out corrupt (or
                // cannot be read) as it loads ends the sandbox: the app
                // must not run on.
                let weak = Arc::downgrade(&kernel);
                kernel.memfile.on_load_failure(Box::new(move |e| {
                    log::error!("cannot restore: {e}; the sandbox ends");
                    if let Some(k) = weak.upgrade() {
                        k.end_all(ExitStatus::Signaled(abi::flags::signal::SIGKILL));
                    }
                }));
                tasks
            }
        };
        Ok(Sandbox { kernel, tasks, load_in_background })
    }

    /// A handle to reach into the sandbox from outside once it runs:
    /// signals, new processes, the process list.
    pub fn controller(&self) -> Controller {
        Controller(self.kernel.clone())
    }

    /// A handle to signal the sandbox's init from outside.
    pub fn signaller(&self) -> Signaller {
        Signaller(self.kernel.clone())
    }

    /// Runs the app until its init process exits, then ends every other
    /// process; returns init's status.
    pub fn run(self) -> ExitStatus {
        let kernel = self.kernel.clone();
        for task in self.tasks {
            let tid = task.tid;
            if let Err(e) = task.start() {
                log::error!("cannot start task {tid}: {e}");
                kernel.end_all(ExitStatus::Signaled(abi::flags::signal::SIGKILL));
                if tid == 1 {
                    return ExitStatus::Signaled(abi::flags::signal::SIGKILL);
                }
            }
        }
        if self.load_in_background {
            checkpoint::load::load_rest_in_background(&kernel.memfile);
        }
        let status = kernel.wait_for_end();
        // The host terminal gets its own settings back (under `husk run`,
        // the user's shell's).
        if let Some(b) = kernel.console.get().and_then(|t| t.pty()).and_then(|p| p.bridge()) {
            b.end(true);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mount_flags_are_listed_in_linuxs_order() {
        assert_eq!(super::MountFlags::default().options(), "");
        let all = super::MountFlags { nosuid: true, nodev: true, noexec: true };
        assert_eq!(all.options(), ",nosuid,nodev,noexec");
        assert_eq!(super::MountFlags { noexec: true, ..Default::default() }.options(), ",noexec");
    }

    use super::*;

    fn spec(d: &str, kind: MountKind) -> MountSpec {
        MountSpec { destination: d.as_bytes().to_vec(), kind, readonly: false }
    }

    fn destinations(specs: &[MountSpec]) -> Vec<String> {
        specs.iter().map(|s| String::from_utf8_lossy(&s.destination).into_owned()).collect()
    }

    #[test]
    fn dev_proc_and_sys_are_always_the_sentrys_own() {
        let all = with_system_mounts(default_mounts()).unwrap();
        assert_eq!(destinations(&all), ["/dev", "/proc", "/sys", "/tmp", "/dev/shm", "/dev/pts", "/dev/mqueue"]);
        assert_eq!(all[1].kind, MountKind::Proc);
        assert!(all[2].readonly, "sysfs is read-only");
        // A list that mounts them keeps its own, in its order.
        let own =
            vec![spec("/proc/", MountKind::Proc), spec("/dev", MountKind::Devfs), spec("/dev/pts", MountKind::Devpts)];
        assert_eq!(destinations(&with_system_mounts(own).unwrap()), ["/sys", "/proc/", "/dev", "/dev/pts"]);
        // Anything else exactly there is refused; beneath is fine.
        for (d, kind) in [
            ("/proc", MountKind::Bind { source: 0 }),
            ("/sys/", MountKind::Tmpfs { mode: 0o755, size: None, flags: MountFlags::default() }),
            ("/dev", MountKind::Proc),
        ] {
            let err = with_system_mounts(vec![spec(d, kind)]).unwrap_err().to_string();
            assert!(err.contains("is always the sandbox's own"), "{d}: {err}");
        }
        assert!(with_system_mounts(vec![spec(
            "/sys/fs/cgroup",
            MountKind::Tmpfs { mode: 0o555, size: None, flags: MountFlags::default() }
        )])
        .is_ok());
    }
}
