//! procfs, served by the Sentry over its own process table: the pids are
//! the sandbox's, and every file is generated when it is opened, in the
//! format Linux's `fs/proc` prints (array.c, task_mmu.c, meminfo.c, ...).
//!
//! `/proc/self` and `/proc/thread-self` depend on who asks: the Sentry runs
//! each task on a host thread of its own, which records its tid
//! ([`crate::kernel::task::current_tid`]).
//!
//! Locking: generators take the process-tree lock only to copy out the
//! handles they need, then a task's published view, then (one at a time)
//! its memory manager, fd table or filesystem context; never two at once.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock, Weak};

use abi::flags::mode::{S_IFIFO, S_IFMT, S_IFSOCK};
use abi::Errno;

use super::synth::{child_ino, Generator, SynthDir, SynthFs, SynthNode};
use super::Dentry;
use crate::kernel::ns::NsKind;
use crate::kernel::process::{ProcState, ThreadGroup};
use crate::kernel::task::{current_tid, TaskHandle, TaskView};
use crate::kernel::Kernel;
use crate::mm::SysResult;

/// procfs's `f_type`.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// Clock ticks per second, as `sysconf(_SC_CLK_TCK)` reports.
const HZ: u64 = 100;

/// A procfs instance's shared state.
pub struct ProcFs {
    fs: Arc<SynthFs>,
    kernel: OnceLock<Weak<Kernel>>,
    ncpus: usize,
}

impl ProcFs {
    /// A procfs for a sandbox with `ncpus` CPUs; [`ProcFs::set_kernel`]
    /// must follow once the kernel exists.
    pub fn new(ncpus: usize) -> Arc<ProcFs> {
        Arc::new(ProcFs { fs: SynthFs::new(PROC_SUPER_MAGIC), kernel: OnceLock::new(), ncpus: ncpus.max(1) })
    }

    /// Connects the procfs to the kernel whose processes it shows.
    pub fn set_kernel(&self, k: &Arc<Kernel>) {
        let _ = self.kernel.set(Arc::downgrade(k));
    }

    fn kernel(&self) -> SysResult<Arc<Kernel>> {
        self.kernel.get().and_then(Weak::upgrade).ok_or(Errno::ESRCH)
    }

    /// The root dentry, to mount.
    pub fn root(self: &Arc<Self>) -> Arc<Dentry> {
        super::synth::new_root(SynthNode::dir(&self.fs, 1, 0o555, Arc::new(RootDir(self.clone()))))
    }

    fn file(self: &Arc<Self>, parent: u64, name: &str, perm: u32, g: Generator) -> (Vec<u8>, SynthNode) {
        (name.as_bytes().to_vec(), SynthNode::file(&self.fs, child_ino(parent, name.as_bytes()), perm, g))
    }

    fn link(self: &Arc<Self>, parent: u64, name: &str, g: Generator) -> (Vec<u8>, SynthNode) {
        (name.as_bytes().to_vec(), SynthNode::link(&self.fs, child_ino(parent, name.as_bytes()), g))
    }

    /// A generator that runs `f` on this procfs and its kernel.
    fn gen(
        self: &Arc<Self>,
        f: impl Fn(&ProcFs, &Arc<Kernel>) -> SysResult<String> + Send + Sync + 'static,
    ) -> Generator {
        let me = self.clone();
        Arc::new(move || {
            let k = me.kernel()?;
            f(&me, &k).map(String::into_bytes)
        })
    }
}

/// A snapshot of one thread for the generators.
struct Snap {
    tgid: i32,
    tid: i32,
    ppid: i32,
    pgid: i32,
    sid: i32,
    state: char,
    nthreads: usize,
    /// The controlling terminal's device number (0: none) and its
    /// foreground group (-1: none).
    tty: (u64, i32),
    /// CPU time: the thread's, or the whole process's for /proc/PID.
    cpu: crate::kernel::usage::CpuTime,
    handle: Arc<TaskHandle>,
    view: TaskView,
}

impl Snap {
    fn tg(&self) -> &Arc<ThreadGroup> {
        &self.handle.tg
    }
}

/// The thread `tid` of process `tgid` (its leader when `tid` is `None`).
fn snap(k: &Kernel, tgid: i32, tid: Option<i32>) -> SysResult<Snap> {
    let procs = k.procs();
    let p = procs.procs.get(&tgid).ok_or(Errno::ESRCH)?;
    let handle = match tid {
        Some(t) => p.threads.iter().find(|h| h.tid == t).cloned().ok_or(Errno::ESRCH)?,
        None => p
            .threads
            .iter()
            .find(|h| h.tid == tgid)
            .or(p.threads.first())
            .or(p.remains.as_ref())
            .cloned()
            .ok_or(Errno::ESRCH)?,
    };
    // The thread's own state: S while it sleeps in a wait (semop,
    // nanosleep, read on an empty pipe, ...), else R (running the app or
    // a syscall).
    let ptrace_stopped = handle.ptrace.is_traced() && handle.ptrace.state().stop.is_some();
    let state = match p.state {
        ProcState::Zombie(_) => 'Z',
        _ if ptrace_stopped => 't',
        ProcState::Stopped { .. } => 'T',
        ProcState::Running if handle.waker.is_sleeping() => 'S',
        ProcState::Running => 'R',
    };
    let (ppid, pgid, sid, nthreads) = (p.parent, p.pgid, p.sid, p.threads.len().max(1));
    let ctty = p.ctty.clone();
    let cpu = if tid.is_some() { handle.cpu_time() } else { p.cpu_time() };
    drop(procs);
    let tty = ctty.map_or((0, -1), |t| (t.device(), Some(t.foreground()).filter(|&g| g != 0).unwrap_or(-1)));
    let view = handle.view().ok_or(Errno::ESRCH)?;
    Ok(Snap { tgid, tid: handle.tid, ppid, pgid, sid, state, nthreads, tty, cpu, handle, view })
}

fn comm(view: &TaskView) -> String {
    let n = view.comm.iter().position(|&b| b == 0).unwrap_or(view.comm.len());
    String::from_utf8_lossy(&view.comm[..n]).into_owned()
}

fn state_name(c: char) -> &'static str {
    match c {
        'R' => "R (running)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'Z' => "Z (zombie)",
        _ => "S (sleeping)",
    }
}

/// Virtual size, and the [heap] and [stack] ranges, of an address space.
#[derive(Default)]
struct MemSummary {
    vsize: u64,
    data: u64,
    stack: u64,
    exec: u64,
    /// Resident bytes: private anonymous memory, private copies of files,
    /// and shared mappings (Linux's RssAnon, RssFile, RssShmem).
    rss_anon: u64,
    rss_file: u64,
    rss_shmem: u64,
    /// Bytes mapped locked (mlock).
    locked: u64,
}

impl MemSummary {
    fn rss(&self) -> u64 {
        self.rss_anon + self.rss_file + self.rss_shmem
    }
}

fn mem_summary(view: &TaskView) -> MemSummary {
    use crate::mm::Backing;
    use abi::flags::mm::{PROT_EXEC, PROT_WRITE};
    let mm = view.mm.lock().unwrap_or_else(|e| e.into_inner());
    let top = mm.stack_top();
    let mut s = MemSummary { locked: mm.locked_bytes(), ..MemSummary::default() };
    for (start, v) in mm.vmas() {
        let len = v.end - start;
        s.vsize += len;
        if v.end == top {
            s.stack += len;
        } else if v.prot & PROT_EXEC != 0 {
            s.exec += len;
        } else if v.prot & PROT_WRITE != 0 && !v.shared {
            s.data += len;
        }
        // A page is resident once the memory file has it.
        let resident = resident_bytes(&mm, v.mem_off, len);
        if v.shared {
            s.rss_shmem += resident;
        } else if matches!(v.backing, Backing::Anon) {
            s.rss_anon += resident;
        } else {
            s.rss_file += resident;
        }
    }
    s
}

const PAGE: u64 = abi::PAGE_SIZE;

/// The resident memory of the task `view` shows, in KiB (getrusage's
/// ru_maxrss where no stub process's accounting gives a peak).
pub fn resident_kb(view: &TaskView) -> u64 {
    mem_summary(view).rss() / 1024
}

/// Bytes of a mapping (`len` bytes at memory-file offset `off`) that the
/// memory file holds.
fn resident_bytes(mm: &crate::mm::MemoryManager, off: u64, len: u64) -> u64 {
    mm.memfile().residency(off, len).iter().filter(|&&b| b != 0).count() as u64 * PAGE
}

fn sig_sets(tg: &ThreadGroup) -> (u64, u64) {
    use crate::kernel::signal::{SIG_DFL, SIG_IGN};
    let h = tg.sighand.lock().unwrap_or_else(|e| e.into_inner());
    let (mut ign, mut cgt) = (0u64, 0u64);
    for (i, a) in h.0.iter().enumerate().skip(1) {
        let bit = 1u64 << (i - 1);
        match a.handler {
            SIG_IGN => ign |= bit,
            SIG_DFL => {}
            _ => cgt |= bit,
        }
    }
    (ign, cgt)
}

