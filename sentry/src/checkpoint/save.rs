//! Writing a frozen sandbox out as an [`Image`].

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::image::*;
use super::{freeze, CheckpointError, Parked};
use crate::kernel::process::{Credentials, ProcState};
use crate::kernel::task::{RestartBlock, Task};
use crate::kernel::{ExitStatus, Kernel};
use crate::mm::{Backing, MemoryManager};
use crate::vfs::file::File;
use crate::vfs::tmpfs::Inode;
use crate::vfs::unix::NameState;
use crate::vfs::{Dentry, Follow};

/// What a checkpoint wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Processes (live and zombie).
    pub processes: usize,
    /// Threads.
    pub threads: usize,
    /// Bytes of the state file.
    pub state_bytes: u64,
    /// Bytes of memory written to the pages file.
    pub page_bytes: u64,
    /// Bytes of an overlay's files on disk written to the disk file.
    pub disk_bytes: u64,
}

/// A thread's private state, as its own task leaves it when it parks.
pub fn thread_image(t: &Task) -> ThreadImage {
    let now = Instant::now();
    let left = |d: Instant| d.saturating_duration_since(now).as_nanos().min(u64::MAX as u128) as u64;
    let restart = t.restart_block.map(|r| match r {
        RestartBlock::Sleep { deadline, rem } => RestartImage::Sleep { left_ns: deadline.map(left), rem },
        RestartBlock::FutexWait { addr, val, bitset, deadline } => {
            RestartImage::FutexWait { addr, val, bitset, left_ns: left(deadline) }
        }
        RestartBlock::Poll { addr, nfds, deadline } => RestartImage::Poll { addr, nfds, left_ns: left(deadline) },
    });
    let h = &t.handle;
    use std::sync::atomic::Ordering::Relaxed;
    ThreadImage {
        tid: t.tid,
        sigmask: t.sigmask,
        saved_mask: t.saved_mask,
        altstack: (t.altstack.sp, t.altstack.size, t.altstack.flags),
        restart,
        clear_child_tid: t.clear_child_tid,
        robust_list: t.robust_list,
        comm: t.comm.to_vec(),
        dumpable: t.dumpable,
        personality: t.personality,
        affinity: t.affinity.clone(),
        no_new_privs: h.no_new_privs.load(Relaxed),
        seccomp: h.seccomp_mode().image(),
        sched: h.sched.load(Relaxed),
        timer_slack: (h.timer_slack.load(Relaxed), h.default_timer_slack.load(Relaxed)),
        deadline: *h.deadline.lock().unwrap_or_else(|e| e.into_inner()),
        ioprio: h.ioprio.load(Relaxed),
        trap: (t.trap.number, t.trap.code),
        reqkey_default: t.keys.reqkey_default,
        vfork_parent_of: t.vfork_waiting.as_ref().map(|(_, child)| *child),
        vfork_child: t.vfork_done.is_some(),
        ..Default::default()
    }
}

/// Objects seen so far, by address, each with its index in the image.
struct Seen<T: ?Sized> {
    index: HashMap<usize, usize>,
    items: Vec<Arc<T>>,
}

impl<T: ?Sized> Default for Seen<T> {
    fn default() -> Self {
        Seen { index: HashMap::new(), items: Vec::new() }
    }
}

impl<T: ?Sized> Seen<T> {
    fn add(&mut self, item: &Arc<T>) -> usize {
        let key = Arc::as_ptr(item) as *const () as usize;
        *self.index.entry(key).or_insert_with(|| {
            self.items.push(item.clone());
            self.items.len() - 1
        })
    }
}

/// Every mount, and the mounts of new filesystems the app made by their
/// roots' dentry ids (their images say so).
fn mounts_image(kernel: &Kernel) -> Result<(Vec<MountImage>, HashMap<u64, usize>), CheckpointError> {
    use crate::vfs::mount::Origin;
    let vfs = &kernel.vfs;
    let records = vfs.mount_records_with_roots();
    if records.iter().filter(|(r, _)| r.origin == Origin::Boot).count() < vfs.boot_mounts() {
        return Err(unsupported("a mount made at boot was unmounted"));
    }
    let mut out = Vec::new();
    let mut roots = HashMap::new();
    for (i, (record, root)) in records.into_iter().enumerate() {
        let root = root.ok_or_else(|| unsupported("a mount beneath another one detached"))?;
        let mut bind_source = Vec::new();
        match record.origin {
            Origin::Boot => {}
            Origin::New { .. } => {
                roots.insert(root.id(), i);
            }
            Origin::Bind => {
                // Its source must be there again when it is made again:
                // in a mount listed before it.
                // (The bound directory is a mount's root itself now: its
                // filesystem's is found from its parent.)
                let fs_root = root.parent().map_or_else(|| root.clone(), |p| vfs.mount_root_of_dentry(&p));
                let before = out.iter().any(|m: &MountImage| m.record.root_id() == fs_root.id());
                if !before && !Arc::ptr_eq(&fs_root, vfs.root()) {
                    return Err(unsupported("a bind mount of a filesystem no longer mounted"));
                }
                bind_source = vfs.path_of(&root);
            }
        }
        out.push(MountImage { record, bind_source });
    }
    Ok((out, roots))
}

fn unsupported(what: impl Into<String>) -> CheckpointError {
    CheckpointError::Unsupported(what.into())
}

/// Checkpoints the sandbox: freezes it, writes the state to `state`, the
/// memory to `pages` and the data of an overlay's files on disk to `disk`
/// (without it, such files are refused), and, unless `leave_running`,
/// ends every process before the tasks thaw (they never run again), as
/// runc's checkpoint does. A checkpoint that fails leaves the sandbox
/// running as before.
pub fn checkpoint(
    kernel: &Kernel,
    state: OwnedFd,
    pages: OwnedFd,
    disk: Option<OwnedFd>,
    leave_running: bool,
) -> Result<Written, CheckpointError> {
    let frozen = freeze(kernel)?;
    let written = frozen.with_parked(|parked| {
        let mut disk = disk.as_ref().map(|fd| super::memfs::DiskOut::new(fd.as_raw_fd()));
        // The copies of deleted files live until their pages are written.
        let (image, _ghosts) = build(kernel, parked, disk.as_mut())?;
        let processes = image.processes.len();
        let threads = image.processes.iter().map(|p| p.threads.len()).sum();
        let (state_bytes, page_bytes) = write(kernel, image, state, &pages)?;
        let disk_bytes = disk.map_or(0, |d| d.written());
        Ok::<_, CheckpointError>(Written { processes, threads, state_bytes, page_bytes, disk_bytes })
    })?;
    if !leave_running {
        kernel.end_all(ExitStatus::Signaled(abi::flags::signal::SIGKILL));
    }
    drop(frozen);
    Ok(written)
}

