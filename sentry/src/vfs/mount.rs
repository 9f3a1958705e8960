//! Mounts made by the app (mount(2), umount2(2)), and the records
//! /proc/mounts and mountinfo list for every mount.
//!
//! Everything here happens in the Sentry's own tree: a new mount is a
//! filesystem that lives entirely in the Sentry (tmpfs, procfs, sysfs,
//! devpts, mqueue, devtmpfs), and a bind mount is one more way into
//! dentries the Sentry already has (for the rootfs and volumes, the same
//! Gofer files, through the same fids). No host mount is ever made.
//!
//! A mount is named by its mount point's dentry and its root's (the mount
//! table of [`Vfs`]); a bind mount's root is the source's very dentry, not
//! a copy, so the bound tree is one tree reached two ways. That has three
//! consequences Linux does not share, for want of a mount object in each
//! path: `..` from a bound directory, and its name in getcwd and
//! /proc/PID/fd, are the source's; mounts beneath the source show through
//! every bind of it, recursive (MS_REC) or not; and the per-mount flags a
//! bind carries (read-only, noexec, nodev, set with MS_REMOUNT|MS_BIND)
//! apply to its source's tree wherever it is reached. For the usual use,
//! a directory bound onto itself and made read-only, the last is Linux's
//! behaviour exactly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use abi::flags::mount::*;
use abi::Errno;
use serde::{Deserialize, Serialize};

use super::{Dentry, Follow, Last, Node, Vfs};
use crate::kernel::process::Credentials;
use crate::kernel::Kernel;
use crate::mm::SysResult;

/// The first mount's id in mountinfo (the root's).
pub const FIRST_ID: usize = 21;
/// The most mounts the sandbox may have (Linux's `fs.mount-max` is
/// 100,000; a sandbox needs far fewer): past it, mount(2) is ENOSPC.
pub const MAX_MOUNTS: usize = 10_000;

/// [`Dentry::mnt_flags`]: the flags were set (the rest are `MS_*` bits).
pub const MNT_SET: u32 = 1 << 31;
/// Per-mount flags, as their `MS_*` bits.
pub const MNT_RDONLY: u32 = MS_RDONLY as u32;
pub const MNT_NOSUID: u32 = MS_NOSUID as u32;
pub const MNT_NODEV: u32 = MS_NODEV as u32;
pub const MNT_NOEXEC: u32 = MS_NOEXEC as u32;
pub const MNT_NOSYMFOLLOW: u32 = MS_NOSYMFOLLOW as u32;
pub const MNT_NOATIME: u32 = MS_NOATIME as u32;
pub const MNT_NODIRATIME: u32 = MS_NODIRATIME as u32;
pub const MNT_RELATIME: u32 = MS_RELATIME as u32;
const MNT_ATIME: u32 = MNT_NOATIME | MNT_NODIRATIME | MNT_RELATIME;
/// Every per-mount flag.
const PER_MOUNT: u32 = MNT_RDONLY | MNT_NOSUID | MNT_NODEV | MNT_NOEXEC | MNT_NOSYMFOLLOW | MNT_ATIME;
/// The per-mount flags the Sentry acts on (nosuid has nothing to act on:
/// the sandbox runs no set-id programs).
const ENFORCED: u32 = MNT_RDONLY | MNT_NODEV | MNT_NOEXEC;
/// The per-mount flags a dentry keeps (for those, and for statfs), when a
/// mount has one of them.
const SHOWN: u32 = ENFORCED | MNT_NOSUID | MNT_NOATIME | MNT_NODIRATIME | MNT_NOSYMFOLLOW;

/// Some dentry carries mount flags: until then no walk up looks for them.
static FLAGGED: AtomicBool = AtomicBool::new(false);

impl Dentry {
    /// The flags, set at run time, of the mount this file is in: those of
    /// the nearest dentry at or above it that carries them (0 if none).
    pub fn mount_flags(&self) -> u32 {
        self.set_mount_flags_here().unwrap_or(0)
    }

    /// [`Dentry::mount_flags`], if any were set at or above it.
    pub fn set_mount_flags_here(&self) -> Option<u32> {
        if !FLAGGED.load(Ordering::Relaxed) {
            return None;
        }
        let f = self.mnt_flags.load(Ordering::Acquire);
        if f & MNT_SET != 0 {
            return Some(f & !MNT_SET);
        }
        let mut cur = self.parent();
        for _ in 0..super::PATH_MAX {
            let Some(d) = cur else { break };
            let f = d.mnt_flags.load(Ordering::Acquire);
            if f & MNT_SET != 0 {
                return Some(f & !MNT_SET);
            }
            cur = d.parent();
        }
        None
    }

    /// Gives the mount rooted here `flags`, where they matter (or where
    /// some were given before).
    fn set_mount_flags(&self, flags: u32) {
        if flags & SHOWN != 0 || self.mnt_flags.load(Ordering::Acquire) & MNT_SET != 0 {
            FLAGGED.store(true, Ordering::Relaxed);
            self.mnt_flags.store(MNT_SET | (flags & PER_MOUNT), Ordering::Release);
        }
    }

    /// Whether the file is on a noexec mount.
    pub fn on_noexec_mount(&self) -> bool {
        self.inode().is_some_and(|i| i.fs.noexec()) || self.mount_flags() & MNT_NOEXEC != 0
    }

    /// Whether the file is on a nodev mount.
    pub fn on_nodev_mount(&self) -> bool {
        self.mount_flags() & MNT_NODEV != 0
    }
}

