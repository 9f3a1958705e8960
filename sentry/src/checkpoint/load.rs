//! Bringing a sandbox back from an [`Image`].

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abi::flags::open::{O_CREAT, O_EXCL, O_NOCTTY, O_PATH, O_TRUNC};
use abi::types::Rlimit;
use abi::Errno;

use super::image::*;
use super::RestoreError;
use crate::kernel::caps::CapSets;
use crate::kernel::fd_table::FdTable;
use crate::kernel::process::{Credentials, ProcState, Process, ThreadGroup};
use crate::kernel::signal::{SigAction, SigHandlers, SigInfo};
use crate::kernel::task::{AltStack, FsContext, RestartBlock, Task, TaskHandle, TaskParts};
use crate::kernel::Kernel;
use crate::mm::lazy::LazyPages;
use crate::mm::memfile::AllocatorState;
use crate::mm::{Backing, MemoryFile, MemoryManager, Vma};
use crate::vfs::file::{File, HostStdio};
use crate::vfs::unix::NameState;
use crate::vfs::{Dentry, Follow};

/// The highest fd number a restored table takes, plus one (fs.nr_open's
/// default).
const MAX_FD: u64 = 1 << 20;

/// The most supplementary groups a process has (Linux's NGROUPS_MAX).
const NGROUPS_MAX: usize = 65536;

/// Entry `i` of `list`, or why not.
fn pick<T: Clone>(list: &[T], i: usize, tid: i32, what: &str) -> Result<T, RestoreError> {
    list.get(i).cloned().ok_or_else(|| inconsistent(format!("thread {tid}'s {what}")))
}

fn inconsistent(what: impl Into<String>) -> RestoreError {
    RestoreError::Inconsistent(what.into())
}

/// Loads the image's memory file: its allocator as it was, and its pages
/// from `pages` at their own offsets, each block checked against its CRC
/// as it loads ([`crate::mm::lazy`]): here only what the file's length can
/// show is checked. Comes first, before anything allocates from `mf`.
pub fn load_memory(mf: &MemoryFile, memory: &MemoryImage, pages: OwnedFd) -> Result<(), RestoreError> {
    let state = AllocatorState { free: memory.free.clone(), tail: memory.tail, shared: memory.shared.clone() };
    mf.restore_allocator(&state).map_err(|_| inconsistent("the memory file's allocator"))?;
    let lazy = LazyPages::new(pages, memory.extents.clone(), &memory.crcs, &memory.blocks, memory.tail)?;
    mf.load_lazily(lazy).map_err(|_| inconsistent("a memory file restored twice"))?;
    Ok(())
}

/// Loads what nothing touched yet of a restore's pages in a thread of its
/// own. Started once the tasks run, so that it does not slow the restore
/// itself down; without the thread, pages still load as they are touched.
pub fn load_rest_in_background(mf: &Arc<MemoryFile>) {
    if !mf.loading() {
        return;
    }
    let loader = mf.clone();
    let spawned = std::thread::Builder::new().name("husk-pageload".into()).spawn(move || {
        // A failure is reported to the kernel's handler.
        let _ = loader.load_all();
    });
    if let Err(e) = spawned {
        log::warn!("restore: no background page loading ({e}); pages load as they are touched");
    }
}

/// Gives a restored socket its name back in the sandbox's namespaces: an
/// abstract name, a path's socket file (found by its path), a port.
fn restore_socket_name(
    kernel: &Kernel,
    ep: &Arc<crate::vfs::unix::Endpoint>,
    s: &crate::vfs::unix::EndpointState,
) -> Result<(), RestoreError> {
    let names = &kernel.unix_names;
    let taken = |what: String| inconsistent(format!("{what}, bound twice"));
    match &s.name {
        Some(NameState::Abstract(n)) => {
            names.bind_abstract(n, ep).map_err(|_| taken(format!("abstract socket {}", String::from_utf8_lossy(n))))?
        }
        Some(NameState::Path { file: Some(path), .. }) => {
            let d = node(kernel, path)?;
            let a = d.attr();
            if a.mode & abi::flags::mode::S_IFMT != abi::flags::mode::S_IFSOCK {
                return Err(RestoreError::Changed {
                    path: String::from_utf8_lossy(path).into_owned(),
                    what: "no longer a socket file".into(),
                });
            }
            names.bind_path((a.dev, a.ino), ep).map_err(|_| taken(String::from_utf8_lossy(path).into_owned()))?;
            ep.set_bound_file(d);
        }
        Some(NameState::Inet(a)) if s.holds_port => {
            names.inet.lock().unwrap_or_else(|e| e.into_inner()).restore(ep).map_err(|_| taken(format!("port {a}")))?
        }
        _ => {}
    }
    Ok(())
}

/// The node at `path` (a terminal's: /dev/console, /dev/tty, /dev/pts/N,
/// a ptmx).
fn node(kernel: &Kernel, path: &[u8]) -> Result<Arc<Dentry>, RestoreError> {
    let vfs = &kernel.vfs;
    vfs.resolve(vfs.root(), vfs.root(), path, Follow::Yes)
        .map_err(|errno| RestoreError::Reopen { path: String::from_utf8_lossy(path).into_owned(), errno })
}

/// The image's terminals: its pseudo-terminal pairs made again at their
/// indexes, and its console, the terminal on the restore's stdio, which
/// takes the old one's settings.
fn restore_ttys(
    kernel: &Arc<Kernel>,
    images: &[TtyImage],
    stdio: &[OwnedFd],
) -> Result<Vec<Arc<crate::kernel::tty::Tty>>, RestoreError> {
    let mut out = Vec::with_capacity(images.len());
    for img in images {
        if (img.console || img.pty.is_none()) && kernel.console.get().is_some() {
            return Err(inconsistent("two consoles"));
        }
        let tty = match &img.pty {
            Some(p) => {
                let tty = kernel
                    .ptys
                    .restore(Arc::downgrade(kernel), p)
                    .ok_or_else(|| inconsistent(format!("pseudo-terminal {}", p.index)))?;
                if img.console {
                    let host = stdio_terminal(stdio)?;
                    crate::kernel::tty::rebridge(kernel, &tty, host)
                        .map_err(|e| RestoreError::Io(format!("bridging the console to the terminal: {e}")))?;
                    let _ = kernel.console.set(tty.clone());
                }
                tty
            }
            None => {
                let host = stdio_terminal(stdio)?;
                let console = crate::kernel::tty::host_console(host);
                let _ = kernel.console.set(console.clone());
                console
            }
        };
        tty.restore(&img.tty).map_err(|errno| RestoreError::Io(format!("a terminal's settings: {errno}")))?;
        out.push(tty);
    }
    Ok(out)
}

/// The host terminal on the restore's stdio (copies of its fds).
fn stdio_terminal(stdio: &[OwnedFd]) -> Result<crate::kernel::tty::HostTerminal, RestoreError> {
    let fds = stdio.iter().map(|fd| fd.try_clone()).collect::<Result<Vec<_>, _>>();
    let fds = fds.map_err(|e| RestoreError::Io(e.to_string()))?;
    crate::kernel::tty::stdio_terminal(fds).ok_or(RestoreError::NoTerminal)
}

/// Opens named files again, each once per (path, flags).
struct Opener<'k> {
    kernel: &'k Arc<Kernel>,
    /// Full credentials: a restore opens what the app had open, whatever
    /// its credentials are now.
    creds: Credentials,
}

