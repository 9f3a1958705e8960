//! Namespaces inside the sandbox: time, UTS and IPC namespaces of the
//! Sentry's own, which processes make with unshare(2) and clone3(2), see as
//! /proc/PID/ns links, and join with setns(2). They are never the host's:
//! nothing on the host changes when the app makes one (docs/security.md).
//!
//! A process's namespaces are its thread group's [`NsSet`] (Linux keeps
//! them per thread, in the `nsproxy`; here all of a process's threads
//! share one set). `None` in a set stands for the sandbox's own, first
//! namespace of that kind: the kernel's host and domain names and System V
//! and POSIX message queue tables, the host's clocks unshifted. (The
//! sandbox's /dev/mqueue mount shows the first IPC namespace's queues.)
//!
//! A time namespace shifts CLOCK_MONOTONIC (its _RAW and _COARSE forms)
//! and CLOCK_BOOTTIME (and the uptime) by its offsets, which
//! /proc/PID/timens_offsets sets until a process first enters it.
//! unshare(CLONE_NEWTIME) changes only `time_for_children`: the caller
//! stays where it is, and its next fork child enters the new namespace
//! (Linux's timens_on_fork). A process outside the first time namespace
//! reads its clocks by syscall: its vDSO parameter page is one that never
//! says it is ready ([`crate::kernel::vdso::Vdso::set_timens`]), as
//! Linux gives such a process its timens vvar page.
//!
//! How many namespaces of each kind may exist at once is bounded, as
//! Linux's /proc/sys/user/max_*_namespaces bound them (ENOSPC past it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abi::Errno;

use crate::mm::SysResult;

/// The kinds of namespace, as /proc/PID/ns names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NsKind {
    Cgroup,
    Ipc,
    Mnt,
    Net,
    Pid,
    Time,
    User,
    Uts,
}

impl NsKind {
    /// Every kind, in /proc/PID/ns's order.
    pub const ALL: [NsKind; 8] =
        [NsKind::Cgroup, NsKind::Ipc, NsKind::Mnt, NsKind::Net, NsKind::Pid, NsKind::Time, NsKind::User, NsKind::Uts];

    /// The name in a link's text (`time:[4026531834]`).
    pub fn name(self) -> &'static str {
        match self {
            NsKind::Cgroup => "cgroup",
            NsKind::Ipc => "ipc",
            NsKind::Mnt => "mnt",
            NsKind::Net => "net",
            NsKind::Pid => "pid",
            NsKind::Time => "time",
            NsKind::User => "user",
            NsKind::Uts => "uts",
        }
    }

    /// Its CLONE_NEW* flag (what setns's `nstype` and NS_GET_NSTYPE say).
    pub fn clone_flag(self) -> u64 {
        use crate::kernel::task::clone::flags::*;
        match self {
            NsKind::Cgroup => CLONE_NEWCGROUP,
            NsKind::Ipc => CLONE_NEWIPC,
            NsKind::Mnt => CLONE_NEWNS,
            NsKind::Net => CLONE_NEWNET,
            NsKind::Pid => CLONE_NEWPID,
            NsKind::Time => CLONE_NEWTIME,
            NsKind::User => CLONE_NEWUSER,
            NsKind::Uts => CLONE_NEWUTS,
        }
    }

    /// The inode number of the sandbox's first namespace of this kind
    /// (Linux's PROC_*_INIT_INO; the mount and network namespaces',
    /// which Linux allocates at boot, as a fresh boot numbers them).
    pub fn init_ino(self) -> u64 {
        match self {
            NsKind::Ipc => 0xEFFF_FFFF,
            NsKind::Uts => 0xEFFF_FFFE,
            NsKind::User => 0xEFFF_FFFD,
            NsKind::Pid => 0xEFFF_FFFC,
            NsKind::Cgroup => 0xEFFF_FFFB,
            NsKind::Time => 0xEFFF_FFFA,
            NsKind::Net => 0xF000_0000,
            NsKind::Mnt => 0xF000_0001,
        }
    }

    /// The kinds this sandbox makes new namespaces of.
    fn counted(self) -> Option<usize> {
        match self {
            NsKind::Time => Some(0),
            NsKind::Uts => Some(1),
            NsKind::Ipc => Some(2),
            _ => None,
        }
    }
}

