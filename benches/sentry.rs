//! Costs of the Sentry's internals, measured in this process with no app and
//! no platform round trip (`benches/syscall.rs` measures the round trips).
//!
//! - `dispatch/getpid`, `dispatch/enosys`: one `syscalls::dispatch` of a
//!   task whose registers stopped at getpid (a trivial handler) or at a
//!   number with no row in the table. The task is built from the kernel's
//!   public parts over a ptrace platform that never makes a stub.
//! - `vma_lookup/<n>`: `MemoryManager::translate` (the VMA lookup behind
//!   futexes and copies) of an address in a memory manager of n one-page
//!   VMAs, cycling through addresses spread over all of them.
//! - `path_walk/gofer`, `path_walk/tmpfs`: `Vfs::resolve` of a four-component
//!   path a second time, every component a dentry-cache hit: the rootfs path
//!   through a real Gofer serving a temporary directory, and the tmpfs path
//!   across the mount at /tmp.
//! - `copy_in/<size>`, `copy_out/<size>`: `MemoryManager::copy_in` and
//!   `copy_out` between a Sentry buffer and app memory (through the Sentry's
//!   own mapping of the memory file); `cross_vma` is 4 KiB straddling two
//!   VMAs backed by separate memory-file runs.
//!
//! Every benchmark first checks, outside the timed loop, that what it times
//! does its job, so a broken one fails instead of measuring nothing.
//!
//! Run with `cargo bench --bench sentry` (about a minute and a half). The
//! medians are recorded in docs/benchmarks.md.

use std::hint::black_box;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use abi::flags::mm::{MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use abi::{Errno, PAGE_SIZE};
use sentry::kernel::fd_table::FdTable;
use sentry::kernel::process::{Credentials, ThreadGroup};
use sentry::kernel::signal::SigHandlers;
use sentry::kernel::task::{default_rlimits, FsContext, Task, TaskHandle, TaskParts};
use sentry::kernel::Kernel;
use sentry::mm::{MemoryFile, MemoryManager, MmapRequest};
use sentry::syscalls::{self, table};
use sentry::vfs::tmpfs::{self, FsKind, MemFs, NewKind};
use sentry::vfs::{Dentry, Follow, Vfs};

/// Virtual size of each benchmark's memory file (sparse).
const MEMORY_FILE_SIZE: u64 = 1 << 32;
/// The app range of the benchmarks' memory managers (the ptrace
/// platform's bounds on x86_64).
const MIN_ADDR: u64 = 0x1_0000;
const MAX_ADDR: u64 = 0x7fff_0000_0000;
/// Where the benchmarks map app memory.
const APP_BASE: u64 = 0x1000_0000;

/// A short warm-up and measurement, so the whole file runs in about a minute
/// and a half; the loops are short and steady, so 100 samples of 3 s give
/// medians that vary less than the host does.
fn configure<M: criterion::measurement::Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
}

fn memory_file() -> Arc<MemoryFile> {
    Arc::new(MemoryFile::new(MEMORY_FILE_SIZE).expect("memory file"))
}

/// Maps `len` bytes of anonymous read-write memory at `addr`.
fn map_anon(mm: &mut MemoryManager, addr: u64, len: u64) {
    let req = MmapRequest {
        addr,
        len,
        prot: PROT_READ | PROT_WRITE,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
        file: None,
    };
    assert_eq!(mm.mmap(req), Ok(addr));
}

/// A task of pid 7 with an empty address space and no stub: its platform
/// (ptrace) makes stubs only when a task first runs app code, which these
/// benchmarks never do.
fn bare_task() -> Task {
    let mf = memory_file();
    let platform = platform::ptrace::PtracePlatform::new(mf.fd()).expect("ptrace platform");
    let vfs = Vfs::with_root(MemFs::new(FsKind::Tmpfs, mf.clone()).new_root(0o755, 0, 0));
    let root = vfs.root().clone();
    let kernel = Arc::new(Kernel::new(Box::new(platform), mf.clone(), vfs, "bench".into(), false));
    let mm = MemoryManager::new(mf, MIN_ADDR, MAX_ADDR);
    let tg = ThreadGroup::new(7, SigHandlers::default(), Credentials::new(0, 0), default_rlimits());
    let parts = TaskParts {
        handle: TaskHandle::new(7, tg, 0),
        pid: 7,
        mm: Arc::new(Mutex::new(mm)),
        fds: Arc::new(Mutex::new(FdTable::default())),
        fs: Arc::new(Mutex::new(FsContext { root: root.clone(), cwd: root, umask: 0o022 })),
        regs: platform::Regs::default(),
        sigmask: 0,
    };
    Task::new(kernel, parts)
}