impl Opener<'_> {
    fn find(&self, f: &NamedFile, check: bool) -> Result<Arc<Dentry>, RestoreError> {
        let path = String::from_utf8_lossy(&f.path).into_owned();
        let vfs = &self.kernel.vfs;
        let d = vfs
            .resolve(vfs.root(), vfs.root(), &f.path, Follow::No)
            .map_err(|errno| RestoreError::Reopen { path: path.clone(), errno })?;
        // A synthetic file (procfs, sysfs) is made afresh on each lookup:
        // its contents are the kernel's state, restored with it.
        if check && d.is_regular() && d.synth().is_none() {
            let a = d.attr();
            if a.size != f.size {
                return Err(RestoreError::Changed { path, what: format!("size {} then, {} now", f.size, a.size) });
            }
            if (a.mtime_sec, a.mtime_nsec) != f.mtime {
                return Err(RestoreError::Changed { path, what: "modification time".into() });
            }
        }
        Ok(d)
    }

    fn open(&self, t: &mut Task, f: &NamedFile, flags: u32) -> Result<Arc<File>, RestoreError> {
        let d = self.find(f, true)?;
        // Nothing is made, truncated or taken as a controlling terminal
        // again: the file is as the app left it.
        let flags = flags & !(O_CREAT | O_EXCL | O_TRUNC) | O_NOCTTY;
        crate::syscalls::file::open_resolved(t, d, flags, &self.creds, false, None)
            .map_err(|errno| RestoreError::Reopen { path: String::from_utf8_lossy(&f.path).into_owned(), errno })
    }
}

fn creds(c: &CredsImage) -> Credentials {
    let [uid, euid, suid, fsuid] = c.uids;
    let [gid, egid, sgid, fsgid] = c.gids;
    let [effective, permitted, inheritable, bounding, ambient] = c.caps;
    Credentials {
        uid,
        euid,
        suid,
        fsuid,
        gid,
        egid,
        sgid,
        fsgid,
        groups: c.groups.iter().copied().take(NGROUPS_MAX).collect(),
        caps: CapSets { effective, permitted, inheritable, bounding, ambient }.normalized(),
        securebits: c.securebits,
    }
}

fn siginfo(bytes: &[u8]) -> Result<SigInfo, RestoreError> {
    let bytes: [u8; 128] = bytes.try_into().map_err(|_| inconsistent("a siginfo not of 128 bytes"))?;
    let info = SigInfo(bytes);
    if info.signo() == 0 || info.signo() > crate::kernel::signal::NSIG {
        return Err(inconsistent("a pending signal out of range"));
    }
    Ok(info)
}

fn sighand(actions: &[(u64, u64, u64, u64)]) -> Result<SigHandlers, RestoreError> {
    let mut h = SigHandlers::default();
    if actions.len() != h.0.len() {
        return Err(inconsistent("signal actions"));
    }
    for (slot, &(handler, flags, restorer, mask)) in h.0.iter_mut().zip(actions) {
        *slot = SigAction { handler, flags, restorer, mask: mask & !crate::kernel::signal::UNBLOCKABLE };
    }
    Ok(h)
}

fn restart_block(r: RestartImage, now: Instant) -> RestartBlock {
    let at = |ns: u64| now + Duration::from_nanos(ns);
    match r {
        RestartImage::Sleep { left_ns, rem } => RestartBlock::Sleep { deadline: left_ns.map(at), rem },
        RestartImage::FutexWait { addr, val, bitset, left_ns } => {
            RestartBlock::FutexWait { addr, val, bitset, deadline: at(left_ns) }
        }
        RestartImage::Poll { addr, nfds, left_ns } => RestartBlock::Poll { addr, nfds, deadline: at(left_ns) },
    }
}