/// The kinds [`NsRegistry`] counts: time, UTS, IPC.
const COUNTED: usize = 3;

/// Linux's default for each /proc/sys/user/max_*_namespaces: half of
/// the threads the kernel allows, which for the sandbox's default task
/// limit is this.
pub const DEFAULT_MAX_NAMESPACES: u64 = 31_500;

/// The first inode number a new namespace gets (Linux's dynamic proc
/// inode numbers start at 0xF0000000; the first few go at boot).
const FIRST_DYNAMIC_INO: u64 = 0xF000_0100;

/// The sandbox's namespaces: how many of each kind exist, their bounds,
/// and the inode numbers new ones get.
pub struct NsRegistry {
    counts: [Arc<AtomicU64>; COUNTED],
    max: [AtomicU64; COUNTED],
    next_ino: AtomicU64,
}

impl Default for NsRegistry {
    fn default() -> Self {
        NsRegistry {
            counts: Default::default(),
            max: std::array::from_fn(|_| AtomicU64::new(DEFAULT_MAX_NAMESPACES)),
            next_ino: AtomicU64::new(FIRST_DYNAMIC_INO),
        }
    }
}

/// A namespace's hold on its kind's count, given back when it goes.
pub struct NsCount(Arc<AtomicU64>);

impl Drop for NsCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl NsRegistry {
    /// /proc/sys/user/max_`kind`_namespaces (0 for a kind never made here).
    pub fn max(&self, kind: NsKind) -> u64 {
        kind.counted().map_or(0, |i| self.max[i].load(Ordering::Relaxed))
    }

    /// Sets /proc/sys/user/max_`kind`_namespaces: EINVAL outside
    /// [0, INT_MAX], as proc_dointvec_minmax.
    pub fn set_max(&self, kind: NsKind, value: i64) -> SysResult<()> {
        let i = kind.counted().ok_or(Errno::EINVAL)?;
        let v = u64::try_from(value).ok().filter(|&v| v <= i32::MAX as u64).ok_or(Errno::EINVAL)?;
        self.max[i].store(v, Ordering::Relaxed);
        Ok(())
    }

    /// Room for one more namespace of `kind` (ENOSPC past its bound), and
    /// an inode number for it (`ino`: a restored one's own).
    fn admit(&self, kind: NsKind, ino: Option<u64>) -> SysResult<(NsCount, u64)> {
        let i = kind.counted().ok_or(Errno::EINVAL)?;
        let max = self.max[i].load(Ordering::Relaxed);
        self.counts[i]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1))
            .map_err(|_| Errno::ENOSPC)?;
        let ino = match ino {
            Some(ino) => {
                self.next_ino.fetch_max(ino.saturating_add(1), Ordering::Relaxed);
                ino
            }
            None => self.next_ino.fetch_add(1, Ordering::Relaxed),
        };
        Ok((NsCount(self.counts[i].clone()), ino))
    }

    /// How many of `kind` exist now (besides the sandbox's first).
    pub fn count(&self, kind: NsKind) -> u64 {
        kind.counted().map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }
}

/// A time namespace's offsets, each as written: seconds (signed) and
/// nanoseconds (below a second).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimeOffsets {
    pub monotonic: (i64, i64),
    pub boottime: (i64, i64),
}

impl TimeOffsets {
    fn ns((s, ns): (i64, i64)) -> i128 {
        i128::from(s) * 1_000_000_000 + i128::from(ns)
    }

    /// CLOCK_MONOTONIC's offset in nanoseconds.
    pub fn monotonic_ns(&self) -> i128 {
        Self::ns(self.monotonic)
    }

    /// CLOCK_BOOTTIME's offset in nanoseconds.
    pub fn boottime_ns(&self) -> i128 {
        Self::ns(self.boottime)
    }
}

/// A time namespace other than the sandbox's first.
pub struct TimeNs {
    /// Its inode number.
    pub ino: u64,
    offsets: Mutex<TimeOffsets>,
    /// A process has entered it: its offsets no longer change (EACCES).
    frozen: AtomicBool,
    _count: NsCount,
}