/// /proc/PID/stat, as `do_task_stat` prints it.
fn stat(s: &Snap, k: &Kernel) -> String {
    let m = mem_summary(&s.view);
    let nice = s.tg().nice.load(std::sync::atomic::Ordering::Relaxed);
    let start = s.view.started.saturating_duration_since(k.boot).as_millis() as u64 * HZ / 1000;
    let (ign, cgt) = sig_sets(s.tg());
    let pending = s.handle.pending_set();
    let blocked = s.handle.blocked.load(std::sync::atomic::Ordering::Relaxed);
    let exit_signal = if s.tid == s.tgid { 17 } else { -1 };
    format!(
        "{} ({}) {} {} {} {} {} {} 4194304 0 0 0 0 {} {} 0 0 {} {} {} 0 {} {} {} 18446744073709551615 0 0 0 0 0 {} {} {} {} 0 0 0 {} 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
        s.tid,
        comm(&s.view),
        s.state,
        s.ppid,
        s.pgid,
        s.sid,
        s.tty.0,
        s.tty.1,
        ticks(s.cpu.user),
        ticks(s.cpu.system),
        20 + nice,
        nice,
        s.nthreads,
        start,
        m.vsize,
        m.rss() / PAGE,
        pending,
        blocked,
        ign,
        cgt,
        exit_signal,
    )
}

/// A CPU time in clock ticks (USER_HZ).
fn ticks(d: std::time::Duration) -> u64 {
    (d.as_millis() as u64) * HZ / 1000
}

/// /proc/PID/statm, in pages: size, resident, shared (file and shared
/// mappings), text, lib (0), data (with the stack), dt (0).
fn statm(s: &Snap) -> String {
    let m = mem_summary(&s.view);
    format!(
        "{} {} {} {} 0 {} 0\n",
        m.vsize / PAGE,
        m.rss() / PAGE,
        (m.rss_file + m.rss_shmem) / PAGE,
        m.exec / PAGE,
        (m.data + m.stack) / PAGE
    )
}

/// A random (version 4) UUID, as /proc/sys/kernel/random/uuid gives.
fn random_uuid() -> String {
    let mut b = [0u8; 16];
    let _ = crate::sys::getrandom(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", h[..4].concat(), h[4..6].concat(), h[6..8].concat(), h[8..10].concat(), h[10..].concat())
}

/// The sandbox's boot id: one UUID for its life (one sandbox per Sentry).
fn boot_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(random_uuid)
}

/// /proc/PID/io: the process's read- and write-call counts and bytes; no
/// storage I/O (read_bytes, write_bytes) is its own, as the sandbox has no
/// block device.
fn io(s: &Snap) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let io = &s.tg().io;
    format!(
        "rchar: {}\nwchar: {}\nsyscr: {}\nsyscw: {}\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
        io.rchar.load(Relaxed),
        io.wchar.load(Relaxed),
        io.syscr.load(Relaxed),
        io.syscw.load(Relaxed)
    )
}

/// /proc/PID/smaps: each mapping's maps line, then its sizes as
/// `show_smap` prints them (resident pages from the memory file; one
/// address space's pages count wholly in its Pss), and `smaps_rollup`, the
/// sums under one line.
fn smaps(s: &Snap, k: &Kernel, rollup: bool) -> String {
    use crate::mm::Backing;
    let lines = maps(s, k);
    let mm = s.view.mm.lock().unwrap_or_else(|e| e.into_inner());
    let mut o = String::new();
    let mut total = [0u64; 4]; // size, rss, anonymous, shared
    let mut locked = 0;
    let (mut first, mut last) = (u64::MAX, 0);
    for ((start, v), line) in mm.vmas().zip(lines.lines()) {
        let len = v.end - start;
        let rss = resident_bytes(&mm, v.mem_off, len);
        let anon = if matches!(v.backing, Backing::Anon) && !v.shared { rss } else { 0 };
        let shared = if v.shared { rss } else { 0 };
        (first, last) = (first.min(start), last.max(v.end));
        for (t, x) in total.iter_mut().zip([len, rss, anon, shared]) {
            *t += x;
        }
        if v.locked {
            locked += rss;
        }
        if !rollup {
            o.push_str(line);
            o.push('\n');
            smaps_sizes(&mut o, len, rss, anon, shared, if v.locked { rss } else { 0 });
            let _ = writeln!(o, "VmFlags: {}", vm_flags(v));
        }
    }
    if rollup {
        let _ = writeln!(o, "{:08x}-{:08x} ---p 00000000 00:00 0{:>28}[rollup]", first.min(last), last, "");
        let [_, rss, anon, shared] = total;
        smaps_sizes(&mut o, 0, rss, anon, shared, locked);
        // The rollup has no Size, KernelPageSize or MMUPageSize lines.
        o = o.lines().filter(|l| !l.starts_with("Size:") && !l.contains("PageSize:")).collect::<Vec<_>>().join("\n");
        o.push('\n');
    }
    o
}

fn smaps_sizes(o: &mut String, size: u64, rss: u64, anon: u64, shared: u64, locked: u64) {
    let private = rss - shared;
    for (name, v) in [
        ("Size", size),
        ("KernelPageSize", PAGE),
        ("MMUPageSize", PAGE),
        ("Rss", rss),
        ("Pss", rss),
        ("Pss_Dirty", anon),
        ("Shared_Clean", 0),
        ("Shared_Dirty", shared),
        ("Private_Clean", 0),
        ("Private_Dirty", private),
        ("Referenced", rss),
        ("Anonymous", anon),
        ("KSM", 0),
        ("LazyFree", 0),
        ("AnonHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FilePmdMapped", 0),
        ("Shared_Hugetlb", 0),
        ("Private_Hugetlb", 0),
        ("Swap", 0),
        ("SwapPss", 0),
        ("Locked", locked),
    ] {
        let _ = writeln!(o, "{:<16}{:>8} kB", format!("{name}:"), v / 1024);
    }
    let _ = writeln!(o, "THPeligible:    0");
}

/// A mapping's VmFlags, as `show_smap_vma_flags` names them.
fn vm_flags(v: &crate::mm::Vma) -> String {
    use abi::flags::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
    let mut f = Vec::new();
    for (bit, name) in [(PROT_READ, "rd"), (PROT_WRITE, "wr"), (PROT_EXEC, "ex")] {
        if v.prot & bit != 0 {
            f.push(name);
        }
    }
    if v.shared {
        f.push("sh");
    }
    f.extend(["mr", "mw", "me"]);
    if v.shared {
        f.push("ms");
    }
    if v.locked {
        f.push("lo");
    }
    if v.sealed {
        f.push("sl");
    }
    f.join(" ")
}