/// Where a mount came from, for a checkpoint to make it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// Made at boot, from the sandbox's configuration.
    Boot,
    /// A new filesystem made by mount(2), of this type (with a tmpfs's
    /// settings).
    New {
        /// The filesystem type.
        fstype: String,
        /// A tmpfs's settings.
        tmpfs: Option<TmpfsConfig>,
    },
    /// A bind mount.
    Bind,
}

/// A tmpfs's settings, as mount(2) parsed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsConfig {
    /// `size=` (or `nr_blocks=`), in pages (0: no limit); none: the
    /// default, half of memory.
    pub pages: Option<u64>,
    /// `nr_inodes=` (0: no limit); none: no limit.
    pub inodes: Option<u64>,
    /// The root's permissions.
    pub mode: u32,
    /// The root's owner.
    pub uid: u32,
    /// The root's group.
    pub gid: u32,
    /// `inode64` was asked for (shown, as Linux does; the Sentry's inode
    /// numbers are 64-bit anyway).
    pub inode64: bool,
    /// `noswap` (shown; the sandbox's memory is the host's to swap).
    pub noswap: bool,
}

impl Default for TmpfsConfig {
    fn default() -> Self {
        TmpfsConfig { pages: None, inodes: None, mode: 0o1777, uid: 0, gid: 0, inode64: false, noswap: false }
    }
}

impl TmpfsConfig {
    /// The options /proc/mounts shows, as Linux's `shmem_show_options`.
    fn options(&self) -> String {
        let mut o = Vec::new();
        if let Some(p) = self.pages {
            o.push(format!("size={}k", p.saturating_mul(abi::PAGE_SIZE / 1024)));
        }
        if let Some(n) = self.inodes {
            o.push(format!("nr_inodes={n}"));
        }
        if self.mode != 0o1777 {
            o.push(format!("mode={:03o}", self.mode));
        }
        if self.uid != 0 {
            o.push(format!("uid={}", self.uid));
        }
        if self.gid != 0 {
            o.push(format!("gid={}", self.gid));
        }
        if self.inode64 {
            o.push("inode64".into());
        }
        if self.noswap {
            o.push("noswap".into());
        }
        o.join(",")
    }

    /// Applies the limits to `fs`.
    fn apply(&self, fs: &super::tmpfs::MemFs) -> SysResult<()> {
        if let Some(p) = self.pages {
            fs.set_max_pages(if p == 0 { u64::MAX / abi::PAGE_SIZE } else { p })?;
        }
        if let Some(n) = self.inodes {
            fs.set_max_inodes(if n == 0 { u64::MAX } else { n })?;
        }
        Ok(())
    }
}

/// One mount, as /proc/mounts and mountinfo list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// The mount id (mountinfo's first field).
    pub id: usize,
    /// What is mounted ("none", "proc", "tmpfs", ...).
    pub source: String,
    /// Where, as the sandbox sees it.
    pub point: Vec<u8>,
    /// The filesystem type.
    pub fstype: String,
    /// The per-mount flags (`MS_*` bits).
    pub flags: u32,
    /// The filesystem itself is read-only.
    pub sb_ro: bool,
    /// The filesystem's own options.
    pub fs_opts: String,
    /// How it was made.
    pub origin: Origin,
    /// umount2(MNT_EXPIRE) marked it.
    #[serde(skip)]
    expiring: bool,
    /// Its root's dentry id.
    #[serde(skip)]
    root: u64,
    /// Its mount point's dentry id (0 for the sandbox's root).
    #[serde(skip)]
    point_id: u64,
}

impl MountRecord {
    /// A mount made at boot, with its options as /proc/mounts lists them
    /// (`rw` or `ro` first, then the per-mount flags, then the
    /// filesystem's own), its root `root` on `point`.
    pub fn boot(source: &str, point: &[u8], fstype: &str, options: &str, root: &Dentry, at: Option<&Dentry>) -> Self {
        let mut flags = 0;
        let mut sb_ro = false;
        let mut fs_opts = Vec::new();
        for o in options.split(',').filter(|o| !o.is_empty()) {
            match (o, flag_named(o)) {
                ("ro", _) => {
                    flags |= MNT_RDONLY;
                    sb_ro = true;
                }
                ("rw", _) => {}
                (_, Some(f)) => flags |= f,
                (o, None) => fs_opts.push(o),
            }
        }
        MountRecord {
            id: 0,
            source: source.into(),
            point: point.to_vec(),
            fstype: fstype.into(),
            flags,
            sb_ro,
            fs_opts: fs_opts.join(","),
            origin: Origin::Boot,
            expiring: false,
            root: root.id,
            point_id: at.map_or(0, |d| d.id),
        }
    }

    /// The options /proc/mounts lists, as Linux's `show_vfsmnt`.
    pub fn options(&self) -> String {
        let ro = self.flags & MNT_RDONLY != 0 || self.sb_ro;
        let mut o = String::from(if ro { "ro" } else { "rw" });
        o.push_str(&self.mount_options());
        if !self.fs_opts.is_empty() {
            o.push(',');
            o.push_str(&self.fs_opts);
        }
        o
    }

    /// The per-mount flags after `rw` or `ro`, each with its comma, in
    /// Linux's order.
    pub fn mount_options(&self) -> String {
        NAMES.iter().filter(|(f, _)| self.flags & f != 0).map(|(_, n)| format!(",{n}")).collect()
    }