impl TimeNs {
    /// A new time namespace with `offsets` (a copy of its maker's), or a
    /// restored one with its own inode number and state.
    pub fn new(reg: &NsRegistry, offsets: TimeOffsets, frozen: bool, ino: Option<u64>) -> SysResult<Arc<TimeNs>> {
        let (count, ino) = reg.admit(NsKind::Time, ino)?;
        Ok(Arc::new(TimeNs { ino, offsets: Mutex::new(offsets), frozen: AtomicBool::new(frozen), _count: count }))
    }

    /// Its offsets.
    pub fn offsets(&self) -> TimeOffsets {
        *self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a process has entered it.
    pub fn frozen(&self) -> bool {
        self.frozen.load(Ordering::Relaxed)
    }

    /// A process enters it: the offsets are fixed from now on.
    pub fn freeze(&self) {
        let _held = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        self.frozen.store(true, Ordering::Relaxed);
    }

    /// Sets the offsets of `clocks` (CLOCK_MONOTONIC or CLOCK_BOOTTIME,
    /// each with its new value), as Linux's proc_timens_set_offset (see
    /// [`check_offsets`]): EACCES once a process has entered.
    pub fn set_offsets(&self, clocks: &[(u32, (i64, i64))]) -> SysResult<()> {
        use abi::flags::clock::CLOCK_BOOTTIME;
        check_offsets(clocks)?;
        let mut o = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        if self.frozen.load(Ordering::Relaxed) {
            return Err(Errno::EACCES);
        }
        for &(clock, v) in clocks {
            if clock == CLOCK_BOOTTIME {
                o.boottime = v;
            } else {
                o.monotonic = v;
            }
        }
        Ok(())
    }
}

/// Checks new offsets for `clocks` as Linux's proc_timens_set_offset
/// does before it looks at the namespace: ERANGE for an offset past the
/// clock's range or one that takes the clock below zero, EINVAL for a
/// clock other than CLOCK_MONOTONIC and CLOCK_BOOTTIME. (The sandbox's
/// first time namespace takes none: EACCES after these checks, its
/// offsets being fixed.)
pub fn check_offsets(clocks: &[(u32, (i64, i64))]) -> SysResult<()> {
    use abi::flags::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC};
    /// KTIME_SEC_MAX.
    const SEC_MAX: i64 = i64::MAX / 1_000_000_000;
    for &(clock, (s, ns)) in clocks {
        let now = match clock {
            CLOCK_MONOTONIC | CLOCK_BOOTTIME => crate::sys::clock_gettime(clock)?,
            _ => return Err(Errno::EINVAL),
        };
        if !(-SEC_MAX..=SEC_MAX).contains(&s) {
            return Err(Errno::ERANGE);
        }
        let total =
            i128::from(now.0) * 1_000_000_000 + i128::from(now.1) + i128::from(s) * 1_000_000_000 + i128::from(ns);
        if total < 0 || total / 1_000_000_000 > i128::from(SEC_MAX / 2) {
            return Err(Errno::ERANGE);
        }
    }
    Ok(())
}

/// A UTS namespace other than the sandbox's first.
pub struct UtsNs {
    /// Its inode number.
    pub ino: u64,
    /// Its host and domain names.
    pub names: Mutex<crate::kernel::UtsNames>,
    _count: NsCount,
}

impl UtsNs {
    /// A new UTS namespace with `names` (a copy of its maker's), or a
    /// restored one with its own inode number.
    pub fn new(reg: &NsRegistry, names: crate::kernel::UtsNames, ino: Option<u64>) -> SysResult<Arc<UtsNs>> {
        let (count, ino) = reg.admit(NsKind::Uts, ino)?;
        Ok(Arc::new(UtsNs { ino, names: Mutex::new(names), _count: count }))
    }
}

/// An IPC namespace other than the sandbox's first: its own System V
/// objects and POSIX message queues.
pub struct IpcNs {
    /// Its inode number.
    pub ino: u64,
    /// Its tables.
    pub ipc: crate::kernel::ipc::IpcNamespace,
    _count: NsCount,
}