/// /proc/PID/limits, as `proc_pid_limits` prints it.
fn limits(s: &Snap) -> String {
    const NAMES: [(&str, &str); 16] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let lims = *s.tg().rlimits.lock().unwrap_or_else(|e| e.into_inner());
    let mut o = format!("{:<25} {:<20} {:<20} {:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    let show = |v: u64| if v == u64::MAX { "unlimited".to_string() } else { v.to_string() };
    for (i, (name, unit)) in NAMES.iter().enumerate() {
        let l = lims[i];
        let _ = writeln!(o, "{:<25} {:<20} {:<20} {:<10}", name, show(l.cur), show(l.max), unit);
    }
    o
}

fn kb(bytes: u64) -> String {
    format!("{:>8} kB", bytes / 1024)
}

/// /proc/PID/status, as `proc_pid_status` prints it.
fn status(s: &Snap) -> String {
    let creds = s.tg().creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let umask = s.view.fs.lock().unwrap_or_else(|e| e.into_inner()).umask;
    let fdsize = {
        let fds = s.view.fds.lock().unwrap_or_else(|e| e.into_inner());
        fds.fds().last().map_or(64, |n| ((n as usize + 1).next_power_of_two()).max(64))
    };
    let m = mem_summary(&s.view);
    let (ign, cgt) = sig_sets(s.tg());
    let mut o = String::new();
    let _ = writeln!(o, "Name:\t{}", comm(&s.view));
    let _ = writeln!(o, "Umask:\t{umask:04o}");
    let _ = writeln!(o, "State:\t{}", state_name(s.state));
    let tracer = if s.handle.ptrace.is_traced() { s.handle.ptrace.state().tracer_pid } else { 0 };
    let _ = writeln!(o, "Tgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t{tracer}", s.tgid, s.tid, s.ppid);
    let _ = writeln!(o, "Uid:\t{}\t{}\t{}\t{}", creds.uid, creds.euid, creds.suid, creds.fsuid);
    let _ = writeln!(o, "Gid:\t{}\t{}\t{}\t{}", creds.gid, creds.egid, creds.sgid, creds.fsgid);
    let _ = writeln!(o, "FDSize:\t{fdsize}");
    let groups: Vec<String> = creds.groups.iter().map(u32::to_string).collect();
    let _ = writeln!(o, "Groups:\t{}", groups.join(" "));
    let _ = writeln!(o, "NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}", s.tgid, s.tid, s.pgid, s.sid);
    for (name, v) in [
        ("VmPeak", m.vsize),
        ("VmSize", m.vsize),
        ("VmLck", m.locked),
        ("VmPin", 0),
        ("VmHWM", m.rss()),
        ("VmRSS", m.rss()),
        ("RssAnon", m.rss_anon),
        ("RssFile", m.rss_file),
        ("RssShmem", m.rss_shmem),
        ("VmData", m.data),
        ("VmStk", m.stack),
        ("VmExe", m.exec),
        ("VmLib", 0),
        ("VmPTE", 0),
        ("VmSwap", 0),
    ] {
        let _ = writeln!(o, "{name}:\t{}", kb(v));
    }
    let _ = writeln!(o, "HugetlbPages:\t{}", kb(0));
    let _ = writeln!(o, "CoreDumping:\t0\nTHP_enabled:\t1");
    let _ = writeln!(o, "Threads:\t{}", s.nthreads);
    let _ = writeln!(o, "SigQ:\t0/63000");
    let _ = writeln!(o, "SigPnd:\t{:016x}", s.handle.pending_set());
    let _ = writeln!(o, "ShdPnd:\t{:016x}", s.tg().pending_bits.load(std::sync::atomic::Ordering::Relaxed));
    let _ = writeln!(o, "SigBlk:\t{:016x}", s.handle.blocked.load(std::sync::atomic::Ordering::Relaxed));
    let _ = writeln!(o, "SigIgn:\t{ign:016x}\nSigCgt:\t{cgt:016x}");
    let c = &creds.caps;
    let _ =
        writeln!(o, "CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}", c.inheritable, c.permitted, c.effective);
    let _ = writeln!(o, "CapBnd:\t{:016x}\nCapAmb:\t{:016x}", c.bounding, c.ambient);
    let nnp = u8::from(s.handle.no_new_privs.load(std::sync::atomic::Ordering::Relaxed));
    let seccomp = s.handle.seccomp_mode();
    let (mode, filters) = (seccomp.number(), seccomp.filters());
    let _ = writeln!(o, "NoNewPrivs:\t{nnp}\nSeccomp:\t{mode}\nSeccomp_filters:\t{filters}");
    let _ = writeln!(o, "Speculation_Store_Bypass:\tthread vulnerable");
    let _ = writeln!(o, "SpeculationIndirectBranch:\tconditional enabled");
    o
}

/// One mapping as /proc/PID/maps and the PROCMAP_QUERY ioctl describe it.
pub(crate) struct MapView {
    pub start: u64,
    pub end: u64,
    /// `PROT_*` bits.
    pub prot: u32,
    pub shared: bool,
    /// Whether a file backs it (Linux's `vm_file`): a host file's, a
    /// tmpfs file's or a memfd's mapping; not anonymous memory or the vDSO.
    pub file: bool,
    /// The file offset of its start (0 without a file).
    pub offset: u64,
    /// The file's device and inode number, where Husk knows them (a named
    /// host file; 0 otherwise).
    pub dev: u64,
    pub ino: u64,
    /// What maps names it: the file's path (with " (deleted)" once
    /// unlinked), or `[heap]`, `[stack]`, `[vdso]`, ...
    pub name: Option<Vec<u8>>,
    /// A host file's fd, for its build ID.
    pub host_fd: Option<Arc<std::os::fd::OwnedFd>>,
}

/// The mappings of the address space of `s`, in address order, described
/// as Linux's `show_map_vma` and `get_vma_name` do.
pub(crate) fn map_views(k: &Kernel, mm: &std::sync::Mutex<crate::mm::MemoryManager>) -> Vec<MapView> {
    use crate::mm::Backing;
    // Taken under the lock, with each host file's dentry; the paths, which
    // walk dentries and the mount table, are made after it.
    let (views, top, (brk_base, brk, _)) = {
        let mm = mm.lock().unwrap_or_else(|e| e.into_inner());
        let views: Vec<(MapView, Option<Arc<Dentry>>)> = mm
            .vmas()
            .map(|(start, v)| {
                let mut m = MapView {
                    start,
                    end: v.end,
                    prot: v.prot,
                    shared: v.shared,
                    file: false,
                    offset: 0,
                    dev: 0,
                    ino: 0,
                    name: None,
                    host_fd: None,
                };
                let mut dentry = None;
                match &v.backing {
                    Backing::File { offset, name, fd } => {
                        (m.file, m.offset, m.host_fd) = (true, *offset, Some(fd.clone()));
                        dentry = name.clone();
                    }
                    Backing::Pages { source, offset } => {
                        m.file = source.is_file();
                        m.offset = if m.file { *offset } else { 0 };
                        m.name = source.map_name().map(String::into_bytes);
                    }
                    Backing::Anon | Backing::PastEof => {}
                }
                (m, dentry)
            })
            .collect();
        (views, mm.stack_top(), mm.layout())
    };
    views
        .into_iter()
        .map(|(mut m, dentry)| {
            if let Some(d) = dentry {
                let a = d.attr();
                (m.dev, m.ino, m.name) = (a.dev, a.ino, Some(d_path(k, &d)));
            } else if m.name.is_none() && !m.file && m.start < brk && m.end > brk_base {
                m.name = Some(b"[heap]".to_vec());
            } else if m.name.is_none() && !m.file && m.end == top {
                m.name = Some(b"[stack]".to_vec());
            }
            m
        })
        .collect()
}

/// The address space of process `tgid` (thread `tid`'s), for
/// PROCMAP_QUERY; ESRCH once it is gone.
pub(crate) fn mm_of(
    k: &Kernel,
    tgid: i32,
    tid: Option<i32>,
) -> SysResult<Arc<std::sync::Mutex<crate::mm::MemoryManager>>> {
    Ok(snap(k, tgid, tid)?.view.mm)
}

/// /proc/PID/maps, as `show_map_vma` prints it.
fn maps(s: &Snap, k: &Kernel) -> String {
    use abi::flags::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
    let mut o = String::new();
    for m in map_views(k, &s.view.mm) {
        let line_start = o.len();
        let _ = write!(
            o,
            "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
            m.start,
            m.end,
            if m.prot & PROT_READ != 0 { 'r' } else { '-' },
            if m.prot & PROT_WRITE != 0 { 'w' } else { '-' },
            if m.prot & PROT_EXEC != 0 { 'x' } else { '-' },
            if m.shared { 's' } else { 'p' },
            m.offset,
            super::devfs::major(m.dev),
            super::devfs::minor(m.dev),
            m.ino,
        );
        if let Some(name) = m.name {
            // seq_pad: to column 72 (25 + 6 * sizeof(void *) - 1), then a space.
            while o.len() - line_start < 72 {
                o.push(' ');
            }
            o.push(' ');
            o.push_str(&String::from_utf8_lossy(&name));
        }
        o.push('\n');
    }
    o
}

/// The device of the filesystem mounted at `point`.
fn mount_dev(k: &Kernel, point: &[u8]) -> u64 {
    let root = k.vfs.root().clone();
    k.vfs.resolve(&root, &root, point, super::Follow::Yes).map(|d| d.attr().dev).unwrap_or(0)
}

/// The mountinfo id of the mount of the filesystem with device `dev`
/// (the last mounted, if several show it; the root's if none does).
pub(crate) fn mount_id_of(k: &Kernel, dev: u64) -> usize {
    let records = k.vfs.mount_records();
    records.iter().filter(|r| mount_dev(k, &r.point) == dev).map(|r| r.id).last().unwrap_or(super::mount::FIRST_ID)
}

/// /proc/PID/mountinfo, as `show_mountinfo` prints it: a mount id (the
/// root's is 1 past the outer one it hides), its parent's (the mount whose
/// point is the nearest above), the device, the root within the
/// filesystem (always /), the point, the per-mount options, no optional
/// fields, then the type, source and the filesystem's options.
fn mountinfo(k: &Kernel) -> String {
    let records = k.vfs.mount_records();
    let mut o = String::new();
    for (i, r) in records.iter().enumerate() {
        let parent = records[..i]
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                let pp = p.point.strip_suffix(b"/").unwrap_or(&p.point);
                // (Or one it is stacked on.)
                (r.point.starts_with(pp) && r.point.get(pp.len()) == Some(&b'/')) || r.point == p.point
            })
            .max_by_key(|(_, p)| p.point.len())
            .map_or(super::mount::FIRST_ID - 1, |(_, p)| p.id);
        let dev = mount_dev(k, &r.point);
        let per_mount = format!("{}{}", if r.mount_readonly() { "ro" } else { "rw" }, r.mount_options());
        let mut fs_opts = String::from(if r.sb_ro { "ro" } else { "rw" });
        if !r.fs_opts.is_empty() {
            fs_opts.push(',');
            fs_opts.push_str(&r.fs_opts);
        }
        let _ = writeln!(
            o,
            "{} {} {}:{} / {} {} - {} {} {}",
            r.id,
            parent,
            super::devfs::major(dev),
            super::devfs::minor(dev),
            String::from_utf8_lossy(&r.point),
            per_mount,
            r.fstype,
            r.source,
            fs_opts,
        );
    }
    o
}

/// /proc/PID/mounts (and /proc/mounts), as `show_vfsmnt` prints it.
fn mounts(k: &Kernel) -> String {
    let mut o = String::new();
    for r in k.vfs.mount_records() {
        let _ = writeln!(o, "{} {} {} {} 0 0", r.source, String::from_utf8_lossy(&r.point), r.fstype, r.options());
    }
    o
}

/// The path of `d` as Linux's `d_path` gives it: with " (deleted)" once
/// no name links it any more (a synthetic file, made afresh at each
/// lookup, always has its name).
fn d_path(k: &Kernel, d: &Arc<Dentry>) -> Vec<u8> {
    let mut path = k.vfs.path_of(d);
    if d.synth().is_none() && !d.is_linked() {
        path.extend_from_slice(b" (deleted)");
    }
    path
}

/// What /proc/PID/fd/N links to, as `d_path` and the pseudo filesystems'
/// `d_dname` name it.
fn fd_target(k: &Kernel, file: &super::file::File) -> Vec<u8> {
    if let Some(link) = file.ops.fd_link() {
        return link;
    }
    if let Some(d) = &file.dentry {
        return d_path(k, d);
    }
    // A message queue is a file of Linux's internal mqueue mount.
    if let Some(mq) = file.ops.mqueue() {
        return [b"/".as_slice(), &mq.name].concat();
    }
    let attr = file.ops.stat().unwrap_or_default();
    let name = if file.ops.is_pipe() || attr.mode & S_IFMT == S_IFIFO {
        format!("pipe:[{}]", attr.ino)
    } else if attr.mode & S_IFMT == S_IFSOCK {
        format!("socket:[{}]", attr.ino)
    } else if file.ops.tty().is_some() {
        "/dev/console".to_string()
    } else if let Some(name) = file.ops.anon_name() {
        format!("anon_inode:{name}")
    } else {
        "anon_inode:[unknown]".to_string()
    };
    name.into_bytes()
}