    /// Whether the mount is read-only (mountinfo's per-mount field).
    pub fn mount_readonly(&self) -> bool {
        self.flags & MNT_RDONLY != 0
    }

    /// Its root's dentry id.
    pub fn root_id(&self) -> u64 {
        self.root
    }
}

/// The per-mount flags /proc/mounts names, in Linux's order.
const NAMES: [(u32, &str); 7] = [
    (MNT_NOSUID, "nosuid"),
    (MNT_NODEV, "nodev"),
    (MNT_NOEXEC, "noexec"),
    (MNT_NOATIME, "noatime"),
    (MNT_NODIRATIME, "nodiratime"),
    (MNT_RELATIME, "relatime"),
    (MNT_NOSYMFOLLOW, "nosymfollow"),
];

fn flag_named(name: &str) -> Option<u32> {
    NAMES.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
}

/// The per-mount flags mount(2)'s `flags` ask for, as Linux's
/// `path_mount` computes them; a remount that names no atime flag keeps
/// `old`'s.
pub fn mount_flags_of(ms: u64, remount: bool, old: u32) -> u32 {
    let mut f = 0;
    if ms & MS_NOATIME == 0 {
        f |= MNT_RELATIME;
    }
    for (bit, mnt) in [
        (MS_NOSUID, MNT_NOSUID),
        (MS_NODEV, MNT_NODEV),
        (MS_NOEXEC, MNT_NOEXEC),
        (MS_NOATIME, MNT_NOATIME),
        (MS_NODIRATIME, MNT_NODIRATIME),
        (MS_RDONLY, MNT_RDONLY),
        (MS_NOSYMFOLLOW, MNT_NOSYMFOLLOW),
    ] {
        if ms & bit != 0 {
            f |= mnt;
        }
    }
    if ms & MS_STRICTATIME != 0 {
        f &= !(MNT_RELATIME | MNT_NOATIME);
    }
    if remount && ms & (MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME) == 0 {
        f = (f & !MNT_ATIME) | (old & MNT_ATIME);
    }
    f
}

/// Linux's `memparse`: a number in C's notation (0x hex, leading 0 octal)
/// with an optional K, M, G, T, P or E suffix; returns it and the rest.
fn memparse(s: &str) -> (u64, &str) {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    let mut n = u64::from_str_radix(&digits[..end], radix).unwrap_or(0);
    let mut rest = &digits[end..];
    let shift = match rest.chars().next().map(|c| c.to_ascii_uppercase()) {
        Some('K') => 10,
        Some('M') => 20,
        Some('G') => 30,
        Some('T') => 40,
        Some('P') => 50,
        Some('E') => 60,
        _ => 0,
    };
    if shift != 0 {
        n = n.checked_shl(shift).filter(|v| v >> shift == n).unwrap_or(u64::MAX);
        rest = &rest[1..];
    }
    (n, rest)
}

/// The options of mount(2)'s `data`, as Linux's `generic_parse_monolithic`
/// splits them: `key` or `key=value`, comma-separated, empty ones
/// skipped. The superblock flags among them (`ro`, `rw`, `sync`, ...)
/// change `sb_ro`; the rest are the filesystem's.
fn split_options(data: &[u8], sb_ro: &mut bool) -> SysResult<Vec<(String, Option<String>)>> {
    let text = std::str::from_utf8(data).map_err(|_| Errno::EINVAL)?;
    let mut out = Vec::new();
    for opt in text.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (opt, None),
        };
        match key {
            "ro" => *sb_ro = true,
            "rw" => *sb_ro = false,
            "sync" | "async" | "dirsync" | "lazytime" | "nolazytime" | "mand" | "nomand" | "silent" => {}
            _ => out.push((key.to_string(), value)),
        }
    }
    Ok(out)
}