impl IpcNs {
    /// A new, empty IPC namespace whose segments live in `memfile`, or a
    /// restored one (to be filled) with its own inode number.
    pub fn new(reg: &NsRegistry, memfile: Arc<crate::mm::MemoryFile>, ino: Option<u64>) -> SysResult<Arc<IpcNs>> {
        let (count, ino) = reg.admit(NsKind::Ipc, ino)?;
        Ok(Arc::new(IpcNs { ino, ipc: crate::kernel::ipc::IpcNamespace::new(memfile), _count: count }))
    }
}

/// The IPC namespace a process is in: the sandbox's first (the kernel's)
/// or another; derefs to its tables.
pub enum IpcRef {
    Init(Arc<crate::kernel::Kernel>),
    Other(Arc<IpcNs>),
}

impl std::ops::Deref for IpcRef {
    type Target = crate::kernel::ipc::IpcNamespace;

    fn deref(&self) -> &Self::Target {
        match self {
            IpcRef::Init(k) => &k.ipc,
            IpcRef::Other(n) => &n.ipc,
        }
    }
}

/// The IPC namespace process `tg` is in.
pub fn ipc_of(kernel: &Arc<crate::kernel::Kernel>, tg: &crate::kernel::process::ThreadGroup) -> IpcRef {
    match tg.ns.lock().unwrap_or_else(|e| e.into_inner()).ipc.clone() {
        Some(n) => IpcRef::Other(n),
        None => IpcRef::Init(kernel.clone()),
    }
}

/// One namespace, as a /proc/PID/ns link or an open namespace file stands
/// for it.
#[derive(Clone)]
pub enum NsRef {
    /// The sandbox's first namespace of a kind (every kind has one).
    Init(NsKind),
    Time(Arc<TimeNs>),
    Uts(Arc<UtsNs>),
    Ipc(Arc<IpcNs>),
}

impl NsRef {
    /// Its kind.
    pub fn kind(&self) -> NsKind {
        match self {
            NsRef::Init(k) => *k,
            NsRef::Time(_) => NsKind::Time,
            NsRef::Uts(_) => NsKind::Uts,
            NsRef::Ipc(_) => NsKind::Ipc,
        }
    }

    /// Its inode number.
    pub fn ino(&self) -> u64 {
        match self {
            NsRef::Init(k) => k.init_ino(),
            NsRef::Time(t) => t.ino,
            NsRef::Uts(u) => u.ino,
            NsRef::Ipc(i) => i.ino,
        }
    }

    /// The link's text: `time:[4026531834]`.
    pub fn link_text(&self) -> Vec<u8> {
        format!("{}:[{}]", self.kind().name(), self.ino()).into_bytes()
    }
}

/// A process's namespaces (`None`: the sandbox's first of that kind).
#[derive(Clone, Default)]
pub struct NsSet {
    pub uts: Option<Arc<UtsNs>>,
    pub ipc: Option<Arc<IpcNs>>,
    /// The time namespace the process is in.
    pub time: Option<Arc<TimeNs>>,
    /// The one its fork children enter (unshare(CLONE_NEWTIME) changes
    /// this one only).
    pub time_for_children: Option<Arc<TimeNs>>,
}

fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

impl NsSet {
    /// The namespace of `kind` (for /proc/PID/ns/`kind`);
    /// `for_children`: time_for_children (or pid_for_children, which is
    /// the sandbox's first).
    pub fn get(&self, kind: NsKind, for_children: bool) -> NsRef {
        let time = if for_children { &self.time_for_children } else { &self.time };
        match kind {
            NsKind::Time => time.clone().map_or(NsRef::Init(kind), NsRef::Time),
            NsKind::Uts => self.uts.clone().map_or(NsRef::Init(kind), NsRef::Uts),
            NsKind::Ipc => self.ipc.clone().map_or(NsRef::Init(kind), NsRef::Ipc),
            _ => NsRef::Init(kind),
        }
    }

    /// Whether the process's children go to another time namespace than
    /// its own (Linux then refuses CLONE_VM and CLONE_THREAD: EINVAL).
    pub fn time_apart(&self) -> bool {
        !same(&self.time, &self.time_for_children)
    }

    /// The time namespace's offsets (none in the first one).
    pub fn time_offsets(&self) -> Option<TimeOffsets> {
        self.time.as_ref().map(|t| t.offsets())
    }
}