/// /proc/PID/fd: one symlink per open fd.
struct FdDir {
    proc: Arc<ProcFs>,
    tgid: i32,
    ino: u64,
}

impl FdDir {
    fn node(&self, fd: i32, file: &Arc<super::file::File>) -> SynthNode {
        use abi::flags::open::{O_ACCMODE, O_RDONLY, O_WRONLY};
        let me = self.proc.clone();
        let weak = Arc::downgrade(file);
        let g: Generator = Arc::new(move || {
            let k = me.kernel()?;
            // The link names the file the fd referred to when it was looked
            // up; once that is closed the link no longer resolves.
            let f = weak.upgrade().ok_or(Errno::ENOENT)?;
            Ok(fd_target(&k, &f))
        });
        let mut n = SynthNode::link(&self.proc.fs, child_ino(self.ino, fd.to_string().as_bytes()), g);
        n.file = Some(Arc::downgrade(file));
        let acc = file.flags() & O_ACCMODE;
        n.mode = abi::flags::mode::S_IFLNK
            | if acc == O_WRONLY { 0 } else { 0o500 }
            | if acc == O_RDONLY { 0 } else { 0o300 };
        n
    }
}

impl SynthDir for FdDir {
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        let Ok(k) = self.proc.kernel() else { return Vec::new() };
        let Ok(s) = snap(&k, self.tgid, None) else { return Vec::new() };
        let files: Vec<(i32, Arc<super::file::File>)> = {
            let fds = s.view.fds.lock().unwrap_or_else(|e| e.into_inner());
            fds.fds().filter_map(|fd| fds.get(fd).ok().map(|f| (fd, f.clone()))).collect()
        };
        files.iter().map(|(fd, f)| (fd.to_string().into_bytes(), self.node(*fd, f))).collect()
    }

    fn lookup(&self, name: &[u8]) -> Option<SynthNode> {
        let fd: i32 = std::str::from_utf8(name).ok()?.parse().ok()?;
        if name.starts_with(b"0") && name.len() > 1 || name.starts_with(b"+") {
            return None;
        }
        let k = self.proc.kernel().ok()?;
        let s = snap(&k, self.tgid, None).ok()?;
        let file = s.view.fds.lock().unwrap_or_else(|e| e.into_inner()).get(fd).ok()?.clone();
        Some(self.node(fd, &file))
    }
}

/// /proc/PID/fdinfo: one file per open fd, as `seq_show` prints it (the
/// position, the status flags with close-on-exec, the mount id, the inode).
struct FdInfoDir {
    proc: Arc<ProcFs>,
    tgid: i32,
    ino: u64,
}

impl FdInfoDir {
    fn node(&self, fd: i32) -> (Vec<u8>, SynthNode) {
        let (me, tgid) = (self.proc.clone(), self.tgid);
        let g: Generator = Arc::new(move || {
            let k = me.kernel()?;
            let s = snap(&k, tgid, None)?;
            let fds = s.view.fds.lock().unwrap_or_else(|e| e.into_inner());
            let file = fds.get(fd).map_err(|_| Errno::ENOENT)?.clone();
            let cloexec = fds.cloexec(fd).unwrap_or(false);
            drop(fds);
            let pos = *file.offset.lock().unwrap_or_else(|e| e.into_inner());
            let flags = file.flags() | if cloexec { abi::flags::open::O_CLOEXEC } else { 0 };
            let ino = file.ops.stat().map(|a| a.ino).unwrap_or(0);
            let mut text = format!("pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t21\nino:\t{ino}\n");
            // What the file's kind adds (inotify's watches).
            if let Some(i) = file.ops.inotify() {
                text.push_str(&i.fdinfo());
            }
            Ok(text.into_bytes())
        });
        self.proc.file(self.ino, &fd.to_string(), 0o400, g)
    }
}

impl SynthDir for FdInfoDir {
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        let Ok(k) = self.proc.kernel() else { return Vec::new() };
        let Ok(s) = snap(&k, self.tgid, None) else { return Vec::new() };
        let fds: Vec<i32> = s.view.fds.lock().unwrap_or_else(|e| e.into_inner()).fds().collect();
        fds.into_iter().map(|fd| self.node(fd)).collect()
    }

    fn lookup(&self, name: &[u8]) -> Option<SynthNode> {
        if name.starts_with(b"0") && name.len() > 1 || name.starts_with(b"+") {
            return None;
        }
        let fd: i32 = std::str::from_utf8(name).ok()?.parse().ok()?;
        let k = self.proc.kernel().ok()?;
        let s = snap(&k, self.tgid, None).ok()?;
        s.view.fds.lock().unwrap_or_else(|e| e.into_inner()).get(fd).ok()?;
        Some(self.node(fd).1)
    }
}

/// /proc/PID and /proc/PID/task/TID.
struct PidDir {
    proc: Arc<ProcFs>,
    tgid: i32,
    /// `Some` for a /proc/PID/task/TID directory.
    tid: Option<i32>,
    ino: u64,
    uid: u32,
    gid: u32,
}

impl PidDir {
    fn new(proc: &Arc<ProcFs>, tgid: i32, tid: Option<i32>, ino: u64) -> Option<PidDir> {
        let k = proc.kernel().ok()?;
        let s = snap(&k, tgid, tid).ok()?;
        let c = s.tg().creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(PidDir { proc: proc.clone(), tgid, tid, ino, uid: c.euid, gid: c.egid })
    }

    /// A generator over a snapshot of this thread.
    fn gen(&self, f: impl Fn(&Snap, &Arc<Kernel>) -> SysResult<Vec<u8>> + Send + Sync + 'static) -> Generator {
        let (me, tgid, tid) = (self.proc.clone(), self.tgid, self.tid);
        Arc::new(move || {
            let k = me.kernel()?;
            let s = snap(&k, tgid, tid)?;
            f(&s, &k)
        })
    }

    fn file(&self, name: &str, perm: u32, g: Generator) -> (Vec<u8>, SynthNode) {
        let (n, node) = self.proc.file(self.ino, name, perm, g);
        (n, node.owned(self.uid, self.gid))
    }

    fn link(&self, name: &str, g: Generator) -> (Vec<u8>, SynthNode) {
        let (n, node) = self.proc.link(self.ino, name, g);
        (n, node.owned(self.uid, self.gid))
    }

    /// /proc/PID/oom_score_adj, which a write sets (LTP's library lowers
    /// it for every test).
    /// /proc/PID/pagemap (mode 0400, as Linux's).
    fn pagemap(&self) -> (Vec<u8>, SynthNode) {
        let name = b"pagemap";
        let (me, tgid, tid, ino) = (self.proc.clone(), self.tgid, self.tid, child_ino(self.ino, name));
        let open: super::synth::Opener = Arc::new(move || {
            let k = me.kernel()?;
            let mm = snap(&k, tgid, tid)?.view.mm.clone();
            Ok(Box::new(Pagemap { mm, ino }) as Box<dyn super::file::FileOps>)
        });
        let node = SynthNode::object(&self.proc.fs, ino, 0o400, 0, open);
        (name.to_vec(), node.owned(self.uid, self.gid))
    }

    /// /proc/PID/timens_offsets (mode 0644).
    fn timens_offsets(&self) -> (Vec<u8>, SynthNode) {
        self.process_object(b"timens_offsets", |proc, tg, ino| Box::new(TimensOffsets { proc, tg, ino }))
    }

    fn oom_score_adj(&self) -> (Vec<u8>, SynthNode) {
        self.process_object(b"oom_score_adj", |proc, tg, ino| Box::new(OomScoreAdj { proc, tg, ino }))
    }

    /// A file `name` (mode 0644) that `make` opens on the process.
    fn process_object(
        &self,
        name: &'static [u8],
        make: fn(Arc<ProcFs>, Arc<ThreadGroup>, u64) -> Box<dyn super::file::FileOps>,
    ) -> (Vec<u8>, SynthNode) {
        let (me, tgid, tid, ino) = (self.proc.clone(), self.tgid, self.tid, child_ino(self.ino, name));
        let open: super::synth::Opener = Arc::new(move || {
            let k = me.kernel()?;
            let tg = snap(&k, tgid, tid)?.tg().clone();
            Ok(make(me.clone(), tg, ino))
        });
        let node = SynthNode::object(&self.proc.fs, ino, 0o644, 0, open);
        (name.to_vec(), node.owned(self.uid, self.gid))
    }
}

/// /proc/PID/ns: a link per kind of namespace, `time:[4026531834]` and
/// the like, which opens a file of that namespace (for setns); with
/// `pid_for_children` and `time_for_children`.
struct NsDir {
    proc: Arc<ProcFs>,
    tgid: i32,
    tid: Option<i32>,
    ino: u64,
    uid: u32,
    gid: u32,
}