/// The registers of a stop at syscall `nr` with no arguments.
fn syscall_stop(nr: u64) -> platform::Regs {
    #[cfg(target_arch = "x86_64")]
    return platform::Regs { orig_rax: nr, rax: u64::MAX, ..Default::default() };
    #[cfg(target_arch = "aarch64")]
    return platform::Regs { syscallno: nr, ..Default::default() };
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    configure(&mut g);
    // A number inside the table with no row: the common ENOSYS case, an app
    // probing for a newer syscall.
    let unimplemented = abi::nr::NFSSERVCTL;
    assert!(table::handler(unimplemented).is_none(), "nfsservctl has a handler now; pick another number");
    let enosys = Errno::ENOSYS.as_return();
    for (name, nr, expect) in [("getpid", abi::nr::GETPID, 7), ("enosys", unimplemented, enosys)] {
        let mut task = bare_task();
        // dispatch reads the number (orig_rax, or arm64's syscallno) and
        // writes only the return register, so the same stop can be
        // dispatched again and again.
        task.regs = syscall_stop(nr);
        syscalls::dispatch(&mut task);
        assert_eq!(task.regs.return_value(), expect, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| {
                syscalls::dispatch(&mut task);
                black_box(task.regs.return_value())
            })
        });
    }
    g.finish();
}

/// Where each benchmark VMA starts: every other page, so that no two are
/// adjacent.
fn vma_start(i: u64) -> u64 {
    APP_BASE + i * 2 * PAGE_SIZE
}

fn vma_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("vma_lookup");
    configure(&mut g);
    for n in [10u64, 1000, 10_000] {
        let mut mm = MemoryManager::new(memory_file(), MIN_ADDR, MAX_ADDR);
        for i in 0..n {
            map_anon(&mut mm, vma_start(i), PAGE_SIZE);
        }
        assert_eq!(mm.vmas().count() as u64, n);
        // 4096 addresses spread over every VMA in a scrambled order (an LCG),
        // at scrambled offsets inside the page, so that the lookups do not
        // walk the tree in order.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let addrs: Vec<u64> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                vma_start((x >> 33) % n) + (x >> 7) % PAGE_SIZE
            })
            .collect();
        // Each lookup must land in the VMA the address is in, at the right
        // offset of its memory-file run.
        let runs: std::collections::BTreeMap<u64, (u64, u64)> =
            mm.vmas().map(|(start, v)| (start, (v.end, v.mem_off))).collect();
        for &a in &addrs {
            let (&start, &(end, mem_off)) = runs.range(..=a).next_back().expect("a VMA below");
            assert!(a < end);
            assert_eq!(mm.translate(a), Some(mem_off + (a - start)), "{a:#x}");
        }
        assert_eq!(mm.translate(vma_start(0) + PAGE_SIZE), None, "the gap between VMAs");
        let mut i = 0usize;
        g.bench_function(n.to_string(), |b| {
            b.iter(|| {
                let a = addrs[i % addrs.len()];
                i += 1;
                mm.translate(black_box(a))
            })
        });
    }
    g.finish();
}

/// The path both walks resolve, below the rootfs and below /tmp.
const DEEP: &str = "lib/x86_64-linux-gnu/libc.so.6";