/// The offset a time namespace adds to `clock` (0 for clocks it does not
/// shift), in nanoseconds.
pub fn clock_offset(offsets: Option<TimeOffsets>, clock: u32) -> i128 {
    use abi::flags::clock::*;
    let Some(o) = offsets else { return 0 };
    match clock {
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => o.monotonic_ns(),
        CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => o.boottime_ns(),
        _ => 0,
    }
}

/// `d` (a host clock's reading) as the namespace sees it, as a timespec's
/// (seconds, nanoseconds) with the seconds floored: negative only where
/// an offset takes a clock the sandbox started after the host below zero.
pub fn shifted(d: Duration, offset: i128) -> (i64, i64) {
    let total = d.as_nanos() as i128 + offset;
    let sec = total.div_euclid(1_000_000_000);
    let ns = total.rem_euclid(1_000_000_000);
    (i64::try_from(sec).unwrap_or(if sec < 0 { i64::MIN } else { i64::MAX }), ns as i64)
}

/// An absolute time `t` on a shifted clock, as the host's clock reads it
/// (Linux's timens_ktime_to_host): 0 if before the host's zero.
pub fn to_host(t: Duration, offset: i128) -> Duration {
    let total = t.as_nanos() as i128 - offset;
    if total <= 0 {
        return Duration::ZERO;
    }
    let total = u128::try_from(total).unwrap_or(0);
    Duration::new((total / 1_000_000_000).min(u128::from(u64::MAX)) as u64, (total % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_shift_and_unshift_the_clocks() {
        let o = TimeOffsets { monotonic: (-10, 500), boottime: (3600, 0) };
        assert_eq!(clock_offset(Some(o), abi::flags::clock::CLOCK_MONOTONIC), -9_999_999_500);
        assert_eq!(clock_offset(Some(o), abi::flags::clock::CLOCK_REALTIME), 0);
        assert_eq!(clock_offset(None, abi::flags::clock::CLOCK_BOOTTIME), 0);
        assert_eq!(shifted(Duration::from_secs(2), -2_500_000_000), (-1, 500_000_000));
        assert_eq!(shifted(Duration::from_secs(2), 1), (2, 1));
        assert_eq!(to_host(Duration::from_secs(12), 10_000_000_000), Duration::from_secs(2));
        assert_eq!(to_host(Duration::from_secs(1), 10_000_000_000), Duration::ZERO);
    }

    #[test]
    fn the_bound_is_kept_and_a_namespace_gone_gives_its_room_back() {
        let reg = NsRegistry::default();
        reg.set_max(NsKind::Uts, 1).expect("a bound");
        let names = crate::kernel::UtsNames { hostname: b"a".to_vec(), domainname: b"b".to_vec() };
        let one = UtsNs::new(&reg, names.clone(), None).expect("room for one");
        assert_eq!(UtsNs::new(&reg, names.clone(), None).err(), Some(Errno::ENOSPC));
        drop(one);
        assert!(UtsNs::new(&reg, names, None).is_ok());
        assert_eq!(reg.set_max(NsKind::Uts, -1), Err(Errno::EINVAL));
    }

    #[test]
    fn offsets_freeze_once_entered() {
        use abi::flags::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME};
        let reg = NsRegistry::default();
        let ns = TimeNs::new(&reg, TimeOffsets::default(), false, None).expect("a namespace");
        ns.set_offsets(&[(CLOCK_MONOTONIC, (10, 0)), (CLOCK_BOOTTIME, (-1, 5))]).expect("offsets");
        assert_eq!(ns.offsets(), TimeOffsets { monotonic: (10, 0), boottime: (-1, 5) });
        assert_eq!(ns.set_offsets(&[(CLOCK_REALTIME, (1, 0))]), Err(Errno::EINVAL));
        assert_eq!(ns.set_offsets(&[(CLOCK_MONOTONIC, (i64::MIN / 2, 0))]), Err(Errno::ERANGE));
        ns.freeze();
        assert_eq!(ns.set_offsets(&[(CLOCK_MONOTONIC, (1, 0))]), Err(Errno::EACCES));
    }
}