impl NsDir {
    const NAMES: [(&'static str, NsKind, bool); 10] = [
        ("cgroup", NsKind::Cgroup, false),
        ("ipc", NsKind::Ipc, false),
        ("mnt", NsKind::Mnt, false),
        ("net", NsKind::Net, false),
        ("pid", NsKind::Pid, false),
        ("pid_for_children", NsKind::Pid, true),
        ("time", NsKind::Time, false),
        ("time_for_children", NsKind::Time, true),
        ("user", NsKind::User, false),
        ("uts", NsKind::Uts, false),
    ];

    fn node(&self, name: &str, kind: NsKind, for_children: bool) -> (Vec<u8>, SynthNode) {
        let (me, tgid, tid) = (self.proc.clone(), self.tgid, self.tid);
        let which = move || -> SysResult<crate::kernel::ns::NsRef> {
            let k = me.kernel()?;
            let s = snap(&k, tgid, tid)?;
            Ok(s.tg().ns().get(kind, for_children))
        };
        let which = Arc::new(which);
        let text = which.clone();
        let g: Generator = Arc::new(move || Ok(text()?.link_text()));
        let (n, mut node) = self.proc.link(self.ino, name, g);
        node.opens =
            Some(Arc::new(move || Ok(Box::new(super::nsfs::NsFile(which()?)) as Box<dyn super::file::FileOps>)));
        node.mode = abi::flags::mode::S_IFLNK | 0o777;
        (n, node.owned(self.uid, self.gid))
    }
}

impl SynthDir for NsDir {
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        Self::NAMES.iter().map(|&(name, kind, children)| self.node(name, kind, children)).collect()
    }

    fn lookup(&self, name: &[u8]) -> Option<SynthNode> {
        let &(n, kind, children) = Self::NAMES.iter().find(|(n, _, _)| n.as_bytes() == name)?;
        Some(self.node(n, kind, children).1)
    }
}

/// An open /proc/PID/timens_offsets: the offsets of the process's
/// `time_for_children` namespace, as Linux's proc_timens_show_offsets
/// prints them; a write sets them (see [`parse_timens_offsets`]), with
/// CAP_SYS_TIME (EPERM), until a process enters the namespace (EACCES).
struct TimensOffsets {
    proc: Arc<ProcFs>,
    tg: Arc<ThreadGroup>,
    ino: u64,
}

impl super::file::FileOps for TimensOffsets {
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, mf: &crate::mm::MemoryFile, dst: &[crate::mm::Chunk], offset: Option<u64>) -> SysResult<usize> {
        let o = self.tg.ns().time_for_children.map(|t| t.offsets()).unwrap_or_default();
        let text = format!(
            "{:<10} {:>10} {:>9}\n{:<10} {:>10} {:>9}\n",
            "monotonic", o.monotonic.0, o.monotonic.1, "boottime", o.boottime.0, o.boottime.1
        );
        let start = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX).min(text.len());
        Ok(super::file::put_bytes(mf, dst, &text.as_bytes()[start..]))
    }

    fn write(&self, mf: &crate::mm::MemoryFile, src: &[crate::mm::Chunk], offset: Option<u64>) -> SysResult<usize> {
        let count = src.iter().map(|c| c.len).sum::<u64>();
        // Less than a page, at the file's start.
        if offset.unwrap_or(0) != 0 || count >= abi::PAGE_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut buf = vec![0u8; count as usize];
        super::file::get_bytes(mf, src, &mut buf);
        let (offsets, used) = parse_timens_offsets(&buf)?;
        let k = self.proc.kernel()?;
        let writer = k.procs().threads.get(&current_tid()).map(|h| h.tg.clone()).ok_or(Errno::ESRCH)?;
        let may = writer.creds.lock().unwrap_or_else(|e| e.into_inner()).has_cap(abi::flags::capability::CAP_SYS_TIME);
        if !may {
            return Err(Errno::EPERM);
        }
        match self.tg.ns().time_for_children {
            Some(ns) => ns.set_offsets(&offsets)?,
            // The first time namespace's offsets are fixed (Linux's
            // init_time_ns is frozen from the start).
            None => {
                crate::kernel::ns::check_offsets(&offsets)?;
                return Err(Errno::EACCES);
            }
        }
        Ok(used)
    }

    fn stat(&self) -> SysResult<gofer::FileAttr> {
        Ok(gofer::FileAttr { mode: abi::flags::mode::S_IFREG | 0o644, ino: self.ino, nlink: 1, ..Default::default() })
    }
}

/// A clock and its new offset (seconds, nanoseconds).
type ClockOffset = (u32, (i64, i64));

/// The offsets a write to timens_offsets gives, as Linux's
/// timens_offsets_write parses them: up to two lines of `CLOCK SECS
/// NSECS`, the clock by name (`monotonic`, `boottime`) or number, the
/// nanoseconds below a second; EINVAL otherwise. With the bytes taken
/// (the lines up to the second).
fn parse_timens_offsets(buf: &[u8]) -> SysResult<(Vec<ClockOffset>, usize)> {
    use abi::flags::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC};
    let text = &buf[..buf.iter().position(|&b| b == 0).unwrap_or(buf.len())];
    let mut out = Vec::new();
    let mut used = buf.len();
    let mut pos = 0;
    while pos < text.len() || out.is_empty() {
        let end = text[pos..].iter().position(|&b| b == b'\n').map_or(text.len(), |n| pos + n);
        let line = std::str::from_utf8(&text[pos..end]).map_err(|_| Errno::EINVAL)?;
        let mut words = line.split_ascii_whitespace();
        let (Some(clock), Some(secs), Some(nsecs)) = (words.next(), words.next(), words.next()) else {
            return Err(Errno::EINVAL);
        };
        let clock = match clock {
            "monotonic" | "1" => CLOCK_MONOTONIC,
            "boottime" | "7" => CLOCK_BOOTTIME,
            _ => return Err(Errno::EINVAL),
        };
        let secs: i64 = secs.parse().map_err(|_| Errno::EINVAL)?;
        let nsecs: u64 = nsecs.parse().map_err(|_| Errno::EINVAL)?;
        if nsecs >= 1_000_000_000 {
            return Err(Errno::EINVAL);
        }
        out.push((clock, (secs, nsecs as i64)));
        pos = end + 1;
        if out.len() == 2 {
            if pos < text.len() {
                used = pos;
            }
            break;
        }
    }
    Ok((out, used))
}

/// An open /proc/PID/pagemap: 8 bytes per page of the address space it
/// was opened on ([`crate::mm::MemoryManager::pagemap`]).
struct Pagemap {
    mm: Arc<std::sync::Mutex<crate::mm::MemoryManager>>,
    ino: u64,
}

impl super::file::FileOps for Pagemap {
    fn seekable(&self) -> bool {
        true
    }

    /// As Linux's pagemap_read: EINVAL unless the offset and the count are
    /// whole entries; past the app's range, end of file.
    fn read(&self, mf: &crate::mm::MemoryFile, dst: &[crate::mm::Chunk], offset: Option<u64>) -> SysResult<usize> {
        const ENTRY: u64 = 8;
        /// Entries made at a time, bounding what one read allocates.
        const PIECE: u64 = 1 << 16;
        let count: u64 = dst.iter().map(|c| c.len).sum();
        let offset = offset.unwrap_or(0);
        if !offset.is_multiple_of(ENTRY) || !count.is_multiple_of(ENTRY) {
            return Err(Errno::EINVAL);
        }
        let (mut page, mut left, mut done) = (offset / ENTRY, count / ENTRY, 0usize);
        while left > 0 {
            let entries = self.mm.lock().unwrap_or_else(|e| e.into_inner()).pagemap(page, left.min(PIECE));
            if entries.is_empty() {
                break;
            }
            let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_ne_bytes()).collect();
            done += super::file::put_bytes(mf, &crate::mm::sub_chunks(dst, done as u64), &bytes);
            page += entries.len() as u64;
            left -= entries.len() as u64;
        }
        Ok(done)
    }

    fn stat(&self) -> SysResult<gofer::FileAttr> {
        Ok(gofer::FileAttr { mode: abi::flags::mode::S_IFREG | 0o400, ino: self.ino, nlink: 1, ..Default::default() })
    }
}

/// An open /proc/PID/oom_score_adj: reads the value, and a write of an
/// integer in [-1000, 1000] sets it (EINVAL otherwise), as Linux's
/// `__set_oom_adj`: below the process's floor only with CAP_SYS_RESOURCE
/// (EACCES), which also moves the floor.
struct OomScoreAdj {
    proc: Arc<ProcFs>,
    tg: Arc<ThreadGroup>,
    ino: u64,
}

impl super::file::FileOps for OomScoreAdj {
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, mf: &crate::mm::MemoryFile, dst: &[crate::mm::Chunk], offset: Option<u64>) -> SysResult<usize> {
        let value = self.tg.oom_score_adj.load(std::sync::atomic::Ordering::Relaxed);
        Ok(read_number(mf, dst, offset, i64::from(value)))
    }

    fn write(&self, mf: &crate::mm::MemoryFile, src: &[crate::mm::Chunk], _offset: Option<u64>) -> SysResult<usize> {
        let value = i32::try_from(written_number(mf, src)?).map_err(|_| Errno::EINVAL)?;
        if !(-1000..=1000).contains(&value) {
            return Err(Errno::EINVAL);
        }
        use std::sync::atomic::Ordering::Relaxed;
        let k = self.proc.kernel()?;
        let writer = k.procs().threads.get(&current_tid()).map(|h| h.tg.clone()).ok_or(Errno::ESRCH)?;
        let privileged =
            writer.creds.lock().unwrap_or_else(|e| e.into_inner()).has_cap(abi::flags::capability::CAP_SYS_RESOURCE);
        if value < self.tg.oom_score_adj_min.load(Relaxed) && !privileged {
            return Err(Errno::EACCES);
        }
        self.tg.oom_score_adj.store(value, Relaxed);
        if privileged {
            self.tg.oom_score_adj_min.store(value, Relaxed);
        }
        Ok(src.iter().map(|c| c.len).sum::<u64>() as usize)
    }

    fn stat(&self) -> SysResult<gofer::FileAttr> {
        Ok(gofer::FileAttr { mode: abi::flags::mode::S_IFREG | 0o644, ino: self.ino, nlink: 1, ..Default::default() })
    }
}