fn build(
    kernel: &Kernel,
    parked: &std::collections::BTreeMap<i32, Parked>,
    mut disk: Option<&mut super::memfs::DiskOut>,
) -> Result<(Image, Ghosts), CheckpointError> {
    // Host files mapped shared get what the app stored in their mappings
    // first, so that each is named below as the host has it.
    crate::vfs::hostcache::write_back_all()
        .map_err(|e| CheckpointError::Io(format!("writing shared mappings back to host files: {e:?}")))?;
    let mut mms: Seen<Mutex<MemoryManager>> = Seen::default();
    let mut fd_tables: Seen<Mutex<crate::kernel::fd_table::FdTable>> = Seen::default();
    let mut fs_contexts: Seen<Mutex<crate::kernel::task::FsContext>> = Seen::default();
    let mut ttys: Seen<crate::kernel::tty::Tty> = Seen::default();
    let mut processes = Vec::new();
    let mut time_ns: Seen<crate::kernel::ns::TimeNs> = Seen::default();
    let mut uts_ns: Seen<crate::kernel::ns::UtsNs> = Seen::default();
    let mut ipc_ns: Seen<crate::kernel::ns::IpcNs> = Seen::default();
    let mut key_holds: Seen<crate::kernel::keys::KeyRef> = Seen::default();
    let last_pid;
    // The timers first, without the process table: a timer on a CPU-time
    // clock reads its clock, which looks the process up there.
    let groups: Vec<(i32, Arc<crate::kernel::process::ThreadGroup>)> =
        kernel.procs().procs.iter().map(|(&pid, p)| (pid, p.tg.clone())).collect();
    let mut timers = HashMap::new();
    for (pid, tg) in &groups {
        timers.insert(*pid, timers_image(tg)?);
    }
    {
        let procs = kernel.procs();
        last_pid = procs.last_id();
        for (&pid, p) in &procs.procs {
            let tg = &p.tg;
            let (itimer_real, itimer_cpu, posix_timers) =
                timers.remove(&pid).ok_or(CheckpointError::Busy(vec![pid]))?;
            let mut threads = Vec::new();
            for h in &p.threads {
                let park = parked.get(&h.tid).ok_or(CheckpointError::Busy(vec![h.tid]))?;
                let mut t = ThreadImage {
                    regs: regs_words(&park.regs),
                    fp: park.fp.as_deref().map(fp_bytes),
                    pending: h.pending_queue().iter().map(|s| s.0.to_vec()).collect(),
                    mm: mms.add(&park.mm),
                    fds: fd_tables.add(&park.fds),
                    fs: fs_contexts.add(&park.fs),
                    keyring: park.keyring.as_ref().map(|k| key_holds.add(k)),
                    in_syscall: park.in_syscall,
                    ..park.image.clone()
                };
                t.tid = h.tid;
                t.ptrace = ptrace_image(h);
                threads.push(t);
            }
            let view = p.threads.first().and_then(|h| h.view());
            let sighand = tg.sighand.lock().unwrap_or_else(|e| e.into_inner());
            let keyrings = {
                let keys = tg.keys.lock().unwrap_or_else(|e| e.into_inner());
                (keys.process.as_ref().map(|k| key_holds.add(k)), keys.session.as_ref().map(|k| key_holds.add(k)))
            };
            processes.push(ProcessImage {
                keyrings,
                pid,
                parent: p.parent,
                children: p.children.iter().copied().collect(),
                pgid: p.pgid,
                sid: p.sid,
                state: match p.state {
                    ProcState::Running => ProcStateImage::Running,
                    ProcState::Stopped { sig, reported } => ProcStateImage::Stopped { sig, reported },
                    ProcState::Zombie(s) => ProcStateImage::Zombie(s.into()),
                },
                continued: p.continued,
                exit_signal: p.exit_signal,
                did_exec: p.did_exec,
                actions: sighand.0.iter().map(|a| (a.handler, a.flags, a.restorer, a.mask)).collect(),
                pending: {
                    let pend = tg.pending.lock().unwrap_or_else(|e| e.into_inner());
                    pend.queued().map(|s| s.0.to_vec()).collect()
                },
                creds: creds_image(&tg.creds.lock().unwrap_or_else(|e| e.into_inner())),
                rlimits: tg.rlimits.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|r| (r.cur, r.max)).collect(),
                pdeathsig: tg.pdeathsig.load(std::sync::atomic::Ordering::Relaxed),
                subreaper_thp: (
                    tg.child_subreaper.load(std::sync::atomic::Ordering::Relaxed),
                    tg.thp_disable.load(std::sync::atomic::Ordering::Relaxed),
                ),
                nice: tg.nice.load(std::sync::atomic::Ordering::Relaxed),
                oom_score_adj: (
                    tg.oom_score_adj.load(std::sync::atomic::Ordering::Relaxed),
                    tg.oom_score_adj_min.load(std::sync::atomic::Ordering::Relaxed),
                ),
                stopped: tg.stopped_flag.load(std::sync::atomic::Ordering::Acquire),
                ctty: p.ctty.as_ref().map(|t| ttys.add(t)),
                threads,
                itimer_real,
                itimer_cpu,
                posix_timers,
                exe: view.as_ref().and_then(|v| v.exe.as_ref()).map(|d| kernel.vfs.path_of(d)),
                cmdline: view.as_ref().map(|v| v.cmdline.to_vec()).unwrap_or_default(),
                environ: view.as_ref().map(|v| v.environ.to_vec()).unwrap_or_default(),
                ns: {
                    let ns = tg.ns();
                    NsSetImage {
                        uts: ns.uts.as_ref().map(|u| uts_ns.add(u)),
                        time: ns.time.as_ref().map(|t| time_ns.add(t)),
                        time_for_children: ns.time_for_children.as_ref().map(|t| time_ns.add(t)),
                        ipc: ns.ipc.as_ref().map(|i| ipc_ns.add(i)),
                    }
                },
            });
        }
    }
    let mut files: Seen<File> = Seen::default();
    let mut tables = Vec::new();
    for table in &fd_tables.items {
        let table = table.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = Vec::new();
        for fd in table.fds() {
            let (Ok(file), Ok(cloexec)) = (table.get(fd), table.cloexec(fd)) else { continue };
            entries.push((fd, files.add(file), cloexec));
        }
        tables.push(entries);
    }
    let mut pipes: Seen<crate::vfs::pipe::Pipe> = Seen::default();
    let mut sockets: Seen<crate::vfs::unix::Endpoint> = Seen::default();
    let mut unlinked: Seen<Inode> = Seen::default();
    // By index: an epoll set's entries may add files no fd table holds.
    let mut ghosts = Ghosts::new(kernel);
    // The files AIO polls in flight hold.
    for f in kernel.aio.files() {
        files.add(&f);
    }
    let mut images = Vec::new();
    let (mut i, mut s) = (0, 0);
    loop {
        while let Some(f) = files.items.get(i).cloned() {
            images.push(file_image(
                kernel,
                &f,
                &mut files,
                &mut pipes,
                &mut sockets,
                &mut ttys,
                &mut unlinked,
                &mut ghosts,
            )?);
            i += 1;
        }
        // Each socket brings its peer, its connections not yet accepted
        // and the files in flight on it (SCM_RIGHTS), which may bring
        // more of each.
        let Some(ep) = sockets.items.get(s).cloned() else { break };
        s += 1;
        if let Some(peer) = ep.peer_endpoint() {
            sockets.add(&peer);
        }
        for p in ep.pending() {
            sockets.add(&p);
        }
        for f in ep.files_in_flight() {
            files.add(&f);
        }
    }
    let locks = locks_image(&files)?;
    // Namespace files: their namespaces, which no process may be in.
    for (f, image) in files.items.iter().zip(&mut images) {
        use crate::kernel::ns::NsRef;
        if let (FileKind::Namespace { index, .. }, Some(ns)) = (&mut image.kind, f.ops.namespace()) {
            *index = match ns {
                NsRef::Init(_) => None,
                NsRef::Time(t) => Some(time_ns.add(t)),
                NsRef::Uts(u) => Some(uts_ns.add(u)),
                NsRef::Ipc(i) => Some(ipc_ns.add(i)),
            };
        }
    }
    // The IPC namespaces: the sandbox's first (None), then those made.
    let ipc_tables: Vec<(Option<usize>, &crate::kernel::ipc::IpcNamespace)> = std::iter::once((None, &kernel.ipc))
        .chain(ipc_ns.items.iter().enumerate().map(|(k, n)| (Some(k), &n.ipc)))
        .collect();
    // Message queues: each namespace's named ones, and those only open
    // files hold.
    let mut queues: Seen<crate::kernel::ipc::mqueue::Mq> = Seen::default();
    let mut queue_ns = Vec::new();
    for &(k, ipc) in &ipc_tables {
        for (_, q) in ipc.mqueue.list() {
            if queues.add(&q) == queue_ns.len() {
                queue_ns.push(k);
            }
        }
    }
    for (f, image) in files.items.iter().zip(&mut images) {
        if let (FileKind::MQueue(n), Some(q)) = (&mut image.kind, f.ops.mqueue()) {
            *n = queues.add(q);
            if *n == queue_ns.len() {
                queue_ns.push(None);
            }
        }
    }
    let mqueues = queues
        .items
        .iter()
        .zip(queue_ns)
        .map(|(q, k)| {
            let ipc = k.and_then(|k| ipc_ns.items.get(k)).map_or(&kernel.ipc, |n| &n.ipc);
            (k, ipc.mqueue.snapshot(q, &mut |ep| sockets.add(ep)))
        })
        .collect();
    let seen_files = files;
    let index_of = |file: usize, what: &str| {
        seen_files.index.get(&file).copied().ok_or_else(|| unsupported(format!("{what} on a file no fd holds")))
    };
    // Leases and F_NOTIFY, by the open files that hold them.
    let leases = crate::kernel::lease::LEASES
        .snapshot()
        .into_iter()
        .map(|l| Ok(crate::kernel::lease::LeaseSnapshot { file: index_of(l.file, "a lease")?, ..l }))
        .collect::<Result<Vec<_>, CheckpointError>>()?;
    let dnotify = crate::vfs::inotify::dnotify_snapshot()
        .into_iter()
        .map(|(file, fd, mask, owner)| Ok((index_of(file, "F_NOTIFY")?, fd, mask, owner)))
        .collect::<Result<Vec<_>, CheckpointError>>()?;
    let mut files = images;
    let pipes = pipes
        .items
        .iter()
        .map(|p| {
            let (data, capacity) = p.contents();
            PipeImage { data, capacity: capacity as u64 }
        })
        .collect();
    // Directories removed while open or a working directory.
    let mut gone_dirs: Seen<Dentry> = Seen::default();
    let fs_contexts = fs_contexts
        .items
        .iter()
        .map(|fs| {
            let fs = fs.lock().unwrap_or_else(|e| e.into_inner());
            let cwd_gone = reachable_path(kernel, &fs.cwd).is_none().then(|| gone_dirs.add(&fs.cwd));
            FsImage { root: kernel.vfs.path_of(&fs.root), cwd: kernel.vfs.path_of(&fs.cwd), cwd_gone, umask: fs.umask }
        })
        .collect();
    for (f, image) in seen_files.items.iter().zip(&mut files) {
        if let (FileKind::GoneDir(n), Some(d)) = (&mut image.kind, &f.dentry) {
            *n = gone_dirs.add(d);
        }
    }
    let gone_dirs = gone_dirs
        .items
        .iter()
        .map(|d| {
            let a = d.attr();
            GoneDirImage { path: kernel.vfs.path_of(d), mode: a.mode & 0o7777, uid: a.uid, gid: a.gid }
        })
        .collect();

    // Before the memory file is taken: saving an overlay may copy up a
    // renamed rootfs file, which allocates. Before the address spaces,
    // whose mappings of files there name them.
    use crate::kernel::ipc::snapshot as sysv;
    for (_, ipc) in &ipc_tables {
        for seg in sysv::segment_files(ipc) {
            unlinked.add(&seg);
        }
    }
    // Private mappings of host files deleted since they were mapped: their
    // copies too (a running program's own binary or libraries, replaced
    // by an upgrade).
    for mm in &mms.items {
        let mm = mm.lock().unwrap_or_else(|e| e.into_inner());
        for (_, v) in mm.vmas() {
            if let Backing::File { fd, name: Some(d), .. } = &v.backing {
                if reachable_path(kernel, d).is_none() {
                    if let Some(g) = ghosts.of(kernel, d, fd.as_raw_fd())? {
                        unlinked.add(&g);
                    }
                }
            }
        }
    }
    let shm_points: Vec<Vec<u8>> = (0..ipc_ns.items.len()).map(super::memfs::sysv_shm_point).collect();
    let mut nameless = vec![
        (super::memfs::MEMFD_POINT, &kernel.memfd_fs),
        (super::memfs::SYSV_SHM_POINT, kernel.ipc.shm.fs()),
        (super::memfs::GHOST_POINT, &ghosts.fs),
    ];
    nameless.extend(shm_points.iter().zip(&ipc_ns.items).map(|(p, n)| (p.as_slice(), n.ipc.shm.fs())));
    let (mounts, mount_roots) = mounts_image(kernel)?;
    let (tmpfs, inodes) =
        super::memfs::save(&kernel.vfs, &nameless, &unlinked.items, &mount_roots, disk.as_deref_mut())?;
    let sysv_of = |ipc: &crate::kernel::ipc::IpcNamespace| {
        sysv::save(ipc, |f| inodes.get(&super::memfs::address(Arc::as_ptr(f).cast())).copied())
            .map_err(|e| unsupported(format!("{e} (not saved)")))
    };
    let sysv = sysv_of(&kernel.ipc)?;
    let ipc_images =
        ipc_ns.items.iter().map(|n| Ok((n.ino, sysv_of(&n.ipc)?))).collect::<Result<Vec<_>, CheckpointError>>()?;
    // Each segment's namespace and table index, by the segment's address
    // (as mappings name it).
    let segments: HashMap<usize, (Option<usize>, i32)> = ipc_tables
        .iter()
        .flat_map(|&(k, ipc)| {
            ipc.shm
                .segs
                .entries()
                .into_iter()
                .map(move |(id, seg)| (Arc::as_ptr(&seg) as usize, (k, id % crate::kernel::ipc::IDS_PER_SEQ)))
        })
        .collect();
    for f in &mut files {
        if let FileKind::Unlinked { fs, inode, .. } | FileKind::MemFd { fs, inode, .. } = &mut f.kind {
            let at = unlinked.items.get(*inode).map(|i| super::memfs::address(Arc::as_ptr(i).cast()));
            (*fs, *inode) = at
                .and_then(|a| inodes.get(&a).copied())
                .ok_or_else(|| unsupported("a deleted file whose filesystem was not saved"))?;
        }
    }
    let address = |p: *const ()| p as usize;
    let aio = kernel
        .aio
        .snapshot(
            |m| mms.index.get(&address(Arc::as_ptr(m).cast())).copied(),
            |f| seen_files.index.get(&address(Arc::as_ptr(f).cast())).copied(),
        )
        .map_err(unsupported)?;
    let mut host_caches = Seen::default();
    let mms = mms
        .items
        .iter()
        .map(|mm| {
            let mm = mm.lock().unwrap_or_else(|e| e.into_inner());
            mm_image(kernel, &mm, &inodes, &segments, &ghosts, &mut host_caches)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let on_disk = |key| disk.as_ref().and_then(|d| d.by_key.get(&key)).and_then(|a| inodes.get(a)).copied();
    let host_caches = host_caches_image(kernel, &host_caches, on_disk)?;
    let uts = kernel.uts_names();
    let alloc = kernel.memfile.allocator_state();
    let vdso: Vec<(u64, u64)> = kernel.vdso.as_ref().map(|v| v.runs().to_vec()).unwrap_or_default();
    let extents = kernel.memfile.data_extents(alloc.tail).map_err(|e| CheckpointError::Io(e.to_string()))?;
    let memory = MemoryImage {
        // Not the vDSO's pages: the restored Sentry brings its own, and its
        // time-keeping thread writes the data page even now.
        extents: without(&extents, &vdso),
        free: alloc.free,
        tail: alloc.tail,
        shared: alloc.shared,
        vdso,
        crcs: Vec::new(),
        blocks: Vec::new(),
    };
    // Each socket with its peer, which is one of them or gone.
    let mut unix = Vec::new();
    let mut i = 0;
    while let Some(ep) = sockets.items.get(i).cloned() {
        let saved = ep.checkpoint_state().map_err(unsupported)?;
        let mut state = saved.state;
        if let Some((_, indexes)) = &mut state.listening {
            *indexes = saved.pending.iter().map(|p| sockets.add(p)).collect();
        }
        if let (Some(NameState::Path { file, .. }), Some(d)) = (&mut state.name, &saved.bound_file) {
            *file = reachable_path(kernel, d);
        }
        state.holds_port = kernel.unix_names.inet.lock().unwrap_or_else(|e| e.into_inner()).holds(&ep);
        // Every file in flight has its image already (gathered above); a
        // message's files are named by their indexes.
        let index_of = |f: &Arc<File>| seen_files.index.get(&(Arc::as_ptr(f) as *const () as usize)).copied();
        state.in_flight = saved
            .in_flight
            .iter()
            .map(|(m, fs)| {
                let indexes = fs.iter().map(index_of).collect::<Option<Vec<_>>>();
                Ok((*m, indexes.ok_or_else(|| unsupported("a file in flight that was not saved"))?))
            })
            .collect::<Result<_, CheckpointError>>()?;
        let peer = ep.peer_endpoint().map(|p| sockets.add(&p));
        unix.push((state, peer));
        i += 1;
    }
    let ttys = ttys
        .items
        .iter()
        .map(|t| {
            let tty = t.snapshot().map_err(|e| CheckpointError::Io(format!("reading a terminal's settings: {e}")))?;
            let console = kernel.console.get().is_some_and(|c| Arc::ptr_eq(c, t));
            let pty = t.pty().map(|p| {
                let mut s = p.snapshot();
                // A `husk exec` process's terminal does not come back: its
                // pair comes back hung up, as if the host closed it.
                if p.bridge().is_some() && !console {
                    s.master_open = false;
                }
                s
            });
            Ok(TtyImage { tty, console: console && pty.is_some(), pty })
        })
        .collect::<Result<Vec<_>, CheckpointError>>()?;
    let namespaces = NamespacesImage {
        time: time_ns.items.iter().map(|t| (t.ino, t.offsets(), t.frozen())).collect(),
        uts: uts_ns
            .items
            .iter()
            .map(|u| {
                let n = u.names.lock().unwrap_or_else(|e| e.into_inner());
                (u.ino, n.hostname.clone(), n.domainname.clone())
            })
            .collect(),
        max: (
            kernel.namespaces.max(crate::kernel::ns::NsKind::Time),
            kernel.namespaces.max(crate::kernel::ns::NsKind::Uts),
        ),
        ipc: ipc_images,
        max_ipc: kernel.namespaces.max(crate::kernel::ns::NsKind::Ipc),
    };
    let sysctls = SysctlsImage {
        lease_break_time: crate::kernel::lease::LEASES.break_time(),
        max_map_count: crate::mm::MAX_MAP_COUNT.load(std::sync::atomic::Ordering::Relaxed),
        keys: kernel.keys.limits.snapshot(),
    };
    let keys = KeysImage { table: kernel.keys.snapshot(), holds: key_holds.items.iter().map(|k| k.serial()).collect() };
    // A handle whose file no path reaches (outside the root) would be
    // stale after the restore: it is left out, and is stale then.
    let (entries, last_gen) = kernel.handles.entries();
    let handles = entries
        .into_iter()
        .filter_map(|(ino, gen, d)| reachable_path(kernel, &d).map(|path| HandleImage { path, ino, gen }))
        .collect();
    let image = Image {
        handles: (handles, last_gen),
        host_caches,
        gone_dirs,
        keys,
        sysctls,
        namespaces,
        aio,
        leases,
        dnotify,
        sysv,
        mqueues,
        locks,
        ttys,
        unix,
        tmpfs,
        mounts,
        memory,
        uts: (uts.hostname, uts.domainname),
        last_pid,
        mms,
        files,
        pipes,
        fd_tables: tables,
        fs_contexts,
        processes,
    };
    Ok((image, ghosts))
}

/// `runs` less the parts in `holes`, both (offset, length) lists.
fn without(runs: &[(u64, u64)], holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = runs.to_vec();
    for &(h, hl) in holes {
        let he = h + hl;
        out = out
            .into_iter()
            .flat_map(|(s, l)| {
                let e = s + l;
                let before = (s < h).then(|| (s, e.min(h) - s));
                let after = (e > he).then(|| (s.max(he), e - s.max(he)));
                if e <= h || s >= he {
                    vec![(s, l)]
                } else {
                    before.into_iter().chain(after).collect()
                }
            })
            .collect();
    }
    out
}

fn nanos(d: std::time::Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF, and the POSIX timers with
/// the next id.
type TimersImage = (Option<(u64, u64)>, [Option<(u64, u64)>; 2], (Vec<PosixTimerImage>, i32));

/// A process's interval timers and POSIX timers, a CPU-time clock's by the
/// CPU time they have left.
fn timers_image(tg: &crate::kernel::process::ThreadGroup) -> Result<TimersImage, CheckpointError> {
    use crate::kernel::timer::{CpuClock, Notify};
    let mut itimers = [None; 3];
    for (slot, t) in itimers.iter_mut().zip(&tg.itimers) {
        let Some(t) = t.get() else { continue };
        let (left, interval) = t.get();
        if !(left.is_zero() && interval.is_zero()) {
            *slot = Some((nanos(left), nanos(interval)));
        }
    }
    let (timers, next_id) = tg.posix_timers.lock().unwrap_or_else(|e| e.into_inner()).all();
    let mut posix = Vec::new();
    for t in timers {
        let (cpu, thread_cpu) = match t.cpu_clock() {
            None => (None, None),
            Some(CpuClock::Process { pid, user_only }) => (Some((*pid, *user_only)), None),
            Some(CpuClock::Thread(h)) => (None, Some(h.upgrade().map_or(0, |h| h.tid))),
        };
        let ev = t.event();
        let notify = match ev.notify {
            Notify::None => (0, 0),
            Notify::Process => (1, 0),
            Notify::Thread(tid) => (2, tid),
        };
        let (left, interval) = t.get();
        posix.push(PosixTimerImage {
            id: t.id(),
            clock: t.clock(),
            notify,
            signo: ev.signo,
            value: ev.value,
            when: (nanos(left), nanos(interval)),
            cpu,
            thread_cpu,
        });
    }
    let [real, virt, prof] = itimers;
    Ok((real, [virt, prof], (posix, next_id)))
}

/// The advisory locks held, each file named by one of `files` open on it
/// and each lock's open file description by its index there. A lock whose
/// file or owner no saved file shows (it cannot happen: a lock goes with
/// its owner's last fd of the file) is refused.
fn locks_image(files: &Seen<File>) -> Result<Vec<FileLocksImage>, CheckpointError> {
    use crate::kernel::locks::{key_of, Owner, LOCKS};
    let mut by_key: HashMap<crate::kernel::locks::FileKey, usize> = HashMap::new();
    for (i, f) in files.items.iter().enumerate() {
        if let Ok(key) = key_of(f) {
            by_key.entry(key).or_insert(i);
        }
    }
    let owner = |addr: usize| files.index.get(&addr).copied().ok_or_else(|| unsupported("a lock of a file not open"));
    let mut out = Vec::new();
    for held in LOCKS.held() {
        let file = *by_key.get(&held.key).ok_or_else(|| unsupported("a lock on a file no open file shows"))?;
        let flocks =
            held.flocks.iter().map(|&(f, ex)| Ok((owner(f)?, ex))).collect::<Result<Vec<_>, CheckpointError>>()?;
        let records = held
            .records
            .iter()
            .map(|l| {
                let owner = match l.owner {
                    Owner::Process(pid) => LockOwnerImage::Process(pid),
                    Owner::File(f) => LockOwnerImage::File(owner(f)?),
                };
                Ok(RecordLockImage { owner, write: l.write, start: l.start, end: l.end })
            })
            .collect::<Result<Vec<_>, CheckpointError>>()?;
        out.push(FileLocksImage { file, flocks, records });
    }
    Ok(out)
}

/// A thread's ptrace link, if it has one.
fn ptrace_image(h: &crate::kernel::task::TaskHandle) -> Option<PtraceImage> {
    let link = &h.ptrace;
    let tracees: Vec<i32> = link.tracees().iter().copied().collect();
    let exits: Vec<_> = link.exits().iter().map(|e| (e.tid, e.pgid, e.uid, e.status.into())).collect();
    let st = link.state();
    if st.tracer == 0 && tracees.is_empty() && exits.is_empty() && st.debugreg == [0; 8] {
        return None;
    }
    let r = st.resume;
    Some(PtraceImage {
        tracer: (st.tracer, st.tracer_pid),
        seized: st.seized,
        options: st.options,
        stop: st.stop.map(|s| (s.status, s.reported)),
        kind: st.kind,
        resume: (r.sig, r.syscall, r.step, r.from_pid, r.from_uid),
        siginfo: st.siginfo.map(|i| i.0.to_vec()),
        event_msg: st.event_msg,
        regs: st.regs_dirty.then(|| regs_words(&st.regs)),
        fp: st.fp.as_deref().filter(|_| st.fp_dirty).map(fp_bytes),
        debugreg: st.debugreg,
        flags: (st.trap_pending, st.group_stop_seen, st.listening, st.stepping),
        set_mask: st.set_mask,
        tracees,
        exits,
    })
}

/// An FPU state as the image keeps it: the bytes of the platform's layout.
pub(super) fn fp_bytes(fp: &platform::FpState) -> Vec<u8> {
    fp.bytes[..platform::fp_layout().size.min(fp.bytes.len())].to_vec()
}

/// The registers as a list of words, in `Regs`' order.
fn regs_words(r: &platform::Regs) -> Vec<u64> {
    r.to_words().to_vec()
}

fn creds_image(c: &Credentials) -> CredsImage {
    CredsImage {
        uids: [c.uid, c.euid, c.suid, c.fsuid],
        gids: [c.gid, c.egid, c.sgid, c.fsgid],
        groups: c.groups.clone(),
        caps: [c.caps.effective, c.caps.permitted, c.caps.inheritable, c.caps.bounding, c.caps.ambient],
        securebits: c.securebits,
    }
}

/// The path that leads to `d`, if one still does.
fn reachable_path(kernel: &Kernel, d: &Arc<Dentry>) -> Option<Vec<u8>> {
    let path = kernel.vfs.path_of(d);
    let root = kernel.vfs.root();
    let found = kernel.vfs.resolve(root, root, &path, Follow::No).ok()?;
    same_file(&found, d).then_some(path)
}

/// Whether two dentries are one file. A synthetic filesystem's (procfs,
/// sysfs) are made afresh on each lookup, so two of them are one file when
/// they are the same node of the same instance.
fn same_file(a: &Arc<Dentry>, b: &Arc<Dentry>) -> bool {
    match (a.synth(), b.synth()) {
        (Some(x), Some(y)) => {
            Arc::ptr_eq(&x.fs, &y.fs) && x.ino == y.ino && (x.mode ^ y.mode) & abi::flags::mode::S_IFMT == 0
        }
        _ => Arc::ptr_eq(a, b),
    }
}

/// A named file as restore will find it: its path must lead back to it.
fn named(kernel: &Kernel, d: &Arc<Dentry>) -> Result<NamedFile, CheckpointError> {
    let Some(path) = reachable_path(kernel, d) else {
        return Err(unsupported(format!(
            "an open file no path leads to ({}: deleted from a host tree, or outside the root)",
            String::from_utf8_lossy(&kernel.vfs.path_of(d))
        )));
    };
    let a = match d.node() {
        crate::vfs::Node::Host(_) => crate::vfs::hostfs::restat(d)
            .map_err(|e| CheckpointError::Io(format!("{}: {e:?}", String::from_utf8_lossy(&path))))?,
        _ => d.attr(),
    };
    Ok(NamedFile { path, size: a.size, mtime: (a.mtime_sec, a.mtime_nsec) })
}

/// The largest file deleted from a host tree while open that a
/// checkpoint copies.
const GHOST_LIMIT: u64 = 64 << 20;

/// Copies of host files deleted while open or mapped (CRIU's "ghost
/// files"): the file is gone from the host tree, so its bytes go into the
/// image, as an inode of a filesystem mounted nowhere; restored, it is an
/// in-memory file no name leads to, at its old path, as a deleted tmpfs
/// file is.
struct Ghosts {
    fs: Arc<crate::vfs::tmpfs::MemFs>,
    by_key: HashMap<(u64, u64), Arc<Inode>>,
}

impl Ghosts {
    /// The copies go in the kernel's filesystem of them, where a restore
    /// also put the ones of an earlier checkpoint.
    fn new(kernel: &Kernel) -> Ghosts {
        Ghosts { fs: kernel.deleted_fs.clone(), by_key: HashMap::new() }
    }

    /// The copy of the host file `d` that no path leads to, read through
    /// `fd`, if it was deleted (None: it is still linked somewhere, only
    /// not reachable from the root).
    fn of(
        &mut self,
        kernel: &Kernel,
        d: &Arc<Dentry>,
        fd: std::os::fd::RawFd,
    ) -> Result<Option<Arc<Inode>>, CheckpointError> {
        let a = crate::sys::fstat(fd).map_err(|e| CheckpointError::Io(format!("a deleted file: {e:?}")))?;
        if a.nlink != 0 || !d.is_regular() {
            return Ok(None);
        }
        if let Some(i) = self.by_key.get(&(a.dev, a.ino)) {
            return Ok(Some(i.clone()));
        }
        if a.size > GHOST_LIMIT {
            return Err(unsupported(format!(
                "a file deleted from a host tree while open, of {} MiB (past {} MiB): {}",
                a.size >> 20,
                GHOST_LIMIT >> 20,
                String::from_utf8_lossy(&kernel.vfs.path_of(d))
            )));
        }
        let pages = crate::vfs::tmpfs::Pages::from_fd(&self.fs, fd, a.size)
            .map_err(|e| CheckpointError::Io(format!("copying a deleted file: {e:?}")))?;
        let inode = self.fs.copy_inode(crate::vfs::tmpfs::InodeKind::Regular(Mutex::new(pages)), &a);
        inode.orphan();
        self.by_key.insert((a.dev, a.ino), inode.clone());
        Ok(Some(inode))
    }
}

#[allow(clippy::too_many_arguments)]
fn file_image(
    kernel: &Kernel,
    f: &Arc<File>,
    files: &mut Seen<File>,
    pipes: &mut Seen<crate::vfs::pipe::Pipe>,
    sockets: &mut Seen<crate::vfs::unix::Endpoint>,
    ttys: &mut Seen<crate::kernel::tty::Tty>,
    unlinked: &mut Seen<Inode>,
    ghosts: &mut Ghosts,
) -> Result<FileImage, CheckpointError> {
    use abi::flags::open::{O_ACCMODE, O_WRONLY};
    let ops = &f.ops;
    let flags = f.flags();
    let offset = *f.offset.lock().unwrap_or_else(|e| e.into_inner());
    let kind = if let Some(t) = ops.tty_file() {
        let (tty, dentry, hangups) = t.parts();
        FileKind::Terminal { tty: ttys.add(tty), path: dentry.map(|d| kernel.vfs.path_of(d)), hangups }
    } else if let Some(m) = ops.pty_master_file() {
        let tty = ops.pty_master().ok_or_else(|| unsupported("a pty master without its pair"))?;
        FileKind::PtyMaster { tty: ttys.add(tty), path: kernel.vfs.path_of(m.dentry()) }
    } else if let Some(i) = ops.stdio_index() {
        FileKind::Stdio(i)
    } else if let Some(u) = ops.unix_socket() {
        FileKind::Unix(sockets.add(u.endpoint()))
    } else if ops.host_socket().is_some() {
        return Err(unsupported("a host socket is open (--network host)"));
    } else if ops.mqueue().is_some() {
        // Which queue: filled in once every file is seen.
        FileKind::MQueue(usize::MAX)
    } else if let Some(pipe) = ops.pipe() {
        let n = pipes.add(pipe);
        if let Some(d) = &f.dentry {
            if reachable_path(kernel, d).is_some() {
                FileKind::Fifo { pipe: n, file: named(kernel, d)? }
            } else {
                let a = d.attr();
                FileKind::GoneFifo {
                    pipe: n,
                    path: kernel.vfs.path_of(d),
                    mode: a.mode & 0o7777,
                    owner: (a.uid, a.gid),
                }
            }
        } else if flags & O_ACCMODE == O_WRONLY {
            FileKind::PipeWrite(n)
        } else {
            FileKind::PipeRead(n)
        }
    } else if let Some(e) = ops.eventfd() {
        let (count, semaphore) = e.state();
        FileKind::EventFd { count, semaphore }
    } else if let Some(t) = ops.timerfd() {
        let (left, interval) = t.get();
        let ns = |d: std::time::Duration| d.as_nanos().min(u64::MAX as u128) as u64;
        FileKind::TimerFd { clock: t.clock(), left_ns: ns(left), interval_ns: ns(interval), ticks: t.ticks() }
    } else if let Some(s) = ops.signalfd() {
        FileKind::SignalFd { mask: s.mask(), pid: s.group().tgid }
    } else if let Some(ep) = ops.epoll() {
        let entries = ep.interests();
        FileKind::Epoll(
            entries
                .iter()
                .map(|(file, fd, events, data, fired)| (files.add(file), *fd, *events, *data, *fired))
                .collect(),
        )
    } else if let Some(p) = ops.pidfd() {
        if p.alive_in_table() {
            FileKind::PidFd { pid: p.pid }
        } else {
            FileKind::ReapedPidFd { pid: p.pid }
        }
    } else if let Some(ino) = ops.inotify() {
        let st = ino.checkpoint_state();
        let watches = st
            .watches
            .iter()
            .map(|(wd, file, mask)| Ok((*wd, named(kernel, file)?, *mask)))
            .collect::<Result<Vec<_>, CheckpointError>>()?;
        FileKind::Inotify { next_wd: st.next_wd, watches, events: st.events }
    } else if let Some(m) = ops.memfd() {
        // Its inode is saved with the memfds' filesystem, which says
        // where: `fs` and `inode` are filled in then.
        let (inode, link) = m.parts();
        FileKind::MemFd { fs: usize::MAX, inode: unlinked.add(inode), link: link.to_vec(), seals: m.seals() }
    } else if let Some(name) = ops.anon_name() {
        return Err(unsupported(format!("an {name} file is open")));
    } else if let Some(ns) = ops.namespace() {
        // Which namespace: filled in once every file is seen.
        FileKind::Namespace { kind: ns.kind().name().to_owned(), index: None }
    } else if let Some(d) = &f.dentry {
        let unnamed = |i: &Arc<Inode>| i.attr().nlink == 0 && reachable_path(kernel, d).is_none();
        let path_only = flags & abi::flags::open::O_PATH != 0;
        // A host file deleted while open: a copy of it. (A host tree's
        // dentry may carry an inode of the Sentry's, which is not one of
        // a memory filesystem's.)
        let host_fd = ops.host_file_fd();
        let ghost = match host_fd {
            Some(fd) if !path_only && reachable_path(kernel, d).is_none() => ghosts.of(kernel, d, fd)?,
            _ => None,
        };
        let mem = d.inode().filter(|i| host_fd.is_none() && d.is_regular() && unnamed(i));
        let gone = reachable_path(kernel, d).is_none();
        if path_only && gone && !d.is_dir() && !d.is_regular() {
            let a = d.attr();
            let target = if d.is_symlink() { kernel.vfs.readlink(d).unwrap_or_default() } else { Vec::new() };
            let kind = FileKind::GoneNode {
                path: kernel.vfs.path_of(d),
                mode: a.mode,
                owner: (a.uid, a.gid),
                rdev: a.rdev,
                target,
            };
            return Ok(FileImage { flags, offset, kind, owner: f.owner.checkpoint_state() });
        }
        if d.is_dir() && gone {
            // Which one: filled in once every file is seen.
            return Ok(FileImage {
                flags,
                offset,
                kind: FileKind::GoneDir(usize::MAX),
                owner: f.owner.checkpoint_state(),
            });
        }
        match ghost.as_ref().or(mem) {
            // Its inode is saved with its filesystem's ([`super::memfs::save`]),
            // which says where: `fs` and `inode` are filled in then.
            Some(inode) => FileKind::Unlinked {
                fs: usize::MAX,
                inode: unlinked.add(inode),
                path: kernel.vfs.path_of(d),
                linkable: inode.linkable(),
            },
            None => FileKind::Named(named(kernel, d)?),
        }
    } else {
        return Err(unsupported("an anonymous file is open"));
    };
    Ok(FileImage { flags, offset, kind, owner: f.owner.checkpoint_state() })
}

/// Host files' caches, each named by its file, or (a file of an overlay
/// on disk, which has no name on the host) by its inode, which
/// `on_disk` finds by its host file's key.
fn host_caches_image(
    kernel: &Kernel,
    caches: &Seen<crate::vfs::hostcache::HostCache>,
    on_disk: impl Fn((u64, u64)) -> Option<(usize, usize)>,
) -> Result<Vec<HostCacheImage>, CheckpointError> {
    caches
        .items
        .iter()
        .map(|c| {
            let s = c.checkpoint_state();
            let (file, disk) = match s.name {
                Some(name) => (named(kernel, &name)?, None),
                None => {
                    let inode = on_disk(c.key())
                        .ok_or_else(|| unsupported("a shared mapping of a file no name or inode leads to"))?;
                    (NamedFile::default(), Some(inode))
                }
            };
            Ok(HostCacheImage { file, disk, size: s.size, pages: s.pages, writer: s.writer })
        })
        .collect()
}

fn mm_image(
    kernel: &Kernel,
    mm: &MemoryManager,
    inodes: &super::memfs::InodeIndex,
    segments: &HashMap<usize, (Option<usize>, i32)>,
    ghosts: &Ghosts,
    host_caches: &mut Seen<crate::vfs::hostcache::HostCache>,
) -> Result<MmImage, CheckpointError> {
    let mut vmas = Vec::new();
    for (start, v) in mm.vmas() {
        let backing = match &v.backing {
            Backing::Anon => BackingImage::Anon,
            Backing::PastEof => BackingImage::PastEof,
            Backing::File { offset, name, fd } => {
                let d = name.as_ref().ok_or_else(|| unsupported("a private mapping of a file without a name"))?;
                // A deleted file's copy (see `Ghosts`): its pages come back
                // as this mapping's, the copy refills them.
                // (No fstat per mapping unless some file was deleted.)
                let ghost = (!ghosts.by_key.is_empty())
                    .then(|| crate::sys::fstat(fd.as_raw_fd()).ok())
                    .flatten()
                    .and_then(|a| ghosts.by_key.get(&(a.dev, a.ino)))
                    .filter(|_| reachable_path(kernel, d).is_none())
                    .and_then(|g| inodes.get(&super::memfs::address(Arc::as_ptr(g).cast())));
                match ghost {
                    Some(&(fs, inode)) => BackingImage::MemFile { fs, inode, offset: *offset },
                    None => BackingImage::File { file: named(kernel, d)?, offset: *offset },
                }
            }
            Backing::Pages { source, offset } => match source.map_name().as_deref() {
                Some("[vdso]") => BackingImage::Vdso { image: true, offset: *offset },
                Some("[vvar]") => BackingImage::Vdso { image: false, offset: *offset },
                _ => match inodes.get(&super::memfs::address(Arc::as_ptr(source).cast())) {
                    Some(&(fs, inode)) => BackingImage::MemFile { fs, inode, offset: *offset },
                    None => match source.sysv_shm().and_then(|(seg, _)| segments.get(&seg)) {
                        Some(&(ns, index)) => BackingImage::SysvShm { ns, index, offset: *offset },
                        None => match source.clone().host_cache() {
                            Some(c) => BackingImage::HostCache { cache: host_caches.add(&c), offset: *offset },
                            None => return Err(unsupported("a mapping of an unknown kind of file")),
                        },
                    },
                },
            },
        };
        vmas.push(VmaImage {
            start,
            end: v.end,
            prot: v.prot,
            shared: v.shared,
            cow: v.cow,
            may_write: v.may_write,
            may_exec: v.may_exec,
            mem_off: v.mem_off,
            backing,
            locked: v.locked,
            sealed: v.sealed,
            grows_down: v.grows_down,
        });
    }
    let (brk_base, brk, mmap_top) = mm.layout();
    Ok(MmImage { vmas, brk: (brk_base, brk), mmap_top, lock_future: mm.lock_future(), membarrier: mm.membarrier() })
}

/// Writes the pages (a block at a time, compressed where it pays), then
/// the state (with where each block is and its checksum); returns the
/// bytes of each.
fn write(kernel: &Kernel, mut image: Image, state: OwnedFd, pages: &OwnedFd) -> Result<(u64, u64), CheckpointError> {
    let io = |e: std::io::Error| CheckpointError::Io(e.to_string());
    let mf = &kernel.memfile;
    let (crcs, blocks, page_bytes) = crate::mm::lazy::write_blocks(
        &image.memory.extents,
        |off, len, buf| mf.for_each_piece(off, len, |piece| buf.extend_from_slice(piece)),
        |at, bytes| {
            crate::sys::pwrite_all(pages.as_raw_fd(), bytes, at).map_err(|e| std::io::Error::from_raw_os_error(e.0))
        },
    )
    .map_err(io)?;
    (image.memory.crcs, image.memory.blocks) = (crcs, blocks);
    let bytes = encode(&image)?;
    let mut out = std::fs::File::from(state);
    out.write_all(&bytes).map_err(io)?;
    Ok((bytes.len() as u64, page_bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn holes_are_cut_out_of_runs() {
        let runs = [(0, 100), (200, 50), (300, 10)];
        assert_eq!(super::without(&runs, &[(40, 20), (190, 20), (300, 10)]), vec![(0, 40), (60, 40), (210, 40)]);
        assert_eq!(super::without(&runs, &[]), runs.to_vec());
    }
}