/// The writable sysctls as the app left them, each checked as its write
/// is checked (0 to INT_MAX).
fn restore_sysctls(kernel: &Kernel, s: &SysctlsImage) -> Result<(), RestoreError> {
    let bad = || inconsistent("a sysctl out of its range");
    if !(0..=i64::from(i32::MAX)).contains(&s.lease_break_time) || s.max_map_count > i32::MAX as u64 {
        return Err(bad());
    }
    if !kernel.keys.limits.restore(&s.keys) {
        return Err(bad());
    }
    crate::kernel::lease::LEASES.set_break_time(s.lease_break_time);
    crate::mm::MAX_MAP_COUNT.store(s.max_map_count, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The time and UTS namespaces of an image, each as it was (inode
/// number, offsets or names), within the sandbox's bounds, which the
/// image's replace.
#[allow(clippy::type_complexity)]
fn restore_namespaces(
    kernel: &Kernel,
    image: &NamespacesImage,
) -> Result<(Vec<Arc<crate::kernel::ns::TimeNs>>, Vec<Arc<crate::kernel::ns::UtsNs>>), RestoreError> {
    use crate::kernel::ns::{NsKind, TimeNs, UtsNs};
    let reg = &kernel.namespaces;
    // Every namespace comes back (even past a bound lowered since it was
    // made); then the bounds are the image's.
    let bounds = [(NsKind::Time, image.max.0), (NsKind::Uts, image.max.1)];
    for (kind, _) in bounds {
        reg.set_max(kind, i64::from(i32::MAX)).map_err(|_| inconsistent("a namespace bound"))?;
    }
    let time = image
        .time
        .iter()
        .map(|&(ino, offsets, frozen)| {
            TimeNs::new(reg, offsets, frozen, Some(ino)).map_err(|_| inconsistent("a time namespace"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let uts = image
        .uts
        .iter()
        .map(|(ino, host, domain)| {
            let names = crate::kernel::UtsNames {
                hostname: host.iter().copied().take(64).collect(),
                domainname: domain.iter().copied().take(64).collect(),
            };
            UtsNs::new(reg, names, Some(*ino)).map_err(|_| inconsistent("a UTS namespace"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (kind, max) in bounds {
        reg.set_max(kind, i64::try_from(max).unwrap_or(i64::MAX)).map_err(|_| inconsistent("a namespace bound"))?;
    }
    Ok((time, uts))
}

/// The IPC namespaces the app made, empty, each with its inode number
/// (every one comes back, even past a bound lowered since; then the bound
/// is the image's).
fn restore_ipc_namespaces(
    kernel: &Kernel,
    image: &NamespacesImage,
) -> Result<Vec<Arc<crate::kernel::ns::IpcNs>>, RestoreError> {
    use crate::kernel::ns::{IpcNs, NsKind};
    let reg = &kernel.namespaces;
    let bound = |max: i64| reg.set_max(NsKind::Ipc, max).map_err(|_| inconsistent("a namespace bound"));
    bound(i64::from(i32::MAX))?;
    let made = image
        .ipc
        .iter()
        .map(|(ino, _)| {
            IpcNs::new(reg, kernel.memfile.clone(), Some(*ino)).map_err(|_| inconsistent("an IPC namespace"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    bound(i64::try_from(image.max_ipc).unwrap_or(i64::MAX))?;
    Ok(made)
}

/// Rebuilds the image's processes in `kernel` (booted over the same bundle,
/// its memory file loaded by [`load_memory`]) and returns their tasks,
/// ready to start. `stdio` becomes the files that were the checkpointed
/// sandbox's stdio.
pub fn restore_tasks(
    kernel: &Arc<Kernel>,
    mut image: Image,
    stdio: Vec<OwnedFd>,
    disk: Option<OwnedFd>,
) -> Result<Vec<Task>, RestoreError> {
    let mf = &kernel.memfile;
    {
        let mut uts = kernel.uts.lock().unwrap_or_else(|e| e.into_inner());
        uts.hostname = image.uts.0.iter().copied().take(64).collect();
        uts.domainname = image.uts.1.iter().copied().take(64).collect();
    }
    // The tmpfs mounts' files first: open files and mappings name them.
    // Copies of host files deleted while open come back as in-memory
    // files, in the kernel's filesystem of them (a later checkpoint saves
    // them from there again).
    // The IPC namespaces the app made, empty, before the filesystems of
    // their segments are filled.
    let ipc_ns = restore_ipc_namespaces(kernel, &image.namespaces)?;
    let shm_points: Vec<Vec<u8>> = (0..ipc_ns.len()).map(super::memfs::sysv_shm_point).collect();
    let mut nameless = vec![
        (super::memfs::MEMFD_POINT, &kernel.memfd_fs),
        (super::memfs::SYSV_SHM_POINT, kernel.ipc.shm.fs()),
        (super::memfs::GHOST_POINT, &kernel.deleted_fs),
    ];
    nameless.extend(shm_points.iter().zip(&ipc_ns).map(|(p, n)| (p.as_slice(), n.ipc.shm.fs())));
    let src = super::memfs::Source { tail: image.memory.tail, disk: disk.as_ref().map(|fd| fd.as_raw_fd()) };
    let mem_inodes = super::memfs::restore(kernel, &nameless, &image.tmpfs, &image.mounts, &src)?;
    // System V objects before the address spaces that map segments: each
    // namespace's segments by table index.
    let sysv_into = |ipc: &crate::kernel::ipc::IpcNamespace, snap| {
        crate::kernel::ipc::snapshot::restore(ipc, snap, |(fs, i)| {
            mem_inodes.get(fs).and_then(|m| m.get(&i)).filter(|f| Arc::ptr_eq(&f.fs, ipc.shm.fs())).cloned()
        })
        .map_err(inconsistent)
    };
    let first_segments = sysv_into(&kernel.ipc, std::mem::take(&mut image.sysv))?;
    let mut ns_segments = Vec::new();
    for (n, (_, snap)) in ipc_ns.iter().zip(std::mem::take(&mut image.namespaces.ipc)) {
        ns_segments.push(sysv_into(&n.ipc, snap)?);
    }
    let ipc_of = |k: Option<usize>| -> Result<&crate::kernel::ipc::IpcNamespace, RestoreError> {
        match k {
            None => Ok(&kernel.ipc),
            Some(k) => ipc_ns.get(k).map(|n| &n.ipc).ok_or_else(|| inconsistent("an IPC namespace")),
        }
    };
    // Terminals before the processes they control and the files open on
    // them.
    let ttys = restore_ttys(kernel, &image.ttys, &stdio)?;
    let opener = Opener { kernel, creds: Credentials::new(0, 0) };
    // Address spaces.
    let min_max = (kernel.platform.min_user_address(), kernel.platform.max_user_address());
    let mut host_fds: HashMap<Vec<u8>, Arc<OwnedFd>> = HashMap::new();
    let host_caches = image
        .host_caches
        .iter()
        .map(|c| {
            if super::memfs::past_tail(&c.pages, image.memory.tail) {
                return Err(inconsistent("a file's cache past the memory file's end"));
            }
            match c.disk {
                Some((fs, inode)) => restore_disk_cache(&mem_inodes, (fs, inode), c),
                None => restore_host_cache(kernel, &opener, c),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut mms = Vec::new();
    let mut old_vdso_refs = Vec::new();
    for m in &image.mms {
        let mut vmas = Vec::new();
        for v in &m.vmas {
            let len = v.end.checked_sub(v.start).ok_or_else(|| inconsistent("a mapping that ends before it starts"))?;
            if v.mem_off.checked_add(len).is_none_or(|e| e > image.memory.tail) {
                return Err(inconsistent("a mapping past the memory file's end"));
            }
            if !v.mem_off.is_multiple_of(abi::PAGE_SIZE) || !len.is_multiple_of(abi::PAGE_SIZE) {
                return Err(inconsistent("a mapping not of whole pages"));
            }
            let mut mem_off = v.mem_off;
            let backing = match &v.backing {
                BackingImage::Anon => Backing::Anon,
                BackingImage::PastEof => Backing::PastEof,
                BackingImage::File { file, offset } => {
                    let d = opener.find(file, true)?;
                    let fd = match host_fds.get(&file.path) {
                        Some(fd) => fd.clone(),
                        None => {
                            let fd = mappable_fd(kernel, &d).map_err(|errno| RestoreError::Reopen {
                                path: String::from_utf8_lossy(&file.path).into_owned(),
                                errno,
                            })?;
                            host_fds.insert(file.path.clone(), fd.clone());
                            fd
                        }
                    };
                    Backing::File { fd, offset: *offset, name: Some(d) }
                }
                BackingImage::Vdso { image: part, offset } => {
                    let vdso = kernel.vdso.as_ref().ok_or_else(|| inconsistent("a vDSO mapping, and no vDSO"))?;
                    let source = vdso.source(*part);
                    // Pages still the vDSO's own (shared, or not yet
                    // copied on write) become the new vDSO's.
                    if v.shared || v.cow {
                        let chunks = source.share(*offset, len).map_err(|_| inconsistent("a vDSO mapping"))?;
                        match chunks.as_slice() {
                            [c] if c.len == len => mem_off = c.off,
                            _ => return Err(inconsistent("a vDSO mapping larger than the vDSO")),
                        }
                        old_vdso_refs.push((v.mem_off, len));
                    }
                    Backing::Pages { source, offset: *offset }
                }
                BackingImage::MemFile { fs, inode, offset } => {
                    let inode = mem_inodes.get(*fs).and_then(|m| m.get(inode));
                    let inode = inode.ok_or_else(|| inconsistent("a mapping of a tmpfs file"))?;
                    Backing::Pages { source: inode.clone(), offset: *offset }
                }
                BackingImage::SysvShm { ns, index, offset } => {
                    let segments = match ns {
                        None => Some(&first_segments),
                        Some(k) => ns_segments.get(*k),
                    };
                    let seg = segments
                        .and_then(|s| s.get(index))
                        .ok_or_else(|| inconsistent("a mapping of a System V segment"))?;
                    Backing::Pages { source: seg.mapping(), offset: *offset }
                }
                BackingImage::HostCache { cache, offset } => {
                    let cache = host_caches.get(*cache).ok_or_else(|| inconsistent("a mapping of a host file"))?;
                    Backing::Pages { source: cache.clone(), offset: *offset }
                }
            };
            vmas.push((
                v.start,
                Vma {
                    end: v.end,
                    prot: v.prot,
                    shared: v.shared,
                    cow: v.cow,
                    may_write: v.may_write,
                    may_exec: v.may_exec,
                    mem_off,
                    backing,
                    lazy: false,
                    locked: v.locked,
                    sealed: v.sealed,
                    grows_down: v.grows_down,
                },
            ));
        }
        let (brk_base, brk) = m.brk;
        let mut mm = MemoryManager::restored(mf.clone(), min_max, (brk_base, brk, m.mmap_top), vmas)
            .map_err(|_| inconsistent("overlapping or misplaced mappings"))?;
        mm.set_lock_future(m.lock_future);
        mm.set_membarrier(m.membarrier);
        mms.push(Arc::new(Mutex::new(mm)));
    }
    // The checkpointed vDSO's pages: the references its mappings held,
    // and its own (whole pages of the memory file, or the image lies).
    let page_run = |&(off, len): &(u64, u64)| {
        len > 0
            && off.is_multiple_of(abi::PAGE_SIZE)
            && len.is_multiple_of(abi::PAGE_SIZE)
            && off.checked_add(len).is_some_and(|e| e <= image.memory.tail)
    };
    if !image.memory.vdso.iter().all(page_run) {
        return Err(inconsistent("the vDSO's pages"));
    }
    for (off, len) in old_vdso_refs.into_iter().chain(image.memory.vdso.iter().copied()) {
        mf.release(off, len);
    }
    // Filesystem contexts.
    let vfs = &kernel.vfs;
    let dir = |path: &[u8]| -> Result<Arc<Dentry>, RestoreError> {
        vfs.resolve(vfs.root(), vfs.root(), path, Follow::Yes).ok().filter(|d| d.is_dir()).ok_or_else(|| {
            RestoreError::Reopen { path: String::from_utf8_lossy(path).into_owned(), errno: Errno::ENOTDIR }
        })
    };
    let gone_dirs: Vec<Arc<Dentry>> = image.gone_dirs.iter().map(|g| gone_dir(kernel, g)).collect::<Result<_, _>>()?;
    let pick_gone = |i: usize| gone_dirs.get(i).cloned().ok_or_else(|| inconsistent("a removed directory"));
    let mut fs_contexts = Vec::new();
    for f in &image.fs_contexts {
        let cwd = match f.cwd_gone {
            Some(i) => pick_gone(i)?,
            None => dir(&f.cwd)?,
        };
        fs_contexts.push(Arc::new(Mutex::new(FsContext { root: dir(&f.root)?, cwd, umask: f.umask & 0o777 })));
    }
    let fd_tables: Vec<Arc<Mutex<FdTable>>> = image.fd_tables.iter().map(|_| Arc::default()).collect();
    // The namespaces processes made, with their own inode numbers.
    let (time_ns, uts_ns) = restore_namespaces(kernel, &image.namespaces)?;
    restore_sysctls(kernel, &image.sysctls)?;
    // Keys and keyrings, then the holds processes and threads have on
    // them (unused ones let go when this returns).
    kernel.keys.restore(&image.keys.table).map_err(|e| inconsistent(format!("the keys: {e}")))?;
    let key_holds = image
        .keys
        .holds
        .iter()
        .map(|&serial| kernel.keys.hold(serial).map(Arc::new).map_err(|_| inconsistent("a keyring hold")))
        .collect::<Result<Vec<_>, _>>()?;
    // File handles, each on its file found again by path (a file now of
    // another inode number is not the one the handle named: left out, its
    // handle stale).
    let handles = image
        .handles
        .0
        .iter()
        .filter_map(|h| {
            let d = vfs.resolve(vfs.root(), vfs.root(), &h.path, Follow::No).ok()?;
            (d.attr().ino == h.ino).then_some((h.gen, d))
        })
        .collect();
    kernel.handles.restore(handles, image.handles.1);
    let pick_hold = |i: Option<usize>| {
        i.map(|i| key_holds.get(i).cloned().ok_or_else(|| inconsistent("a keyring hold"))).transpose()
    };
    // Processes and their threads.
    let now = Instant::now();
    let mut tasks = Vec::new();
    // Each thread's vfork: the child it waits for, and whether it is a
    // vfork child its parent waits for.
    let mut vforks: HashMap<i32, (Option<i32>, bool)> = HashMap::new();
    let mut deferred_arms: Vec<DeferredArm> = Vec::new();
    // seccomp filters by their key in the image: threads that shared one
    // share it again.
    let mut seccomp_filters = HashMap::new();
    {
        let mut procs = kernel.procs();
        for p in &image.processes {
            if p.pid <= 0 || procs.procs.contains_key(&p.pid) {
                return Err(inconsistent(format!("process {}", p.pid)));
            }
            let mut rlimits = crate::kernel::task::default_rlimits();
            if p.rlimits.len() != rlimits.len() {
                return Err(inconsistent("resource limits"));
            }
            for (r, &(cur, max)) in rlimits.iter_mut().zip(&p.rlimits) {
                *r = Rlimit { cur: cur.min(max), max };
            }
            let tg = ThreadGroup::new(p.pid, sighand(&p.actions)?, creds(&p.creds), rlimits);
            *tg.keys.lock().unwrap_or_else(|e| e.into_inner()) = crate::kernel::keys::ProcessKeys {
                process: pick_hold(p.keyrings.0)?,
                session: pick_hold(p.keyrings.1)?,
            };
            // Before the pending signals: arming a timer drops a signal of
            // its old setting that is still queued.
            restore_timers(kernel, &tg, p, &mut deferred_arms)?;
            for s in &p.pending {
                tg.push_signal(siginfo(s)?);
            }
            use std::sync::atomic::Ordering::Relaxed;
            tg.pdeathsig.store(p.pdeathsig.min(crate::kernel::signal::NSIG), Relaxed);
            tg.child_subreaper.store(p.subreaper_thp.0, Relaxed);
            tg.thp_disable.store(p.subreaper_thp.1, Relaxed);
            tg.nice.store(p.nice.clamp(-20, 19), Relaxed);
            tg.oom_score_adj.store(p.oom_score_adj.0.clamp(-1000, 1000), Relaxed);
            tg.oom_score_adj_min.store(p.oom_score_adj.1.clamp(-1000, 1000), Relaxed);
            {
                let pick_ns = |list: &[Arc<crate::kernel::ns::TimeNs>], i: Option<usize>| {
                    i.map(|i| list.get(i).cloned().ok_or_else(|| inconsistent("a time namespace"))).transpose()
                };
                let set = crate::kernel::ns::NsSet {
                    uts: p
                        .ns
                        .uts
                        .map(|i| uts_ns.get(i).cloned().ok_or_else(|| inconsistent("a UTS namespace")))
                        .transpose()?,
                    time: pick_ns(&time_ns, p.ns.time)?,
                    time_for_children: pick_ns(&time_ns, p.ns.time_for_children)?,
                    ipc: p
                        .ns
                        .ipc
                        .map(|i| ipc_ns.get(i).cloned().ok_or_else(|| inconsistent("an IPC namespace")))
                        .transpose()?,
                };
                *tg.ns.lock().unwrap_or_else(|e| e.into_inner()) = set;
            }
            let state = match p.state {
                ProcStateImage::Running => ProcState::Running,
                ProcStateImage::Stopped { sig, reported } => ProcState::Stopped { sig, reported },
                ProcStateImage::Zombie(e) => ProcState::Zombie(e.into()),
            };
            let mut handles = Vec::new();
            let mut remains = None;
            if let ProcState::Zombie(status) = state {
                if !p.threads.is_empty() {
                    return Err(inconsistent(format!("zombie {} with threads", p.pid)));
                }
                tg.begin_exit(status);
                tg.exited.store(true, std::sync::atomic::Ordering::SeqCst);
                remains = Some(TaskHandle::new(p.pid, tg.clone(), 0));
            } else if p.threads.is_empty() {
                return Err(inconsistent(format!("process {} without threads", p.pid)));
            }
            if p.stopped {
                tg.set_stopped(true);
            }
            for t in &p.threads {
                if t.tid <= 0 || procs.threads.contains_key(&t.tid) {
                    return Err(inconsistent(format!("thread {}", t.tid)));
                }
                let handle = TaskHandle::new(t.tid, tg.clone(), t.sigmask);
                for s in &t.pending {
                    handle.push_signal(siginfo(s)?);
                }
                handle.no_new_privs.store(t.no_new_privs, Relaxed);
                let seccomp = crate::kernel::seccomp::Mode::from_image(&t.seccomp, &mut seccomp_filters)
                    .map_err(|e| inconsistent(format!("thread {}'s seccomp filter: {e}", t.tid)))?;
                handle.set_seccomp(seccomp);
                handle.sched.store(t.sched, Relaxed);
                handle.timer_slack.store(t.timer_slack.0, Relaxed);
                handle.default_timer_slack.store(t.timer_slack.1, Relaxed);
                *handle.deadline.lock().unwrap_or_else(|e| e.into_inner()) = t.deadline;
                handle.ioprio.store(t.ioprio & 0xffff, Relaxed);
                handle.robust_head.store(t.robust_list.0, Relaxed);
                procs.threads.insert(t.tid, handle.clone());
                handles.push(handle.clone());
                let regs = platform::Regs::from_words(&t.regs).ok_or_else(|| inconsistent("registers"))?;
                let parts = TaskParts {
                    handle,
                    pid: p.pid,
                    mm: pick(&mms, t.mm, t.tid, "address space")?,
                    fds: pick(&fd_tables, t.fds, t.tid, "fd table")?,
                    fs: pick(&fs_contexts, t.fs, t.tid, "filesystem context")?,
                    regs,
                    sigmask: t.sigmask,
                };
                let mut task = Task::new(kernel.clone(), parts);
                task.set_sigmask(t.sigmask);
                task.saved_mask = t.saved_mask;
                let (sp, size, flags) = t.altstack;
                task.altstack = AltStack { sp, size, flags };
                task.restart_block = t.restart.map(|r| restart_block(r, now));
                task.clear_child_tid = t.clear_child_tid;
                task.robust_list = t.robust_list;
                task.trap = crate::arch::Trap { number: t.trap.0, code: t.trap.1 };
                task.set_comm(&t.comm[..t.comm.len().min(15)]);
                task.dumpable = t.dumpable;
                task.personality = t.personality;
                task.affinity = t.affinity.clone();
                task.in_syscall = t.in_syscall;
                // KEY_REQKEY_DEFL_DEFAULT to _REQUESTOR_KEYRING (7).
                if !(0..=7).contains(&t.reqkey_default) {
                    return Err(inconsistent(format!("thread {}'s request_key keyring", t.tid)));
                }
                task.keys =
                    crate::kernel::keys::ThreadKeys { thread: pick_hold(t.keyring)?, reqkey_default: t.reqkey_default };
                task.inherited_fp = t.fp.as_deref().map(fp_state);
                if let Some(pt) = &t.ptrace {
                    restore_ptrace(&mut task, pt)?;
                }
                let exe = p.exe.as_ref().and_then(|path| vfs.resolve(vfs.root(), vfs.root(), path, Follow::Yes).ok());
                task.publish_program(exe, Arc::new(p.cmdline.clone()), Arc::new(p.environ.clone()));
                vforks.insert(t.tid, (t.vfork_parent_of, t.vfork_child));
                tasks.push(task);
            }
            procs.procs.insert(
                p.pid,
                Process {
                    tg,
                    parent: p.parent,
                    children: p.children.iter().copied().collect(),
                    threads: handles,
                    pgid: p.pgid,
                    sid: p.sid,
                    state,
                    continued: p.continued,
                    exit_signal: p.exit_signal.min(crate::kernel::signal::NSIG),
                    did_exec: p.did_exec,
                    ctty: p
                        .ctty
                        .map(|i| ttys.get(i).cloned().ok_or_else(|| inconsistent("a controlling terminal")))
                        .transpose()?,
                    remains,
                },
            );
        }
        procs.set_last_id(image.last_pid);
    }
    // Vfork parents wait again for their children, which release them as
    // before; one whose child is gone is released at once.
    let mut dones: HashMap<i32, Arc<crate::kernel::task::VforkDone>> = HashMap::new();
    for task in &mut tasks {
        if vforks.get(&task.tid).is_some_and(|&(_, child)| child) {
            let v = Arc::new(crate::kernel::task::VforkDone::default());
            task.vfork_done = Some(v.clone());
            dones.insert(task.tid, v);
        }
    }
    for task in &mut tasks {
        if let Some(&(Some(child), _)) = vforks.get(&task.tid) {
            let v = dones.get(&child).cloned().unwrap_or_else(crate::kernel::task::VforkDone::completed);
            task.vfork_waiting = Some((v, child));
        }
    }
    // A process outside the first time namespace reads its clocks by
    // syscall, through its own vDSO page (its mappings came back as the
    // first namespace's).
    if let Some(vdso) = &kernel.vdso {
        for task in &tasks {
            if task.handle.tg.ns().time.is_some() {
                vdso.set_timens(&mut task.mm(), true);
            }
        }
    }
    for arm in deferred_arms {
        arm();
    }
    // Open files, through one of the tasks (for the open path's sake).
    let Some(opener_task) = tasks.first_mut() else { return Err(inconsistent("no task")) };
    let stdio: Vec<Arc<OwnedFd>> = stdio.into_iter().map(Arc::new).collect();
    let mut pipes: Vec<Arc<crate::vfs::pipe::Pipe>> = image
        .pipes
        .iter()
        .map(|p| crate::vfs::pipe::Pipe::restored(p.data.clone(), p.capacity.min(usize::MAX as u64) as usize))
        .collect();
    // A named pipe's data goes back into the FIFO's own pipe, which any
    // later open of its path reaches.
    for f in &image.files {
        let FileKind::Fifo { pipe, file } = &f.kind else { continue };
        let d = opener.find(file, false)?;
        let path = || String::from_utf8_lossy(&file.path).into_owned();
        let fifo = crate::vfs::pipe::fifo_of(&d)
            .ok_or_else(|| RestoreError::Changed { path: path(), what: "no longer a named pipe".into() })?;
        let (slot, saved) = pipes.get_mut(*pipe).zip(image.pipes.get(*pipe)).ok_or_else(|| inconsistent("a pipe"))?;
        if !Arc::ptr_eq(slot, &fifo) {
            if !fifo.refill(saved.data.clone(), saved.capacity.min(usize::MAX as u64) as usize) {
                return Err(inconsistent(format!("named pipe {} of two pipes", path())));
            }
            *slot = fifo;
        }
    }
    let sockets: Vec<Arc<crate::vfs::unix::Endpoint>> =
        image.unix.iter().map(|(s, _)| crate::vfs::unix::Endpoint::restored(s)).collect();
    for ((state, peer), ep) in image.unix.iter().zip(&sockets) {
        if let Some(p) = peer {
            ep.restore_peer(sockets.get(*p).ok_or_else(|| inconsistent("a socket's peer"))?);
        }
        restore_socket_name(kernel, ep, state)?;
        if let Some((backlog, pending)) = &state.listening {
            let pending = pending
                .iter()
                .map(|&i| sockets.get(i).cloned().ok_or_else(|| inconsistent("a connection not yet accepted")))
                .collect::<Result<Vec<_>, _>>()?;
            ep.restore_listening(*backlog, pending);
        }
    }
    let mqueues = std::mem::take(&mut image.mqueues)
        .into_iter()
        .map(|(k, q)| ipc_of(k)?.mqueue.restore(q, &sockets).map_err(inconsistent))
        .collect::<Result<Vec<_>, _>>()?;
    let mut files = Vec::new();
    let mut gone_fifos: HashMap<usize, Arc<Dentry>> = HashMap::new();
    // The processes reaped whose pidfds are open, by pid.
    let mut reaped: HashMap<i32, Arc<ThreadGroup>> = HashMap::new();
    // Each memfd inode's seals, which all its files share.
    let mut memfd_seals: HashMap<(usize, usize), Arc<std::sync::atomic::AtomicU32>> = HashMap::new();
    for f in &image.files {
        let file = match &f.kind {
            FileKind::Named(n) => opener.open(opener_task, n, f.flags)?,
            FileKind::PidFd { pid } => {
                let group = kernel.procs().procs.get(pid).map(|p| p.tg.clone());
                let group =
                    group.ok_or_else(|| inconsistent(format!("a pidfd of process {pid}, which is not here")))?;
                crate::vfs::pidfd::PidFd::open_file(*pid, group, Arc::downgrade(kernel), false)
            }
            FileKind::ReapedPidFd { pid } => {
                // One gone process for every pidfd of it.
                let group = reaped.entry(*pid).or_insert_with(|| {
                    let creds = Credentials::new(0, 0);
                    let rlimits = crate::kernel::task::default_rlimits();
                    let tg = ThreadGroup::new(*pid, SigHandlers::default(), creds, rlimits);
                    tg.exited.store(true, std::sync::atomic::Ordering::SeqCst);
                    tg
                });
                crate::vfs::pidfd::PidFd::open_file(*pid, group.clone(), Arc::downgrade(kernel), false)
            }
            FileKind::Inotify { next_wd, watches, events } => {
                use crate::vfs::inotify::{Inotify, InotifyFile};
                let ino = Inotify::restored(*next_wd, events).map_err(|_| inconsistent("an inotify queue"))?;
                for (wd, file, mask) in watches {
                    // Watched, not opened: a file changed since is watched
                    // as it is now.
                    let d = opener.find(file, false)?;
                    ino.restore_watch(*wd, &d, *mask).map_err(|_| inconsistent(format!("inotify watch {wd}")))?;
                }
                File::new(Box::new(InotifyFile(ino)), f.flags, None)
            }
            FileKind::Unlinked { fs, inode, path, linkable } => {
                let inode = mem_inodes
                    .get(*fs)
                    .and_then(|m| m.get(inode))
                    .filter(|i| i.attr().mode & abi::flags::mode::S_IFMT == abi::flags::mode::S_IFREG)
                    .ok_or_else(|| inconsistent("a deleted file's inode"))?
                    .clone();
                inode.set_linkable(*linkable);
                let d = unlinked_dentry(kernel, path, inode.clone());
                if f.flags & O_PATH != 0 {
                    path_only(d)
                } else {
                    File::new(Box::new(crate::vfs::tmpfs::RegFile::new(inode)), f.flags, Some(d))
                }
            }
            FileKind::MemFd { fs, inode, link, seals } => {
                let i = mem_inodes
                    .get(*fs)
                    .and_then(|m| m.get(inode))
                    .filter(|i| Arc::ptr_eq(&i.fs, &kernel.memfd_fs))
                    .ok_or_else(|| inconsistent("a memfd's inode"))?
                    .clone();
                let shared = memfd_seals.entry((*fs, *inode)).or_insert_with(|| Arc::new((*seals).into())).clone();
                File::new(Box::new(crate::vfs::memfd::MemFd::restored(i, link.clone(), shared)), f.flags, None)
            }
            FileKind::Stdio(i) => {
                let fd =
                    stdio.get(usize::from(*i)).ok_or_else(|| inconsistent("a stdio fd the runtime did not give"))?;
                let dup = fd.try_clone().map_err(|e| RestoreError::Io(e.to_string()))?;
                File::new(Box::new(HostStdio::new(dup, *i)), f.flags, None)
            }
            FileKind::PipeRead(n) => {
                let pipe = pipes.get(*n).ok_or_else(|| inconsistent("a pipe"))?;
                File::new(Box::new(pipe.open_reader().0), f.flags, None)
            }
            FileKind::PipeWrite(n) => {
                let pipe = pipes.get(*n).ok_or_else(|| inconsistent("a pipe"))?;
                File::new(Box::new(pipe.open_writer().0), f.flags, None)
            }
            FileKind::MQueue(n) => {
                let q = mqueues.get(*n).ok_or_else(|| inconsistent("a message queue"))?.clone();
                File::new(Box::new(crate::vfs::mqueue::MqFile::new(q)), f.flags, None)
            }
            FileKind::Fifo { pipe, file } => {
                let pipe = pipes.get(*pipe).ok_or_else(|| inconsistent("a pipe"))?;
                fifo_file(pipe, opener.find(file, false)?, f.flags)
            }
            FileKind::GoneFifo { pipe: n, path, mode, owner } => {
                let pipe = pipes.get(*n).ok_or_else(|| inconsistent("a pipe"))?;
                // One removed FIFO for all the files open on its pipe.
                let d = match gone_fifos.get(n) {
                    Some(d) => Arc::clone(d),
                    None => {
                        use crate::vfs::tmpfs::InodeKind;
                        let mode = abi::flags::mode::S_IFIFO | (mode & 0o7777);
                        let fifo = crate::vfs::pipe::Pipe::new_fifo();
                        let inode = kernel.deleted_fs.new_inode(InodeKind::Fifo(fifo), mode, owner.0, owner.1, 0);
                        inode.orphan();
                        let d = unlinked_dentry(kernel, path, inode);
                        gone_fifos.insert(*n, d.clone());
                        d
                    }
                };
                fifo_file(pipe, d, f.flags)
            }
            FileKind::Namespace { kind, index } => {
                use crate::kernel::ns::{NsKind, NsRef};
                let kind = NsKind::ALL.into_iter().find(|k| k.name() == kind);
                let bad = || inconsistent("a namespace file");
                let ns = match (kind.ok_or_else(bad)?, index) {
                    (kind, None) => NsRef::Init(kind),
                    (NsKind::Time, Some(i)) => NsRef::Time(time_ns.get(*i).ok_or_else(bad)?.clone()),
                    (NsKind::Uts, Some(i)) => NsRef::Uts(uts_ns.get(*i).ok_or_else(bad)?.clone()),
                    (NsKind::Ipc, Some(i)) => NsRef::Ipc(ipc_ns.get(*i).ok_or_else(bad)?.clone()),
                    _ => return Err(bad()),
                };
                File::new(Box::new(crate::vfs::nsfs::NsFile(ns)), f.flags, None)
            }
            FileKind::GoneDir(i) => {
                let d = pick_gone(*i)?;
                if f.flags & O_PATH != 0 {
                    path_only(d)
                } else {
                    File::new(Box::new(crate::vfs::tmpfs::DirFile::new(d.clone())), f.flags, Some(d))
                }
            }
            FileKind::GoneNode { path, mode, owner, rdev, target } => {
                use crate::vfs::tmpfs::InodeKind;
                use abi::flags::mode::{S_IFBLK, S_IFCHR, S_IFIFO, S_IFLNK, S_IFMT, S_IFSOCK};
                let kind = match mode & S_IFMT {
                    S_IFIFO => InodeKind::Fifo(crate::vfs::pipe::Pipe::new_fifo()),
                    S_IFSOCK => InodeKind::Socket,
                    S_IFCHR | S_IFBLK => InodeKind::Device,
                    S_IFLNK => InodeKind::Symlink(target.clone()),
                    _ => return Err(inconsistent("a removed node of no known type")),
                };
                if f.flags & O_PATH == 0 {
                    return Err(inconsistent("a removed node open for I/O"));
                }
                let inode = kernel.deleted_fs.new_inode(kind, *mode, owner.0, owner.1, *rdev);
                inode.orphan();
                path_only(unlinked_dentry(kernel, path, inode))
            }
            FileKind::EventFd { count, semaphore } => {
                File::new(Box::new(crate::vfs::eventfd::EventFd::restored(*count, *semaphore)), f.flags, None)
            }
            FileKind::TimerFd { clock, left_ns, interval_ns, ticks } => {
                let when = (Duration::from_nanos(*left_ns), Duration::from_nanos(*interval_ns));
                let t = crate::vfs::timerfd::TimerFd::restored(*clock, &kernel.timers, when, *ticks);
                File::new(Box::new(crate::vfs::timerfd::TimerFdFile(t)), f.flags, None)
            }
            FileKind::SignalFd { mask, pid } => {
                let tg = kernel.procs().procs.get(pid).map(|p| p.tg.clone());
                let tg = tg.ok_or_else(|| inconsistent(format!("a signalfd of process {pid}, which is gone")))?;
                File::new(Box::new(crate::vfs::signalfd::SignalFd::new(*mask, tg)), f.flags, None)
            }
            FileKind::Unix(n) => {
                let ep = sockets.get(*n).ok_or_else(|| inconsistent("a socket"))?.clone();
                let sock = crate::vfs::unix::UnixSocket::new(ep).in_kernel(Arc::downgrade(kernel));
                File::new(Box::new(sock), f.flags, None)
            }
            // Its entries once every file exists.
            FileKind::Epoll(_) => File::new(Box::new(crate::vfs::epoll::EpollFile::new()), f.flags, None),
            FileKind::Terminal { tty, path, hangups } => {
                let tty = ttys.get(*tty).ok_or_else(|| inconsistent("a terminal"))?.clone();
                let dentry = path.as_ref().map(|p| node(kernel, p)).transpose()?;
                let file = crate::kernel::tty::TtyFile::restored(tty, dentry.clone(), *hangups);
                File::new(Box::new(file), f.flags, dentry)
            }
            FileKind::PtyMaster { tty, path } => {
                let tty = ttys.get(*tty).ok_or_else(|| inconsistent("a pseudo-terminal"))?.clone();
                let dentry = node(kernel, path)?;
                let master = crate::kernel::pty::PtyMaster::restored(tty, dentry.clone())
                    .ok_or_else(|| inconsistent("a pty master of the console"))?;
                File::new(Box::new(master), f.flags, Some(dentry))
            }
        };
        if f.flags & O_PATH == 0 {
            file.set_flags(f.flags);
        }
        *file.offset.lock().unwrap_or_else(|e| e.into_inner()) = f.offset;
        if let Some(owner) = &f.owner {
            if !crate::kernel::fasync::FileOwner::restore_state(&file, owner, kernel) {
                return Err(inconsistent("a file's owner for SIGIO"));
            }
        }
        files.push(file);
    }
    for (f, file) in image.files.iter().zip(&files) {
        let (FileKind::Epoll(entries), Some(set)) = (&f.kind, file.ops.epoll()) else { continue };
        for &(target, fd, events, data, fired) in entries {
            let target = files.get(target).ok_or_else(|| inconsistent("an epoll entry's file"))?;
            set.restore_interest(target, fd, events, data, fired)
                .map_err(|e| inconsistent(format!("an epoll entry for fd {fd}: {e}")))?;
        }
    }
    // Files in flight on the sockets' queues (SCM_RIGHTS), now that
    // every file exists.
    for ((state, _), ep) in image.unix.iter().zip(&sockets) {
        for (msg, indexes) in &state.in_flight {
            let fs = indexes
                .iter()
                .map(|&i| files.get(i).cloned().ok_or_else(|| inconsistent("a file in flight")))
                .collect::<Result<Vec<_>, _>>()?;
            if fs.len() > crate::vfs::unix::SCM_MAX_FD || !ep.restore_in_flight(*msg, fs) {
                return Err(inconsistent("files in flight on a socket"));
            }
        }
    }
    restore_locks(&image.locks, &files)?;
    for ctx in &image.aio {
        let mm = mms.get(ctx.mm).ok_or_else(|| inconsistent("an AIO context's address space"))?;
        kernel.aio.restore(mm, ctx, |i| files.get(i).cloned()).map_err(inconsistent)?;
    }
    for l in &image.leases {
        let file = files.get(l.file).ok_or_else(|| inconsistent("a lease's file"))?;
        let key = crate::kernel::locks::key_of(file).map_err(|_| inconsistent("a lease's file"))?;
        crate::kernel::lease::LEASES.restore(key, file, l);
    }
    for &(i, fd, mask, owner) in &image.dnotify {
        let file = files.get(i).ok_or_else(|| inconsistent("F_NOTIFY's directory"))?;
        let dir = file.dentry.as_ref().filter(|d| d.is_dir()).ok_or_else(|| inconsistent("F_NOTIFY's directory"))?;
        crate::vfs::inotify::dnotify_set(&dir.attr(), file, fd, mask, owner);
    }
    for (table, entries) in fd_tables.iter().zip(&image.fd_tables) {
        let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
        for &(fd, file, cloexec) in entries {
            let file = files.get(file).ok_or_else(|| inconsistent("an fd's file"))?.clone();
            // Bounded as RLIMIT_NOFILE's largest default: an fd number
            // past it would make the table that long.
            table.insert_at(fd, file, cloexec, MAX_FD).map_err(|_| inconsistent(format!("fd {fd}")))?;
        }
    }
    for t in &tasks {
        t.publish_view();
    }
    Ok(tasks)
}

/// The dentry of a restored file no name leads to: called as it was, in
/// its directory if that is still there (so its path reads the same), but
/// not one of the directory's names.
fn unlinked_dentry(kernel: &Kernel, path: &[u8], inode: Arc<crate::vfs::tmpfs::Inode>) -> Arc<Dentry> {
    let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&b"/"[..], path),
    };
    let root = kernel.vfs.root();
    let parent = kernel.vfs.resolve(root, root, dir, Follow::Yes).ok().filter(|p| p.is_dir());
    Dentry::unlinked_mem(name, parent.as_ref(), inode)
}

/// An FPU state from the image's bytes (the platform's layout, as
/// [`super::save::fp_bytes`] wrote them).
fn fp_state(bytes: &[u8]) -> Box<platform::FpState> {
    let mut fp = Box::<platform::FpState>::default();
    let n = bytes.len().min(fp.bytes.len());
    fp.bytes[..n].copy_from_slice(&bytes[..n]);
    fp
}

/// A thread's ptrace link. A tracee the checkpoint caught in a stop waits
/// in it again first thing, its registers and FPU state as the tracer
/// sees them its own unless the tracer changed them.
fn restore_ptrace(task: &mut Task, pt: &PtraceImage) -> Result<(), RestoreError> {
    use crate::kernel::ptrace::{Resume, Stop, TraceeExit, TraceeState};
    let bad = || inconsistent(format!("thread {}'s ptrace state", task.tid));
    let (sig, syscall, step, from_pid, from_uid) = pt.resume;
    let (trap_pending, group_stop_seen, listening, stepping) = pt.flags;
    let regs = match &pt.regs {
        Some(words) => Some(platform::Regs::from_words(words).ok_or_else(bad)?),
        None => None,
    };
    let stopped = pt.stop.is_some();
    let st = TraceeState {
        tracer: pt.tracer.0,
        tracer_pid: pt.tracer.1,
        seized: pt.seized,
        options: pt.options,
        stop: pt.stop.map(|(status, reported)| Stop { status, reported }),
        kind: pt.kind,
        resume: Resume { sig: sig.min(crate::kernel::signal::NSIG), syscall, step, from_pid, from_uid },
        siginfo: pt.siginfo.as_deref().map(siginfo).transpose()?,
        event_msg: pt.event_msg,
        regs: regs.unwrap_or(task.regs),
        regs_dirty: regs.is_some(),
        fp: match &pt.fp {
            Some(bytes) => Some(fp_state(bytes)),
            None if stopped => task.inherited_fp.clone(),
            None => None,
        },
        fp_dirty: pt.fp.is_some(),
        debugreg: pt.debugreg,
        trap_pending,
        group_stop_seen,
        listening,
        stepping,
        set_mask: pt.set_mask,
    };
    if pt.tracees.len() > crate::kernel::ptrace::MAX_TRACEES {
        return Err(bad());
    }
    let exits =
        pt.exits.iter().map(|&(tid, pgid, uid, status)| TraceeExit { tid, pgid, uid, status: status.into() }).collect();
    task.handle.ptrace.restore(st, pt.tracees.iter().copied().collect(), exits);
    if stopped {
        task.restored_stop = Some(pt.kind);
    }
    Ok(())
}

/// An O_PATH file of `d`.
fn path_only(d: Arc<Dentry>) -> Arc<File> {
    File::new(Box::new(crate::vfs::file::PathOnly::new(d.attr())), O_PATH, Some(d))
}

/// A file open on the named pipe `d`, whose pipe is `pipe`: its ends as
/// `flags`' access mode says (O_RDWR: both).
fn fifo_file(pipe: &Arc<crate::vfs::pipe::Pipe>, d: Arc<Dentry>, flags: u32) -> Arc<File> {
    use abi::flags::open::{O_ACCMODE, O_RDONLY, O_WRONLY};
    let acc = flags & O_ACCMODE;
    let reader = (acc != O_WRONLY).then(|| pipe.open_reader().0);
    let writer = (acc != O_RDONLY).then(|| pipe.open_writer().0);
    File::new(Box::new(crate::vfs::pipe::FifoFile::new(reader, writer, d.clone())), flags, Some(d))
}

/// A directory removed while open or a working directory: an empty one of
/// the kernel's filesystem of deleted files, removed, at its old path.
fn gone_dir(kernel: &Kernel, g: &GoneDirImage) -> Result<Arc<Dentry>, RestoreError> {
    let made = kernel.deleted_fs.new_root(g.mode & 0o7777, g.uid, g.gid);
    let inode = made.inode().cloned().ok_or_else(|| inconsistent("a removed directory"))?;
    inode.orphan();
    let d = unlinked_dentry(kernel, &g.path, inode);
    d.children().dead = true;
    Ok(d)
}

/// The advisory locks, on the files of the restored open files, owned by
/// the same processes or by the restored open file descriptions.
fn restore_locks(locks: &[FileLocksImage], files: &[Arc<File>]) -> Result<(), RestoreError> {
    use crate::kernel::locks::{key_of, Owner, RecordLock, LOCKS};
    let file = |i: usize| files.get(i).ok_or_else(|| inconsistent("a lock's file"));
    // An open file description that owns a lock lets it go when it closes.
    let owner = |i: usize| {
        let f = file(i)?;
        f.note_locks();
        Ok::<usize, RestoreError>(Arc::as_ptr(f) as usize)
    };
    for l in locks {
        let key = key_of(file(l.file)?).map_err(|_| inconsistent("a locked file"))?;
        let flocks = l.flocks.iter().map(|&(f, ex)| Ok((owner(f)?, ex))).collect::<Result<Vec<_>, RestoreError>>()?;
        let records = l
            .records
            .iter()
            .map(|r| {
                let owner = match r.owner {
                    LockOwnerImage::Process(pid) => Owner::Process(pid),
                    LockOwnerImage::File(f) => Owner::File(owner(f)?),
                };
                if r.start >= r.end {
                    return Err(inconsistent("an empty lock"));
                }
                Ok(RecordLock { owner, write: r.write, start: r.start, end: r.end })
            })
            .collect::<Result<Vec<_>, RestoreError>>()?;
        LOCKS.restore(key, &flocks, &records).map_err(|_| inconsistent("too many locks"))?;
    }
    Ok(())
}

/// A due timer with an interval stays armed (it fires at once).
fn when((left, interval): (u64, u64)) -> (Duration, Duration) {
    let interval = Duration::from_nanos(interval);
    let left = if left == 0 && !interval.is_zero() { Duration::from_nanos(1) } else { Duration::from_nanos(left) };
    (left, interval)
}

/// Arms a restored timer on a CPU-time clock, once the process table is
/// free (arming reads the clock, which looks the process up).
type DeferredArm = Box<dyn FnOnce()>;

/// A process's interval and POSIX timers, armed for the time they had
/// left: those on wall clocks now, those on CPU-time clocks by `deferred`.
fn restore_timers(
    kernel: &Arc<Kernel>,
    tg: &Arc<ThreadGroup>,
    p: &ProcessImage,
    deferred: &mut Vec<DeferredArm>,
) -> Result<(), RestoreError> {
    use crate::kernel::timer::{CpuClock, Notify, PosixTimer, RealTimer, SigEvent, TimerOwner, MAX_POSIX_TIMERS};
    use abi::flags::signal::{SIGALRM, SIGPROF, SIGVTALRM};
    let owner = || TimerOwner::new(Arc::downgrade(kernel), Arc::downgrade(tg), p.pid);
    if let Some(real) = p.itimer_real {
        // ITIMER_REAL is the first of the three.
        let slot = &tg.itimers[0];
        let t = slot.get_or_init(|| Arc::new(RealTimer::new(owner(), SIGALRM)));
        let (left, interval) = when(real);
        t.set(&kernel.timers, left, interval);
    }
    // ITIMER_VIRTUAL (user time only, SIGVTALRM) and ITIMER_PROF.
    for (i, (setting, user_only, signo)) in
        [(p.itimer_cpu[0], true, SIGVTALRM), (p.itimer_cpu[1], false, SIGPROF)].into_iter().enumerate()
    {
        let Some(setting) = setting else { continue };
        let clock = CpuClock::Process { pid: p.pid, user_only };
        let t = tg.itimers[i + 1].get_or_init(|| Arc::new(RealTimer::new(owner().on_cpu_clock(clock), signo))).clone();
        let (left, interval) = when(setting);
        let kernel = kernel.clone();
        deferred.push(Box::new(move || {
            t.set(&kernel.timers, left, interval);
        }));
    }
    // RLIMIT_CPU (its soft limit as raised so far is in the limits).
    {
        let (kernel, tg, pid) = (kernel.clone(), tg.clone(), p.pid);
        deferred.push(Box::new(move || crate::kernel::timer::watch_cpu_limit(&kernel, &tg, pid)));
    }
    let (list, next_id) = &p.posix_timers;
    if list.len() > MAX_POSIX_TIMERS {
        return Err(inconsistent("too many POSIX timers"));
    }
    let mut timers = tg.posix_timers.lock().unwrap_or_else(|e| e.into_inner());
    timers.set_next_id(*next_id);
    let mut ids = std::collections::HashSet::new();
    for t in list {
        use abi::flags::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME};
        let notify = match t.notify {
            (0, _) => Notify::None,
            (1, _) => Notify::Process,
            (2, tid) => Notify::Thread(tid),
            _ => return Err(inconsistent("a POSIX timer's notification")),
        };
        let wall = [CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME].contains(&t.clock);
        let cpu = t.cpu.is_some() || t.thread_cpu.is_some();
        let thread_here = t.thread_cpu.is_none_or(|tid| tid == 0 || p.threads.iter().any(|th| th.tid == tid));
        if t.id < 0
            || wall == cpu
            || (t.cpu.is_some() && t.thread_cpu.is_some())
            || !thread_here
            || t.signo > crate::kernel::signal::NSIG
            || !ids.insert(t.id)
        {
            return Err(inconsistent(format!("POSIX timer {}", t.id)));
        }
        let event = SigEvent { notify, signo: t.signo, value: t.value };
        if let Some(tid) = t.thread_cpu {
            // Its clock is a thread's, whose handle exists once the process
            // table is built: made, kept and armed then.
            let (kernel, tg, owner, id, clock) = (kernel.clone(), tg.clone(), owner(), t.id, t.clock);
            let (left, interval) = when(t.when);
            deferred.push(Box::new(move || {
                let handle = kernel.procs().threads.get(&tid).map(Arc::downgrade).unwrap_or_default();
                let timer = Arc::new(PosixTimer::new(owner.on_cpu_clock(CpuClock::Thread(handle)), id, clock, event));
                if !left.is_zero() {
                    timer.set(&kernel.timers, (left, interval, Duration::ZERO));
                }
                tg.posix_timers.lock().unwrap_or_else(|e| e.into_inner()).insert(timer);
            }));
            continue;
        }
        let timer_owner = match t.cpu {
            Some((pid, user_only)) => owner().on_cpu_clock(CpuClock::Process { pid, user_only }),
            None => owner(),
        };
        let timer = Arc::new(PosixTimer::new(timer_owner, t.id, t.clock, event));
        let (left, interval) = when(t.when);
        if !left.is_zero() {
            if t.cpu.is_some() {
                let (timer, kernel) = (timer.clone(), kernel.clone());
                deferred.push(Box::new(move || {
                    timer.set(&kernel.timers, (left, interval, Duration::ZERO));
                }));
            } else {
                timer.set(&kernel.timers, (left, interval, Duration::ZERO));
            }
        }
        timers.insert(timer);
    }
    Ok(())
}

/// A host file's cache made again from its pages (checked to lie in the
/// memory file), the file opened again by its path (for writing, if
/// writeback went on) and checked unchanged.
fn restore_host_cache(
    kernel: &Kernel,
    opener: &Opener,
    c: &HostCacheImage,
) -> Result<Arc<crate::vfs::hostcache::HostCache>, RestoreError> {
    use abi::flags::open::{O_RDONLY, O_RDWR};
    let d = opener.find(&c.file, true)?;
    let reopen = |errno| RestoreError::Reopen { path: String::from_utf8_lossy(&c.file.path).into_owned(), errno };
    if !matches!(d.node(), crate::vfs::Node::Host(_)) {
        return Err(reopen(Errno::ENODEV));
    }
    let fd = crate::vfs::hostfs::open(&d, if c.writer { O_RDWR } else { O_RDONLY }).map_err(reopen)?;
    let a = crate::sys::fstat(std::os::fd::AsRawFd::as_raw_fd(&fd)).map_err(reopen)?;
    let state =
        crate::vfs::hostcache::CacheState { name: Some(d), size: c.size, pages: c.pages.clone(), writer: c.writer };
    crate::vfs::hostcache::restore((a.dev, a.ino), Arc::new(fd), state, &kernel.memfile)
        .map_err(|_| inconsistent("a host file's cache, twice or malformed"))
}

/// The cache of a file of an overlay on disk (its pages checked to lie in
/// the memory file), made again over the file the restore made from the
/// image.
fn restore_disk_cache(
    mem_inodes: &[HashMap<usize, Arc<crate::vfs::tmpfs::Inode>>],
    (fs, inode): (usize, usize),
    c: &HostCacheImage,
) -> Result<Arc<crate::vfs::hostcache::HostCache>, RestoreError> {
    let inode = mem_inodes.get(fs).and_then(|m| m.get(&inode));
    let data = inode.and_then(|i| i.disk_data()).ok_or_else(|| inconsistent("a cache of a file on disk"))?;
    let state =
        crate::vfs::hostcache::CacheState { name: None, size: c.size, pages: c.pages.clone(), writer: c.writer };
    data.restore_cache(state).map_err(|_| inconsistent("a cache of a file on disk, twice or malformed"))
}

/// The host fd a private mapping of `d` copies from, as mmap gets it.
fn mappable_fd(kernel: &Kernel, d: &Arc<Dentry>) -> Result<Arc<OwnedFd>, Errno> {
    use crate::vfs::Node;
    let fd = match d.node() {
        Node::Gofer { fid, .. } => {
            let gofer = kernel.vfs.gofer().ok_or(Errno::EIO)?;
            gofer.open(*fid, abi::flags::open::O_RDONLY).map_err(crate::vfs::gofer_errno)?
        }
        Node::Host(_) => crate::vfs::hostfs::open(d, abi::flags::open::O_RDONLY)?,
        // A file of an overlay on disk.
        _ => match d.inode().and_then(|i| i.disk_data()) {
            Some(data) => data.reopen()?,
            None => return Err(Errno::ENODEV),
        },
    };
    Ok(Arc::new(fd))
}