/// A read of a file whose text is `value` and a newline, from `offset`.
fn read_number(mf: &crate::mm::MemoryFile, dst: &[crate::mm::Chunk], offset: Option<u64>, value: i64) -> usize {
    let text = format!("{value}\n");
    let start = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX).min(text.len());
    super::file::put_bytes(mf, dst, &text.as_bytes()[start..])
}

/// The integer a write gives (blanks around it allowed); EINVAL for
/// anything else.
fn written_number(mf: &crate::mm::MemoryFile, src: &[crate::mm::Chunk]) -> SysResult<i64> {
    let len = src.iter().map(|c| c.len).sum::<u64>().min(64) as usize;
    let mut buf = vec![0u8; len];
    super::file::get_bytes(mf, src, &mut buf);
    std::str::from_utf8(&buf).ok().and_then(|t| t.trim().parse().ok()).ok_or(Errno::EINVAL)
}

/// A sysctl's value, read.
pub type SysctlGet = Arc<dyn Fn() -> SysResult<i64> + Send + Sync>;
/// A sysctl's value, written.
pub type SysctlSet = Arc<dyn Fn(i64) -> SysResult<()> + Send + Sync>;

/// A writable integer sysctl of /proc/sys (mode 0644): reads `get()`; a
/// write of an integer calls `set` with it (EINVAL for anything else, or
/// whatever `set` refuses), as Linux's proc_dointvec.
pub struct SysctlInt {
    get: SysctlGet,
    set: SysctlSet,
    ino: u64,
}

impl SysctlInt {
    /// The opener of a /proc/sys file `path` (under /proc/sys) with these
    /// accessors, for [`super::synth::static_tree_with_objects`].
    pub fn node(path: &'static str, get: SysctlGet, set: SysctlSet) -> (&'static str, u32, super::synth::Opener) {
        let ino = child_ino(child_ino(1, b"sys"), path.as_bytes());
        let open: super::synth::Opener = Arc::new(move || {
            let (get, set) = (get.clone(), set.clone());
            Ok(Box::new(SysctlInt { get, set, ino }) as Box<dyn super::file::FileOps>)
        });
        (path, 0o644, open)
    }
}

impl super::file::FileOps for SysctlInt {
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, mf: &crate::mm::MemoryFile, dst: &[crate::mm::Chunk], offset: Option<u64>) -> SysResult<usize> {
        Ok(read_number(mf, dst, offset, (self.get)()?))
    }

    fn write(&self, mf: &crate::mm::MemoryFile, src: &[crate::mm::Chunk], _offset: Option<u64>) -> SysResult<usize> {
        (self.set)(written_number(mf, src)?)?;
        Ok(src.iter().map(|c| c.len).sum::<u64>() as usize)
    }

    fn stat(&self) -> SysResult<gofer::FileAttr> {
        Ok(gofer::FileAttr { mode: abi::flags::mode::S_IFREG | 0o644, ino: self.ino, nlink: 1, ..Default::default() })
    }
}

impl SynthDir for PidDir {
    fn process(&self) -> Option<i32> {
        self.tid.is_none().then_some(self.tgid)
    }

    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        let fs = &self.proc.fs;
        let mut v = vec![
            self.file("cmdline", 0o444, self.gen(|s, _| Ok(s.view.cmdline.to_vec()))),
            self.file("comm", 0o644, self.gen(|s, _| Ok(format!("{}\n", comm(&s.view)).into_bytes()))),
            self.link(
                "cwd",
                self.gen(|s, k| {
                    let cwd = s.view.fs.lock().unwrap_or_else(|e| e.into_inner()).cwd.clone();
                    Ok(d_path(k, &cwd))
                }),
            ),
            self.file("environ", 0o400, self.gen(|s, _| Ok(s.view.environ.to_vec()))),
            self.link("exe", self.gen(|s, k| s.view.exe.as_ref().map(|d| d_path(k, d)).ok_or(Errno::ENOENT))),
        ];
        let fd_ino = child_ino(self.ino, b"fd");
        let fd_dir = FdDir { proc: self.proc.clone(), tgid: self.tgid, ino: fd_ino };
        v.push((b"fd".to_vec(), SynthNode::dir(fs, fd_ino, 0o500, Arc::new(fd_dir)).owned(self.uid, self.gid)));
        let (maps_name, maps_node) = self.file("maps", 0o444, self.gen(|s, k| Ok(maps(s, k).into_bytes())));
        v.push((maps_name, SynthNode { maps_of: Some((self.tgid, self.tid)), ..maps_node }));
        v.push(self.pagemap());
        v.push(self.file("statm", 0o444, self.gen(|s, _| Ok(statm(s).into_bytes()))));
        v.push(self.file("smaps", 0o444, self.gen(|s, k| Ok(smaps(s, k, false).into_bytes()))));
        v.push(self.file("smaps_rollup", 0o444, self.gen(|s, k| Ok(smaps(s, k, true).into_bytes()))));
        v.push(self.file("io", 0o400, self.gen(|s, _| Ok(io(s).into_bytes()))));
        v.push(self.file("limits", 0o444, self.gen(|s, _| Ok(limits(s).into_bytes()))));
        // One cgroup v2 hierarchy, whose root the sandbox is.
        v.push(self.file("cgroup", 0o444, self.gen(|_, _| Ok(b"0::/\n".to_vec()))));
        v.push(self.file("oom_score", 0o444, self.gen(|_, _| Ok(b"0\n".to_vec()))));
        v.push(self.oom_score_adj());
        v.push(self.file(
            "timerslack_ns",
            0o444,
            self.gen(|s, _| {
                let slack = s.handle.timer_slack.load(std::sync::atomic::Ordering::Relaxed);
                Ok(format!("{slack}\n").into_bytes())
            }),
        ));
        let fdinfo_ino = child_ino(self.ino, b"fdinfo");
        let fdinfo = FdInfoDir { proc: self.proc.clone(), tgid: self.tgid, ino: fdinfo_ino };
        v.push((b"fdinfo".to_vec(), SynthNode::dir(fs, fdinfo_ino, 0o500, Arc::new(fdinfo)).owned(self.uid, self.gid)));
        v.push(self.file("mounts", 0o444, self.gen(|_, k| Ok(mounts(k).into_bytes()))));
        v.push(self.file("mountinfo", 0o444, self.gen(|_, k| Ok(mountinfo(k).into_bytes()))));
        v.push(self.link(
            "root",
            self.gen(|s, k| {
                let root = s.view.fs.lock().unwrap_or_else(|e| e.into_inner()).root.clone();
                Ok(k.vfs.path_of(&root))
            }),
        ));
        v.push(self.file("stat", 0o444, self.gen(|s, k| Ok(stat(s, k).into_bytes()))));
        v.push(self.file("status", 0o444, self.gen(|s, _| Ok(status(s).into_bytes()))));
        let ns_ino = child_ino(self.ino, b"ns");
        let ns = NsDir {
            proc: self.proc.clone(),
            tgid: self.tgid,
            tid: self.tid,
            ino: ns_ino,
            uid: self.uid,
            gid: self.gid,
        };
        v.push((b"ns".to_vec(), SynthNode::dir(fs, ns_ino, 0o511, Arc::new(ns)).owned(self.uid, self.gid)));
        v.push(self.timens_offsets());
        if self.tid.is_none() {
            let task_ino = child_ino(self.ino, b"task");
            let task = TaskDir { proc: self.proc.clone(), tgid: self.tgid, ino: task_ino };
            v.push((b"task".to_vec(), SynthNode::dir(fs, task_ino, 0o555, Arc::new(task)).owned(self.uid, self.gid)));
        }
        v
    }
}

/// /proc/PID/task: one directory per thread.
struct TaskDir {
    proc: Arc<ProcFs>,
    tgid: i32,
    ino: u64,
}

impl SynthDir for TaskDir {
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        let Ok(k) = self.proc.kernel() else { return Vec::new() };
        let tids: Vec<i32> =
            k.procs().procs.get(&self.tgid).map(|p| p.threads.iter().map(|h| h.tid).collect()).unwrap_or_default();
        tids.into_iter().filter_map(|t| self.dir(t).map(|n| (t.to_string().into_bytes(), n))).collect()
    }

    fn lookup(&self, name: &[u8]) -> Option<SynthNode> {
        self.dir(parse_pid(name)?)
    }
}

impl TaskDir {
    fn dir(&self, tid: i32) -> Option<SynthNode> {
        let ino = child_ino(self.ino, tid.to_string().as_bytes());
        let d = PidDir::new(&self.proc, self.tgid, Some(tid), ino)?;
        let (uid, gid) = (d.uid, d.gid);
        Some(SynthNode::dir(&self.proc.fs, ino, 0o555, Arc::new(d)).owned(uid, gid))
    }
}