/// tmpfs's options onto `cfg`, as Linux's `shmem_parse_one`: EINVAL for
/// an unknown option or a bad value.
fn parse_tmpfs(opts: &[(String, Option<String>)], cfg: &mut TmpfsConfig, remount: bool) -> SysResult<()> {
    for (key, value) in opts {
        let v = value.as_deref().ok_or(Errno::EINVAL);
        match key.as_str() {
            "size" => {
                let (mut n, rest) = memparse(v?);
                let rest = if let Some(r) = rest.strip_prefix('%') {
                    let total = crate::sys::host_memory().0;
                    n = ((u128::from(n) * u128::from(total)) / 100).min(u128::from(u64::MAX)) as u64;
                    r
                } else {
                    rest
                };
                if !rest.is_empty() {
                    return Err(Errno::EINVAL);
                }
                cfg.pages = Some(n.div_ceil(abi::PAGE_SIZE));
            }
            "nr_blocks" => {
                let (n, rest) = memparse(v?);
                if !rest.is_empty() || n > i64::MAX as u64 {
                    return Err(Errno::EINVAL);
                }
                cfg.pages = Some(n);
            }
            "nr_inodes" => {
                let (n, rest) = memparse(v?);
                if !rest.is_empty() || n > u64::MAX / 1024 {
                    return Err(Errno::EINVAL);
                }
                cfg.inodes = Some(n);
            }
            // (A remount leaves the root's mode and owner as they are.)
            "mode" => {
                let m = u32::from_str_radix(v?, 8).map_err(|_| Errno::EINVAL)?;
                if !remount {
                    cfg.mode = m & 0o7777;
                }
            }
            "uid" | "gid" => {
                let id: u32 = v?.parse().map_err(|_| Errno::EINVAL)?;
                if id == u32::MAX {
                    return Err(Errno::EINVAL);
                }
                if !remount {
                    if key == "uid" {
                        cfg.uid = id;
                    } else {
                        cfg.gid = id;
                    }
                }
            }
            "huge" => {
                if !matches!(v?, "never" | "always" | "within_size" | "advise") {
                    return Err(Errno::EINVAL);
                }
            }
            "mpol" => {
                let policy = v?.split(':').next().unwrap_or("");
                if !matches!(policy, "default" | "prefer" | "bind" | "interleave" | "local" | "weighted_interleave") {
                    return Err(Errno::EINVAL);
                }
            }
            "inode64" if value.is_none() => cfg.inode64 = true,
            "inode32" if value.is_none() => cfg.inode64 = false,
            // Swap cannot be turned off, nor on again, by a remount.
            "noswap" if value.is_none() && !remount => cfg.noswap = true,
            "noswap" if value.is_none() && cfg.noswap => {}
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(())
}

/// A new filesystem for mount(2): its root, and its record (its flags
/// and options; no place yet).
pub fn new_filesystem(
    k: &Arc<Kernel>,
    fstype: &str,
    source: Option<&[u8]>,
    ms: u64,
    data: Option<&[u8]>,
) -> SysResult<(Arc<Dentry>, MountRecord)> {
    let mut sb_ro = ms & MS_RDONLY != 0;
    let opts = split_options(data.unwrap_or_default(), &mut sb_ro)?;
    let tmpfs = match fstype {
        "tmpfs" => {
            let mut cfg = TmpfsConfig::default();
            parse_tmpfs(&opts, &mut cfg, false)?;
            Some(cfg)
        }
        "proc" => {
            if opts.iter().any(|(k, _)| !matches!(k.as_str(), "hidepid" | "gid" | "subset")) {
                return Err(Errno::EINVAL);
            }
            None
        }
        "devpts" => {
            if opts
                .iter()
                .any(|(k, _)| !matches!(k.as_str(), "uid" | "gid" | "mode" | "ptmxmode" | "newinstance" | "max"))
            {
                return Err(Errno::EINVAL);
            }
            None
        }
        "sysfs" | "mqueue" | "devtmpfs" => {
            if !opts.is_empty() {
                return Err(Errno::EINVAL);
            }
            None
        }
        // The Gofer's trees come only from the sandbox's configuration.
        "9p" => return Err(Errno::EINVAL),
        _ => return Err(Errno::ENODEV),
    };
    let origin = Origin::New { fstype: fstype.to_string(), tmpfs };
    let source = match source {
        Some(s) => String::from_utf8_lossy(s).into_owned(),
        None => "none".to_string(),
    };
    let flags = mount_flags_of(ms, false, 0);
    let mut rec = MountRecord {
        id: 0,
        source,
        point: Vec::new(),
        fstype: fstype.to_string(),
        flags,
        sb_ro,
        fs_opts: String::new(),
        origin,
        expiring: false,
        root: 0,
        point_id: 0,
    };
    let root = make_filesystem(k, &mut rec)?;
    Ok((root, rec))
}

/// Makes the filesystem `rec` describes (a new one of its type, with its
/// settings), and fills in its options.
pub fn make_filesystem(k: &Arc<Kernel>, rec: &mut MountRecord) -> SysResult<Arc<Dentry>> {
    use super::tmpfs::{FsKind, MemFs};
    let Origin::New { fstype, tmpfs } = &rec.origin else { return Err(Errno::EINVAL) };
    let cpus = crate::sandbox_cpus();
    let (root, fs_opts) = match (fstype.as_str(), tmpfs) {
        ("tmpfs", Some(cfg)) => {
            let fs = MemFs::new(FsKind::Tmpfs, k.memfile.clone());
            cfg.apply(&fs)?;
            let root = fs.new_root(cfg.mode, cfg.uid, cfg.gid);
            (root, cfg.options())
        }
        ("proc", _) => {
            let p = super::procfs::ProcFs::new(cpus);
            p.set_kernel(k);
            (p.root(), String::new())
        }
        ("sysfs", _) => {
            let limits = k.cgroup_limits.get().copied().unwrap_or_default();
            (super::sysfs::new(cpus, &limits, &super::procnet::view(k)), String::new())
        }
        ("devpts", _) => (super::devpts::new_root(k.ptys.clone()), "mode=600,ptmxmode=000".to_string()),
        ("mqueue", _) => (super::mqueue::new_root(k.ipc.mqueue.clone()), String::new()),
        ("devtmpfs", _) => {
            let root = super::devfs::new(k.memfile.clone())?;
            if let Some(i) = root.inode() {
                // What it holds when made is the Sentry's, not the app's.
                i.fs.mark_baseline();
            }
            (root, "mode=755".to_string())
        }
        _ => return Err(Errno::ENODEV),
    };
    if rec.sb_ro {
        if let Some(i) = root.inode() {
            i.fs.set_readonly();
        }
    }
    root.set_mount_flags(rec.flags | if rec.sb_ro { MNT_RDONLY } else { 0 });
    rec.fs_opts = fs_opts;
    Ok(root)
}

/// What mount(2) or umount2(2) names: the dentry at the path, before any
/// mount on it is crossed (a path ending in `.`, `..` or `/`, or in a
/// symlink followed, names the mounted root the walk reached).
pub struct Target(Arc<Dentry>, bool);

impl Vfs {
    /// Resolves a mount(2) or umount2(2) path, for `creds`.
    pub fn mount_target(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        follow: Follow,
        creds: &Credentials,
    ) -> SysResult<Target> {
        let pp = self.resolve_parent_as(root, start, path, creds)?;
        if let Last::Name(name) = &pp.last {
            let d = self.lookup(&pp.dir, name)?;
            if follow == Follow::Yes && Vfs::is_magic_link(&d) {
                // A magic link (/proc/PID/fd/N) jumps to its file itself,
                // even a symlink (which mount then refuses), as Linux's
                // nd_jump_link.
                let text = self.readlink(&d)?;
                if text.first() == Some(&b'/') {
                    return Ok(Target(self.resolve_as(root, root, &text, Follow::No, creds)?, true));
                }
            }
            if !(d.is_symlink() && (follow == Follow::Yes || pp.trailing_slash)) {
                if pp.trailing_slash && !d.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                return Ok(Target(d, false));
            }
        }
        Ok(Target(self.resolve_as(root, start, path, follow, creds)?, true))
    }

    /// The topmost mount at `t`: its mount point and root, if `t` is a
    /// mount point or a mounted root.
    fn top_mount(&self, t: &Target) -> Option<(Arc<Dentry>, Arc<Dentry>)> {
        if Arc::ptr_eq(&t.0, &self.root) {
            // The sandbox's root mount (nothing goes over it).
            return Some((self.root.clone(), self.root.clone()));
        }
        let m = self.mounts();
        let mut point = None;
        let mut cur = t.0.clone();
        for _ in 0..=MAX_MOUNTS {
            match m.covered.get(&cur.id) {
                Some(r) if Arc::ptr_eq(r, &cur) => {
                    point = Some(cur.clone());
                    break;
                }
                Some(r) => {
                    point = Some(cur);
                    cur = r.clone();
                }
                None => break,
            }
        }
        match point {
            Some(p) => Some((p, cur)),
            // A mounted root the walk crossed into: its latest mount. (A
            // directory bound elsewhere, reached by its own name, is no
            // mount here.)
            None if t.1 => {
                let p = m.points.get(&cur.id)?.last()?.clone();
                Some((p, cur))
            }
            None => None,
        }
    }

    /// Where a new mount at `t` goes: on the topmost mount's root there,
    /// or on `t`.
    fn mount_place(&self, t: &Target) -> Arc<Dentry> {
        match self.top_mount(t) {
            Some((_, r)) => r,
            None => t.0.clone(),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Vec<MountRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mounts `root` (a new filesystem, or a bind's source) at `t`, with
    /// the record `rec`.
    fn graft(&self, t: &Target, root: Arc<Dentry>, mut rec: MountRecord) -> SysResult<()> {
        let point = self.mount_place(t);
        if point.is_dir() != root.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if Arc::ptr_eq(&point, &self.root) {
            // (The sandbox's root stays its root: nothing goes over it.)
            return Err(Errno::EINVAL);
        }
        if point.synth().is_some() && point.parent().is_some() {
            // A file of procfs or sysfs is made afresh at each lookup: a
            // mount on it could never be reached, so none is made.
            return Err(Errno::EINVAL);
        }
        let mut records = self.records();
        if records.len() >= MAX_MOUNTS {
            return Err(Errno::ENOSPC);
        }
        {
            let mut m = self.mounts.write().unwrap_or_else(|e| e.into_inner());
            if m.covered.contains_key(&point.id) {
                return Err(Errno::EBUSY);
            }
            m.points.entry(root.id).or_default().push(point.clone());
            m.covered.insert(point.id, root.clone());
            point.mounted.store(true, Ordering::Release);
        }
        rec.point = self.path_of(&point);
        rec.root = root.id;
        rec.point_id = point.id;
        rec.id = records.iter().map(|r| r.id + 1).max().unwrap_or(FIRST_ID);
        records.push(rec);
        Ok(())
    }

    /// mount(2) of a new filesystem at `t`.
    pub fn mount_new(&self, t: &Target, root: Arc<Dentry>, rec: MountRecord) -> SysResult<()> {
        if t.0.is_symlink() {
            return Err(Errno::ENOENT);
        }
        self.graft(t, root, rec)
    }

    /// mount(2) with MS_BIND: `source` (resolved, mounts crossed) at `t`.
    pub fn mount_bind(&self, t: &Target, source: &Arc<Dentry>) -> SysResult<()> {
        if t.0.is_symlink() || source.is_symlink() {
            return Err(Errno::ENOENT);
        }
        // A tree bound beneath itself would hold itself without end, its
        // dentries being the very ones reached (Linux copies its mounts
        // instead): refused, but for a directory bound on itself.
        let point = self.mount_place(t);
        if !Arc::ptr_eq(&point, source) && self.is_above(source, &point) {
            return Err(Errno::ELOOP);
        }
        // The source's mount, for the record's type and source.
        let src_root = self.mount_root_of(source);
        let (src, fstype, fs_opts, sb_ro) = {
            let records = self.records();
            match records.iter().rev().find(|r| r.root == src_root.id) {
                Some(r) => (r.source.clone(), r.fstype.clone(), r.fs_opts.clone(), r.sb_ro),
                None => ("none".to_string(), "none".to_string(), String::new(), false),
            }
        };
        let rec = MountRecord {
            id: 0,
            source: src,
            point: Vec::new(),
            fstype,
            // (A bind's flags are set by a remount: MS_BIND takes none.)
            flags: MNT_RELATIME | source.mount_flags() & !MNT_SET,
            sb_ro,
            fs_opts,
            origin: Origin::Bind,
            expiring: false,
            root: 0,
            point_id: 0,
        };
        self.graft(t, source.clone(), rec)
    }

    /// The record of the mount `(point, root)`, by index.
    fn record_index(records: &[MountRecord], point: &Dentry, root: &Dentry) -> Option<usize> {
        // (The sandbox's root is its own point, its record's point none.)
        let point_id =
            if point.id == root.id && records.first().is_some_and(|r| r.root == root.id) { 0 } else { point.id };
        records.iter().rposition(|r| r.root == root.id && r.point_id == point_id)
    }

    /// Whether `a` is `b` or above it, mounts crossed upwards.
    fn is_above(&self, a: &Arc<Dentry>, b: &Arc<Dentry>) -> bool {
        let mut cur = Some(b.clone());
        for _ in 0..super::PATH_MAX {
            let Some(c) = cur else { return false };
            if Arc::ptr_eq(&c, a) {
                return true;
            }
            cur = c.parent().or_else(|| self.mount_point_of(&c));
        }
        false
    }

    /// mount(2) with MS_REMOUNT at `t`: `ms` and `data` say the flags and
    /// options from now on; with MS_BIND only the mount's own flags change.
    pub fn remount(&self, t: &Target, ms: u64, data: Option<&[u8]>) -> SysResult<()> {
        let (point, root) = self.top_mount(t).ok_or(Errno::EINVAL)?;
        let mut records = self.records();
        let i = Self::record_index(&records, &point, &root).ok_or(Errno::EINVAL)?;
        let rec = &mut records[i];
        let flags = mount_flags_of(ms, true, rec.flags);
        if ms & MS_BIND != 0 {
            rec.flags = flags;
            root.set_mount_flags(flags | if rec.sb_ro { MNT_RDONLY } else { 0 });
            return Ok(());
        }
        let mut sb_ro = ms & MS_RDONLY != 0;
        let opts = split_options(data.unwrap_or_default(), &mut sb_ro)?;
        let mut tmpfs = match &rec.origin {
            Origin::New { tmpfs: Some(cfg), .. } => Some(*cfg),
            Origin::Boot if rec.fstype == "tmpfs" && root.inode().is_some() => Some(TmpfsConfig::default()),
            _ => None,
        };
        match (&mut tmpfs, root.node()) {
            (Some(cfg), Node::Mem(i)) => {
                let old = *cfg;
                parse_tmpfs(&opts, cfg, true)?;
                // Limits only: none can be set where there was none.
                if (cfg.pages.is_some_and(|p| p != 0) && old.pages == Some(0))
                    || (cfg.inodes.is_some_and(|n| n != 0) && old.inodes == Some(0))
                {
                    return Err(Errno::EINVAL);
                }
                cfg.apply(&i.fs)?;
                i.fs.set_readonly_to(sb_ro);
            }
            // A tree of the Gofer's served read-only cannot be made
            // writable.
            (_, Node::Gofer { .. }) if root.overlay().is_none() && !sb_ro => return Err(Errno::EROFS),
            (_, Node::Mem(i)) => i.fs.set_readonly_to(sb_ro),
            _ => {}
        }
        if let (Some(cfg), Origin::New { tmpfs: slot, .. }) = (&tmpfs, &mut rec.origin) {
            *slot = Some(*cfg);
            rec.fs_opts = cfg.options();
        }
        if let (Origin::Boot, Some(cfg)) = (&rec.origin, tmpfs) {
            // A boot tmpfs's limits as remounted, in Linux's order.
            let mut shown: Vec<String> = rec.fs_opts.split(',').filter(|o| !o.is_empty()).map(str::to_string).collect();
            let limits = [
                ("nr_inodes=", cfg.inodes.map(|n| format!("nr_inodes={n}"))),
                ("size=", cfg.pages.map(|p| format!("size={}k", p.saturating_mul(abi::PAGE_SIZE / 1024)))),
            ];
            for (key, value) in limits {
                if let Some(v) = value {
                    shown.retain(|o| !o.starts_with(key));
                    shown.insert(0, v);
                }
            }
            rec.fs_opts = shown.join(",");
        }
        rec.flags = flags;
        rec.sb_ro = sb_ro;
        root.set_mount_flags(flags | if sb_ro { MNT_RDONLY } else { 0 });
        Ok(())
    }

    /// mount(2) with a propagation flag at `t`: accepted on a mount (every
    /// mount of the sandbox is private; there is no other namespace to
    /// propagate to).
    pub fn change_propagation(&self, t: &Target, ms: u64) -> SysResult<()> {
        let kind = ms & !(MS_REC | MS_SILENT);
        if !kind.is_power_of_two() || kind & MS_PROPAGATION == 0 {
            return Err(Errno::EINVAL);
        }
        self.top_mount(t).map(|_| ()).ok_or(Errno::EINVAL)
    }

    /// umount2(2) of the mount at `t`. `in_use` holds the dentries open
    /// files, working directories and roots hold: a mount any of them is
    /// in is busy (EBUSY) unless MNT_DETACH, which takes it and those
    /// beneath it out at once and leaves the files working.
    pub fn unmount(&self, t: &Target, flags: u32, in_use: &[Arc<Dentry>]) -> SysResult<()> {
        let (point, root) = self.top_mount(t).ok_or(Errno::EINVAL)?;
        if Arc::ptr_eq(&root, &self.root) {
            return Err(Errno::EINVAL);
        }
        let mut records = self.records();
        let i = Self::record_index(&records, &point, &root).ok_or(Errno::EINVAL)?;
        let beneath = self.mounts_beneath(&point, &root);
        let busy = || !beneath.is_empty() || in_use.iter().any(|d| root.is_ancestor_of(d));
        if flags & MNT_EXPIRE != 0 {
            if flags & (MNT_FORCE | MNT_DETACH) != 0 {
                return Err(Errno::EINVAL);
            }
            if busy() {
                return Err(Errno::EBUSY);
            }
            if !std::mem::replace(&mut records[i].expiring, true) {
                return Err(Errno::EAGAIN);
            }
        } else if flags & MNT_DETACH == 0 && busy() {
            return Err(Errno::EBUSY);
        }
        for (p, r) in beneath.iter().rev().chain([(point, root)].iter()) {
            self.take_out(p, r);
            if let Some(j) = Self::record_index(&records, p, r) {
                records.remove(j);
            }
        }
        Ok(())
    }

    /// Every mount beneath the mount `(point, root)`, each after the one it
    /// is on.
    fn mounts_beneath(&self, point: &Arc<Dentry>, root: &Arc<Dentry>) -> Vec<(Arc<Dentry>, Arc<Dentry>)> {
        let m = self.mounts();
        let mut out: Vec<(Arc<Dentry>, Arc<Dentry>)> = Vec::new();
        let mut roots = vec![(point.id, root.clone())];
        while let Some((pid, r)) = roots.pop() {
            for (rid, pts) in m.points.iter() {
                for p in pts {
                    let Some(sub) = m.covered.get(&p.id).filter(|s| s.id == *rid) else { continue };
                    if p.id == pid || out.iter().any(|(q, _)| q.id == p.id) || out.len() >= MAX_MOUNTS {
                        continue;
                    }
                    if r.is_ancestor_of(p) {
                        out.push((p.clone(), sub.clone()));
                        roots.push((p.id, sub.clone()));
                    }
                }
            }
        }
        out
    }

    /// Takes the mount `(point, root)` out of the table.
    fn take_out(&self, point: &Arc<Dentry>, root: &Arc<Dentry>) {
        let mut m = self.mounts.write().unwrap_or_else(|e| e.into_inner());
        if m.covered.get(&point.id).is_some_and(|r| Arc::ptr_eq(r, root)) {
            m.covered.remove(&point.id);
            point.mounted.store(false, Ordering::Release);
        }
        let gone = match m.points.get_mut(&root.id) {
            Some(pts) => {
                if let Some(j) = pts.iter().position(|p| Arc::ptr_eq(p, point)) {
                    pts.remove(j);
                }
                pts.is_empty()
            }
            None => true,
        };
        if gone {
            m.points.remove(&root.id);
            // A bound directory is an ordinary one again.
            root.mnt_flags.store(0, Ordering::Release);
        }
    }

    /// How many mounts the sandbox has.
    pub fn mount_count(&self) -> usize {
        self.records().len()
    }

    /// The mounts' records, with the dentries of their roots (for a
    /// checkpoint).
    pub fn mount_records_with_roots(&self) -> Vec<(MountRecord, Option<Arc<Dentry>>)> {
        let records = self.records().clone();
        let m = self.mounts();
        records
            .into_iter()
            .map(|r| {
                let root = if r.point_id == 0 { Some(self.root.clone()) } else { m.covered.get(&r.point_id).cloned() };
                (r, root)
            })
            .collect()
    }

    /// A restore's mount: makes again the mount `rec` describes (from a
    /// checkpoint), `bind_source` its source for a bind.
    pub fn replay_mount(&self, k: &Arc<Kernel>, mut rec: MountRecord, bind_source: &[u8]) -> SysResult<()> {
        let creds = Credentials::new(0, 0);
        let t = self.mount_target(&self.root, &self.root, &rec.point, Follow::Yes, &creds)?;
        let (id, flags, sb_ro) = (rec.id, rec.flags, rec.sb_ro);
        match rec.origin {
            Origin::Bind => {
                let src = self.resolve(&self.root, &self.root, bind_source, Follow::Yes)?;
                self.mount_bind(&t, &src)?;
            }
            Origin::New { .. } => {
                let root = make_filesystem(k, &mut rec)?;
                self.mount_new(&t, root, rec)?;
            }
            Origin::Boot => return Err(Errno::EINVAL),
        }
        let mut records = self.records();
        if let Some(last) = records.last_mut() {
            last.id = id;
            last.flags = flags;
            last.sb_ro = sb_ro;
            let root = self.mounts().covered.get(&last.point_id).cloned();
            if let Some(root) = root {
                root.set_mount_flags(flags | if sb_ro { MNT_RDONLY } else { 0 });
            }
        }
        Ok(())
    }

    /// A restore's boot mount `i`: its flags and read-only state as the
    /// checkpoint left them (a remount).
    pub fn replay_boot_flags(&self, i: usize, saved: &MountRecord) -> SysResult<()> {
        let mut records = self.records();
        let rec =
            records.get_mut(i).filter(|r| r.origin == Origin::Boot && r.point == saved.point).ok_or(Errno::EINVAL)?;
        if rec.flags == saved.flags && rec.sb_ro == saved.sb_ro && rec.fs_opts == saved.fs_opts {
            return Ok(());
        }
        rec.flags = saved.flags;
        rec.sb_ro = saved.sb_ro;
        rec.fs_opts = saved.fs_opts.clone();
        let root =
            if rec.point_id == 0 { Some(self.root.clone()) } else { self.mounts().covered.get(&rec.point_id).cloned() };
        let root = root.ok_or(Errno::EINVAL)?;
        if let Some(i) = root.inode() {
            i.fs.set_readonly_to(saved.sb_ro);
            for o in saved.fs_opts.split(',') {
                if let Some(v) = o.strip_prefix("size=").and_then(|v| v.strip_suffix('k')) {
                    let kib: u64 = v.parse().map_err(|_| Errno::EINVAL)?;
                    i.fs.set_max_pages((kib * 1024).div_ceil(abi::PAGE_SIZE))?;
                }
            }
        }
        root.set_mount_flags(saved.flags | if saved.sb_ro { MNT_RDONLY } else { 0 });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memparse_reads_c_numbers_and_suffixes() {
        assert_eq!(memparse("32M"), (32 << 20, ""));
        assert_eq!(memparse("0x10k"), (16 << 10, ""));
        assert_eq!(memparse("010"), (8, ""));
        assert_eq!(memparse("5%"), (5, "%"));
        assert_eq!(memparse("abc"), (0, "abc"));
        assert_eq!(memparse("1e"), (1 << 60, ""));
    }

    #[test]
    fn tmpfs_options_are_parsed_and_shown_as_linux_does() {
        let mut sb_ro = false;
        let opts = split_options(b"size=1m,,mode=0700,uid=5,ro,nr_inodes=10", &mut sb_ro).unwrap();
        assert!(sb_ro);
        let mut cfg = TmpfsConfig::default();
        parse_tmpfs(&opts, &mut cfg, false).unwrap();
        assert_eq!(cfg.options(), "size=1024k,nr_inodes=10,mode=700,uid=5");
        for bad in ["size=1q", "mode=9", "uid=x", "bogus", "size", "huge=sometimes", "uid=4294967295"] {
            let opts = split_options(bad.as_bytes(), &mut sb_ro).unwrap();
            assert_eq!(parse_tmpfs(&opts, &mut TmpfsConfig::default(), false), Err(Errno::EINVAL), "{bad}");
        }
    }

    #[test]
    fn mount_flags_follow_path_mount() {
        assert_eq!(mount_flags_of(0, false, 0), MNT_RELATIME);
        assert_eq!(mount_flags_of(MS_NOATIME | MS_RDONLY, false, 0), MNT_NOATIME | MNT_RDONLY);
        assert_eq!(mount_flags_of(MS_STRICTATIME, false, 0), 0);
        // A remount naming no atime flag keeps the old one.
        assert_eq!(mount_flags_of(MS_RDONLY, true, MNT_NOATIME), MNT_NOATIME | MNT_RDONLY);
    }

    #[test]
    fn the_mount_table_is_bounded() {
        use super::super::tmpfs::{mkdir, FsKind, MemFs};
        let mf = Arc::new(crate::mm::MemoryFile::new(1 << 24).unwrap());
        let fs = MemFs::new(FsKind::Tmpfs, mf.clone());
        let vfs = Vfs::with_root(fs.new_root(0o755, 0, 0));
        let mounted = MemFs::new(FsKind::Tmpfs, mf);
        let creds = Credentials::new(0, 0);
        let rec = || MountRecord {
            id: 0,
            source: "none".into(),
            point: Vec::new(),
            fstype: "tmpfs".into(),
            flags: 0,
            sb_ro: false,
            fs_opts: String::new(),
            origin: Origin::Bind,
            expiring: false,
            root: 0,
            point_id: 0,
        };
        for i in 0..=MAX_MOUNTS {
            let name = format!("d{i}");
            mkdir(vfs.root(), name.as_bytes(), 0o755, &creds).unwrap();
            let t = vfs.mount_target(vfs.root(), vfs.root(), name.as_bytes(), Follow::Yes, &creds).unwrap();
            let r = vfs.mount_new(&t, mounted.new_root(0o755, 0, 0), rec());
            if i < MAX_MOUNTS {
                r.unwrap();
            } else {
                assert_eq!(r, Err(Errno::ENOSPC));
            }
        }
        assert_eq!(vfs.mount_count(), MAX_MOUNTS);
        // Unmounting makes room again.
        let t = vfs.mount_target(vfs.root(), vfs.root(), b"d0", Follow::Yes, &creds).unwrap();
        vfs.unmount(&t, 0, &[]).unwrap();
        assert_eq!(vfs.unmount(&t, 0, &[]), Err(Errno::EINVAL));
        let t = vfs.mount_target(vfs.root(), vfs.root(), format!("d{MAX_MOUNTS}").as_bytes(), Follow::Yes, &creds);
        vfs.mount_new(&t.unwrap(), mounted.new_root(0o755, 0, 0), rec()).unwrap();
    }

    #[test]
    fn boot_options_round_trip() {
        let mf = Arc::new(crate::mm::MemoryFile::new(1 << 20).unwrap());
        let d = super::super::tmpfs::MemFs::new(super::super::tmpfs::FsKind::Tmpfs, mf).new_root(0o755, 0, 0);
        for o in [
            "rw,nosuid,nodev,noexec,relatime",
            "ro,relatime",
            "rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666",
            "rw,relatime,size=65536k",
        ] {
            assert_eq!(MountRecord::boot("x", b"/x", "tmpfs", o, &d, None).options(), o);
        }
    }
}