fn path_walk(c: &mut Criterion) {
    let mut g = c.benchmark_group("path_walk");
    configure(&mut g);
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs");
    let host_file = rootfs.join("usr").join(DEEP);
    std::fs::create_dir_all(host_file.parent().unwrap()).unwrap();
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    std::fs::write(&host_file, b"not really libc").unwrap();
    let host_ino = std::fs::metadata(&host_file).unwrap().ino();

    let (sentry_end, gofer_end) = gofer::socketpair().expect("socketpair");
    let served = rootfs.clone();
    let server = std::thread::spawn(move || gofer::serve(&served, gofer_end));
    let vfs = Vfs::new(Arc::new(gofer::GoferClient::new(sentry_end)), None).expect("attach to the gofer");
    let mf = memory_file();
    vfs.mount_at(b"/tmp", MemFs::new(FsKind::Tmpfs, mf).new_root(0o1777, 0, 0)).expect("mount /tmp");
    let root = vfs.root().clone();
    let resolve = |path: &[u8]| vfs.resolve(&root, &root, path, Follow::Yes);

    // The rootfs file: the first walk goes to the Gofer and must find the
    // host's file.
    let gofer_path = format!("/usr/{DEEP}");
    let first = resolve(gofer_path.as_bytes()).expect("first walk");
    assert!(first.is_regular());
    assert_eq!(first.attr().ino, host_ino);
    // With the host file gone, only the cache can still resolve the path: a
    // walk that went to the Gofer would fail with ENOENT.
    std::fs::remove_dir_all(rootfs.join("usr")).unwrap();
    assert!(Arc::ptr_eq(&resolve(gofer_path.as_bytes()).expect("cached walk"), &first));

    // The tmpfs file, made through the tmpfs's own operations.
    let creds = Credentials::new(0, 0);
    let mut d: Arc<Dentry> = resolve(b"/tmp").expect("/tmp");
    for name in ["lib", "x86_64-linux-gnu"] {
        d = tmpfs::mkdir(&d, name.as_bytes(), 0o755, &creds).expect("mkdir");
    }
    let made = tmpfs::create(&d, b"libc.so.6", NewKind::Regular, 0o644, &creds).expect("create");
    let tmpfs_path = format!("/tmp/{DEEP}");
    assert!(Arc::ptr_eq(&resolve(tmpfs_path.as_bytes()).expect("tmpfs walk"), &made));

    for (name, path, want) in [("gofer", gofer_path, first), ("tmpfs", tmpfs_path, made)] {
        assert!(Arc::ptr_eq(&resolve(path.as_bytes()).unwrap(), &want));
        g.bench_function(name, |b| b.iter(|| resolve(black_box(path.as_bytes()))));
    }
    g.finish();
    drop(root);
    drop(vfs);
    // The Gofer ends when its socket closes; it must not have failed.
    server.join().expect("gofer thread").expect("gofer serve");
}

fn copy(c: &mut Criterion) {
    // One region big enough for the largest copy, and for the cross-VMA copy
    // two adjacent VMAs whose memory-file runs are not contiguous (a spacer
    // mapping takes the pages in between).
    const BIG: u64 = 2 << 20;
    const HALF: u64 = 64 << 10;
    let mut mm = MemoryManager::new(memory_file(), MIN_ADDR, MAX_ADDR);
    map_anon(&mut mm, APP_BASE, BIG);
    let left = APP_BASE + 2 * BIG;
    let right = left + HALF;
    map_anon(&mut mm, left, HALF);
    map_anon(&mut mm, APP_BASE + 4 * BIG, HALF);
    map_anon(&mut mm, right, HALF);
    assert_ne!(mm.translate(right - 1).map(|o| o + 1), mm.translate(right), "the two runs are contiguous");
    assert!(mm.vmas().any(|(s, v)| s == left && v.end == right));

    // Odd addresses, as app buffers are; the cross copy puts half on each side.
    let cases: [(&str, u64, usize); 4] = [
        ("8", APP_BASE + 8, 8),
        ("4096", APP_BASE + 123, 4096),
        ("1048576", APP_BASE + 123, 1 << 20),
        ("cross_vma", right - 2048, 4096),
    ];
    for (name, addr, len) in cases {
        let src: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let mut back = vec![0u8; len];
        mm.copy_out(addr, &src).expect("copy_out");
        mm.copy_in(addr, &mut back).expect("copy_in");
        assert!(back == src, "{name}: the round trip changed the bytes");
    }

    for dir in ["copy_in", "copy_out"] {
        let mut g = c.benchmark_group(dir);
        configure(&mut g);
        for (name, addr, len) in cases {
            let mut buf = vec![0u8; len];
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_function(name, |b| {
                if dir == "copy_in" {
                    b.iter(|| mm.copy_in(black_box(addr), &mut buf))
                } else {
                    b.iter(|| mm.copy_out(black_box(addr), &buf))
                }
            });
        }
        g.finish();
    }
}

criterion_group!(benches, dispatch, vma_lookup, path_walk, copy);
criterion_main!(benches);