fn parse_pid(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name[0] == b'0' || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// /proc itself.
struct RootDir(Arc<ProcFs>);

impl RootDir {
    fn pid_dir(&self, tgid: i32) -> Option<SynthNode> {
        let ino = child_ino(1, tgid.to_string().as_bytes());
        let d = PidDir::new(&self.0, tgid, None, ino)?;
        let (uid, gid) = (d.uid, d.gid);
        Some(SynthNode::dir(&self.0.fs, ino, 0o555, Arc::new(d)).owned(uid, gid))
    }

    fn fixed(&self) -> Vec<(Vec<u8>, SynthNode)> {
        let p = &self.0;
        let mut v = vec![
            p.file(1, "cpuinfo", 0o444, p.gen(|p, _| Ok(cpuinfo(p.ncpus)))),
            p.file(1, "filesystems", 0o444, p.gen(|_, _| Ok(filesystems()))),
            p.file(1, "key-users", 0o444, p.gen(|_, k| Ok(k.keys.key_users()))),
            p.file(1, "loadavg", 0o444, p.gen(|_, k| Ok(loadavg(k)))),
            p.file(1, "meminfo", 0o444, p.gen(|_, _| Ok(meminfo()))),
            p.link(1, "mounts", Arc::new(|| Ok(b"self/mounts".to_vec()))),
            p.link(
                1,
                "self",
                p.gen(|_, k| {
                    let me = current_tid();
                    let procs = k.procs();
                    let tg = procs.threads.get(&me).map(|h| h.tg.tgid).ok_or(Errno::ENOENT)?;
                    Ok(tg.to_string())
                }),
            ),
            p.file(1, "stat", 0o444, p.gen(|p, k| Ok(proc_stat(p, k)))),
            p.link(
                1,
                "thread-self",
                p.gen(|_, k| {
                    let me = current_tid();
                    let procs = k.procs();
                    let tg = procs.threads.get(&me).map(|h| h.tg.tgid).ok_or(Errno::ENOENT)?;
                    Ok(format!("{tg}/task/{me}"))
                }),
            ),
            p.file(1, "uptime", 0o444, p.gen(|_, k| Ok(uptime(k)))),
            p.file(1, "version", 0o444, p.gen(|_, _| Ok(version()))),
        ];
        v.push((b"sys".to_vec(), self.sys()));
        v.push((b"net".to_vec(), self.net()));
        v.push((b"sysvipc".to_vec(), self.sysvipc()));
        v
    }

    /// /proc/sysvipc: the System V objects, one line each.
    fn sysvipc(&self) -> SynthNode {
        let p = &self.0;
        let ino = child_ino(1, b"sysvipc");
        let files = vec![
            p.file(ino, "msg", 0o444, p.gen(|_, k| Ok(reader_ipc(k).proc_msg()))),
            p.file(ino, "sem", 0o444, p.gen(|_, k| Ok(reader_ipc(k).proc_sem()))),
            p.file(ino, "shm", 0o444, p.gen(|_, k| Ok(reader_ipc(k).proc_shm()))),
        ];
        SynthNode::dir(&p.fs, ino, 0o555, Arc::new(super::synth::StaticDir(files)))
    }

    /// /proc/net: the sandbox's interfaces, routes and sockets (a
    /// directory here, where Linux has a link to self/net).
    fn net(&self) -> SynthNode {
        use super::procnet;
        let p = &self.0;
        let ino = child_ino(1, b"net");
        let mut files = vec![
            p.file(ino, "dev", 0o444, p.gen(|_, k| Ok(procnet::dev(&procnet::view(k))))),
            p.file(ino, "route", 0o444, p.gen(|_, k| Ok(procnet::route(&procnet::view(k))))),
            p.file(ino, "if_inet6", 0o444, p.gen(|_, k| Ok(procnet::if_inet6(&procnet::view(k))))),
        ];
        for (name, kind, v6) in procnet::KINDS {
            files.push(p.file(ino, name, 0o444, p.gen(move |_, k| Ok(procnet::sockets(k, kind, v6)))));
        }
        let me = p.clone();
        files.push(p.file(ino, "unix", 0o444, Arc::new(move || Ok(procnet::unix(&*me.kernel()?)))));
        SynthNode::dir(&p.fs, ino, 0o555, Arc::new(super::synth::StaticDir(files)))
    }

    fn sys(&self) -> SynthNode {
        use crate::kernel::ipc;
        let k = self.0.kernel();
        let aio_nr = k.as_ref().map_or(0, |k| k.aio.nr());
        // Linux's threads-max bounds the threads a fork may make (EAGAIN
        // past it); the sandbox's bound is its task limit.
        let threads_max =
            k.as_ref().ok().and_then(|k| k.procs().task_limit).unwrap_or(crate::kernel::process::DEFAULT_TASK_LIMIT);
        let names = k.as_ref().map(|k| k.uts_names_in(&reader_ns(k))).ok();
        let hostname = names.as_ref().map(|n| String::from_utf8_lossy(&n.hostname).into_owned()).unwrap_or_default();
        let domainname =
            names.as_ref().map(|n| String::from_utf8_lossy(&n.domainname).into_owned()).unwrap_or_default();
        let mut sys = super::synth::static_tree_with_objects(
            &self.0.fs,
            &[
                ("kernel/hostname", format!("{hostname}\n").into_bytes()),
                ("kernel/domainname", format!("{domainname}\n").into_bytes()),
                ("kernel/cap_last_cap", format!("{}\n", abi::flags::capability::CAP_LAST_CAP).into_bytes()),
                ("kernel/ngroups_max", b"65536\n".to_vec()),
                ("kernel/osrelease", format!("{}\n", crate::kernel::UTS_RELEASE).into_bytes()),
                ("kernel/version", format!("{}\n", crate::kernel::UTS_VERSION).into_bytes()),
                ("kernel/ostype", b"Linux\n".to_vec()),
                ("kernel/pid_max", b"4194304\n".to_vec()),
                ("kernel/threads-max", format!("{threads_max}\n").into_bytes()),
                // The sandbox's kernel is never tainted; its core dumps
                // (which it reports, but does not write) go nowhere else.
                ("kernel/tainted", b"0\n".to_vec()),
                ("kernel/core_pattern", b"core\n".to_vec()),
                ("kernel/shmmax", format!("{}\n", ipc::shm::SHMMAX).into_bytes()),
                ("kernel/shmall", format!("{}\n", ipc::shm::SHMALL).into_bytes()),
                ("kernel/shmmni", format!("{}\n", ipc::shm::SHMMNI).into_bytes()),
                ("kernel/sem", ipc::sem::proc_line().into_bytes()),
                ("kernel/msgmax", format!("{}\n", ipc::msg::MSGMAX).into_bytes()),
                ("kernel/msgmnb", format!("{}\n", ipc::msg::MSGMNB).into_bytes()),
                ("kernel/msgmni", format!("{}\n", ipc::msg::MSGMNI).into_bytes()),
                ("fs/mqueue/msg_default", format!("{}\n", ipc::mqueue::MSG_DEFAULT).into_bytes()),
                ("fs/mqueue/msg_max", format!("{}\n", ipc::mqueue::MSG_MAX).into_bytes()),
                ("fs/mqueue/msgsize_default", format!("{}\n", ipc::mqueue::MSGSIZE_DEFAULT).into_bytes()),
                ("fs/mqueue/msgsize_max", format!("{}\n", ipc::mqueue::MSGSIZE_MAX).into_bytes()),
                ("fs/mqueue/queues_max", format!("{}\n", ipc::mqueue::QUEUES_MAX).into_bytes()),
                ("vm/overcommit_memory", b"0\n".to_vec()),
                ("kernel/random/boot_id", format!("{}\n", boot_id()).into_bytes()),
                // Linux 5.18 and later: a ready pool always says 256 bits
                // (as RNDGETENTCNT does on /dev/random).
                ("kernel/random/entropy_avail", b"256\n".to_vec()),
                ("kernel/random/poolsize", b"256\n".to_vec()),
                ("kernel/random/urandom_min_reseed_secs", b"60\n".to_vec()),
                ("kernel/random/write_wakeup_threshold", b"256\n".to_vec()),
                // A new one at each open, as Linux gives one at each read.
                ("kernel/random/uuid", format!("{}\n", random_uuid()).into_bytes()),
                ("fs/file-max", b"9223372036854775807\n".to_vec()),
                ("fs/nr_open", b"1048576\n".to_vec()),
                ("fs/pipe-max-size", format!("{}\n", super::pipe::PIPE_MAX_SIZE).into_bytes()),
                // Linux's defaults; the sandbox counts no pipe pages per
                // user, so no pipe is ever cut to the soft limit's size.
                ("fs/pipe-user-pages-soft", b"16384\n".to_vec()),
                ("fs/pipe-user-pages-hard", b"0\n".to_vec()),
                ("fs/aio-max-nr", format!("{}\n", crate::kernel::aio::AIO_MAX_NR).into_bytes()),
                ("fs/aio-nr", format!("{aio_nr}\n").into_bytes()),
                ("fs/inotify/max_queued_events", format!("{}\n", super::inotify::MAX_QUEUED_EVENTS).into_bytes()),
                ("fs/inotify/max_user_watches", format!("{}\n", super::inotify::MAX_WATCHES).into_bytes()),
                ("fs/leases-enable", b"1\n".to_vec()),
            ],
            &[],
            &self.writable_sysctls(),
            &[],
        );
        sys.ino = child_ino(1, b"sys");
        sys
    }
}

impl RootDir {
    /// The sysctls a write changes: lease-break-time, and the key
    /// quotas and garbage collection delay (`kernel/keys/`), which take
    /// 0 to INT_MAX (EINVAL otherwise).
    fn writable_sysctls(&self) -> Vec<(&'static str, u32, super::synth::Opener)> {
        use crate::kernel::keys::Limits;
        let lease_get: SysctlGet = Arc::new(|| Ok(crate::kernel::lease::LEASES.break_time()));
        let lease_set: SysctlSet = Arc::new(|secs| {
            i32::try_from(secs).map_err(|_| Errno::EINVAL)?;
            crate::kernel::lease::LEASES.set_break_time(secs);
            Ok(())
        });
        let mut v = vec![SysctlInt::node("fs/lease-break-time", lease_get, lease_set)];
        // vm/max_map_count: 0 to INT_MAX, as Linux takes it.
        {
            use std::sync::atomic::Ordering::Relaxed;
            let get: SysctlGet = Arc::new(|| Ok(crate::mm::MAX_MAP_COUNT.load(Relaxed) as i64));
            let set: SysctlSet = Arc::new(|n| {
                let n = u64::try_from(n).ok().filter(|&n| n <= i32::MAX as u64).ok_or(Errno::EINVAL)?;
                crate::mm::MAX_MAP_COUNT.store(n, Relaxed);
                Ok(())
            });
            v.push(SysctlInt::node("vm/max_map_count", get, set));
        }
        // user/max_*_namespaces: the bounds on the namespaces processes
        // make; 0 for the kinds the sandbox does not make (a write there
        // is EINVAL).
        for kind in NsKind::ALL {
            let path: &'static str = match kind {
                NsKind::Cgroup => "user/max_cgroup_namespaces",
                NsKind::Ipc => "user/max_ipc_namespaces",
                NsKind::Mnt => "user/max_mnt_namespaces",
                NsKind::Net => "user/max_net_namespaces",
                NsKind::Pid => "user/max_pid_namespaces",
                NsKind::Time => "user/max_time_namespaces",
                NsKind::User => "user/max_user_namespaces",
                NsKind::Uts => "user/max_uts_namespaces",
            };
            let (p1, p2) = (self.0.clone(), self.0.clone());
            let get: SysctlGet = Arc::new(move || Ok(p1.kernel()?.namespaces.max(kind) as i64));
            let set: SysctlSet = Arc::new(move |n| p2.kernel()?.namespaces.set_max(kind, n));
            v.push(SysctlInt::node(path, get, set));
        }
        type Field = fn(&Limits) -> &std::sync::atomic::AtomicI64;
        let keys: [(&'static str, Field); 6] = [
            ("kernel/keys/maxkeys", |l| &l.maxkeys),
            ("kernel/keys/maxbytes", |l| &l.maxbytes),
            ("kernel/keys/root_maxkeys", |l| &l.root_maxkeys),
            ("kernel/keys/root_maxbytes", |l| &l.root_maxbytes),
            ("kernel/keys/gc_delay", |l| &l.gc_delay),
            ("kernel/keys/persistent_keyring_expiry", |l| &l.persistent_keyring_expiry),
        ];
        for (path, field) in keys {
            use std::sync::atomic::Ordering::Relaxed;
            let (p1, p2) = (self.0.clone(), self.0.clone());
            let get: SysctlGet = Arc::new(move || Ok(field(&p1.kernel()?.keys.limits).load(Relaxed)));
            let set: SysctlSet = Arc::new(move |n| {
                if !(0..=i64::from(i32::MAX)).contains(&n) {
                    return Err(Errno::EINVAL);
                }
                field(&p2.kernel()?.keys.limits).store(n, Relaxed);
                Ok(())
            });
            v.push(SysctlInt::node(path, get, set));
        }
        v
    }
}

impl SynthDir for RootDir {
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        let mut v = self.fixed();
        let Ok(k) = self.0.kernel() else { return v };
        let pids: Vec<i32> = k.procs().procs.keys().copied().collect();
        v.extend(pids.into_iter().filter_map(|p| self.pid_dir(p).map(|n| (p.to_string().into_bytes(), n))));
        v
    }

    fn lookup(&self, name: &[u8]) -> Option<SynthNode> {
        match parse_pid(name) {
            Some(pid) => self.pid_dir(pid),
            None => self.fixed().into_iter().find(|(n, _)| n == name).map(|(_, node)| node),
        }
    }
}

/// /proc/filesystems: every type the kernel knows, none with a device.
fn filesystems() -> String {
    super::FILESYSTEMS.iter().map(|fs| format!("nodev\t{fs}\n")).collect()
}

/// The host's /proc/cpuinfo (harmless, and what programs parse), cut to
/// the sandbox's CPUs, without the features the sandbox does not pass on
/// ([`HIDDEN_CPU_FLAGS`]).
fn cpuinfo(ncpus: usize) -> String {
    static HOST: OnceLock<String> = OnceLock::new();
    let host = HOST.get_or_init(|| crate::kernel::usage::read_proc("/proc/cpuinfo").unwrap_or_default());
    let blocks: Vec<&str> = host.split("\n\n").filter(|b| !b.trim().is_empty()).take(ncpus).collect();
    let mut o = String::new();
    for b in blocks {
        for line in b.trim_end_matches('\n').lines() {
            match line.split_once(':') {
                Some((key, flags)) if key.trim_end() == "flags" => {
                    let kept: Vec<&str> = flags.split_whitespace().filter(|f| !HIDDEN_CPU_FLAGS.contains(f)).collect();
                    let _ = writeln!(o, "{key}: {}", kept.join(" "));
                }
                _ => {
                    o.push_str(line);
                    o.push('\n');
                }
            }
        }
        o.push('\n');
    }
    if o.is_empty() {
        for i in 0..ncpus {
            let _ = write!(o, "processor\t: {i}\nvendor_id\t: unknown\nmodel name\t: unknown\n\n");
        }
    }
    o
}

/// CPU features a sandboxed task cannot use as the host's flags say:
/// CPUID faulting (arch_prctl's ARCH_SET_CPUID), which the Sentry does not
/// offer.
const HIDDEN_CPU_FLAGS: &[&str] = &["cpuid_fault"];

fn meminfo() -> String {
    let (total, free) = crate::sys::host_memory();
    let mut o = String::new();
    for (name, v) in [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", 0),
        ("Mapped", 0),
        ("Shmem", 0),
        ("Slab", 0),
        ("CommitLimit", total / 2),
        ("Committed_AS", 0),
        ("VmallocTotal", 34_359_738_367 * 1024),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
        ("HugePages_Total", u64::MAX),
    ] {
        if name == "HugePages_Total" {
            // The huge-page counts are plain numbers, not kB.
            let _ = writeln!(o, "HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0");
            let _ = writeln!(o, "HugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:               0 kB");
            continue;
        }
        let _ = writeln!(o, "{:<16}{:>8} kB", format!("{name}:"), v / 1024);
    }
    o
}

fn loadavg(k: &Kernel) -> String {
    let procs = k.procs();
    let threads = procs.threads.len();
    let last = procs.threads.keys().max().copied().unwrap_or(1);
    format!("0.00 0.00 0.00 1/{threads} {last}\n")
}

/// The namespaces of the process reading (the sandbox's first ones for
/// a reader outside it).
fn reader_ns(k: &Kernel) -> crate::kernel::ns::NsSet {
    k.procs().threads.get(&current_tid()).map(|h| h.tg.ns()).unwrap_or_default()
}

/// The IPC namespace of the process reading (/proc/sysvipc shows its).
fn reader_ipc(k: &Arc<Kernel>) -> crate::kernel::ns::IpcRef {
    match reader_ns(k).ipc {
        Some(n) => crate::kernel::ns::IpcRef::Other(n),
        None => crate::kernel::ns::IpcRef::Init(k.clone()),
    }
}

/// /proc/uptime, shifted by the reader's time namespace's boottime offset.
fn uptime(k: &Kernel) -> String {
    let offset = crate::kernel::ns::clock_offset(reader_ns(k).time_offsets(), abi::flags::clock::CLOCK_BOOTTIME);
    let (secs, ns) = crate::kernel::ns::shifted(k.boot.elapsed(), offset);
    format!("{}.{:02} {}.{:02}\n", secs, ns / 10_000_000, 0, 0)
}

fn version() -> String {
    format!("Linux version {} (husk@husk) (rustc) {}\n", crate::kernel::UTS_RELEASE, crate::kernel::UTS_VERSION)
}

fn proc_stat(p: &ProcFs, k: &Kernel) -> String {
    let up = k.boot.elapsed();
    let idle = up.as_millis() as u64 * HZ / 1000;
    let mut o = String::new();
    let _ = writeln!(o, "cpu  0 0 0 {} 0 0 0 0 0 0", idle * p.ncpus as u64);
    for i in 0..p.ncpus {
        let _ = writeln!(o, "cpu{i} 0 0 0 {idle} 0 0 0 0 0 0");
    }
    let now = super::tmpfs::now().0;
    let btime = now - up.as_secs() as i64;
    let (nthreads, nprocs) = {
        let procs = k.procs();
        (procs.threads.len(), procs.procs.len())
    };
    let _ = writeln!(o, "intr 0\nctxt 0\nbtime {btime}\nprocesses {nprocs}");
    let _ = writeln!(o, "procs_running {}\nprocs_blocked 0", nthreads.max(1));
    let _ = writeln!(o, "softirq 0 0 0 0 0 0 0 0 0 0 0");
    o
}

#[cfg(test)]
mod timens_tests {
    use super::parse_timens_offsets;
    use abi::flags::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC};
    use abi::Errno;

    #[test]
    fn timens_offsets_parse_as_linux_reads_them() {
        assert_eq!(parse_timens_offsets(b"1 10 0"), Ok((vec![(CLOCK_MONOTONIC, (10, 0))], 6)));
        let two = b"monotonic -5 7\nboottime 3 0\nignored";
        assert_eq!(parse_timens_offsets(two), Ok((vec![(CLOCK_MONOTONIC, (-5, 7)), (CLOCK_BOOTTIME, (3, 0))], 28)));
        for bad in [&b""[..], b"monotonicX 1 0", b"0 1 0", b"boottime 1", b"boottime 1 1000000000", b"7 x 0"] {
            assert_eq!(parse_timens_offsets(bad), Err(Errno::EINVAL), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
