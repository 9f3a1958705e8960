//! Root filesystem directories for test cases.
//!
//! Each test gets its own temporary directory under `target/husk-test/tmp/`
//! holding `rootfs/` (what the sandbox sees as `/`) and room beside it for
//! host-only files that must never be visible from inside. It is removed
//! when the [`Rootfs`] is dropped, unless `HUSK_TEST_KEEP` is set in the
//! environment (to rerun a failed case by hand).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::{Timespec, Timestamps};
use tempfile::TempDir;

use crate::paths;
use crate::progs::{self, Link};

/// The host's busybox; must be the static build (`busybox-static`).
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// A root filesystem being built for one test.
pub struct Rootfs {
    dir: TempDir,
    root: PathBuf,
}

impl Default for Rootfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Rootfs {
    /// An empty root directory in a fresh temporary directory.
    pub fn new() -> Self {
        let parent = paths::work_dir().join("tmp");
        fs::create_dir_all(&parent).expect("create target/husk-test/tmp");
        let mut dir =
            tempfile::Builder::new().prefix("case-").tempdir_in(&parent).expect("create a temporary directory");
        if std::env::var_os("HUSK_TEST_KEEP").is_some() {
            dir.disable_cleanup(true);
        }
        // Open to every user: a rootless `husk run` (another host user)
        // reads the root too.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod the case directory");
        let root = dir.path().join("rootfs");
        fs::create_dir(&root).expect("create rootfs/");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod rootfs/");
        Rootfs { dir, root }
    }

    /// The root directory on the host.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The temporary directory that holds the root: host-only files go
    /// here, outside what the sandbox may see.
    pub fn outside(&self) -> &Path {
        self.dir.path()
    }

    /// The host path of `inner`, an absolute path inside the root.
    pub fn host_path(&self, inner: &str) -> PathBuf {
        self.root.join(inner.trim_start_matches('/'))
    }

    fn parent_dirs(&self, inner: &str) -> PathBuf {
        let host = self.host_path(inner);
        if let Some(parent) = host.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir -p {}: {e}", parent.display()));
        }
        host
    }

    /// Creates directory `inner` and its parents, mode 0755.
    pub fn dir(&self, inner: &str) -> &Self {
        let host = self.host_path(inner);
        fs::create_dir_all(&host).unwrap_or_else(|e| panic!("mkdir -p {}: {e}", host.display()));
        fs::set_permissions(&host, fs::Permissions::from_mode(0o755)).expect("chmod dir");
        self
    }

    /// Creates directory `inner` and its parents; `inner` gets `mode`
    /// (e.g. 0o1777 for `/tmp`).
    pub fn dir_mode(&self, inner: &str, mode: u32) -> &Self {
        self.dir(inner);
        let host = self.host_path(inner);
        fs::set_permissions(&host, fs::Permissions::from_mode(mode)).expect("chmod dir");
        self
    }

    /// Writes file `inner` with mode 0644, creating its parents.
    pub fn file(&self, inner: &str, contents: impl AsRef<[u8]>) -> &Self {
        self.file_mode(inner, contents, 0o644)
    }

    /// Writes file `inner` with the given mode, creating its parents.
    pub fn file_mode(&self, inner: &str, contents: impl AsRef<[u8]>, mode: u32) -> &Self {
        let host = self.parent_dirs(inner);
        fs::write(&host, contents).unwrap_or_else(|e| panic!("write {}: {e}", host.display()));
        fs::set_permissions(&host, fs::Permissions::from_mode(mode)).expect("chmod file");
        self
    }

    /// Creates symlink `inner` pointing at `target` (stored as given).
    pub fn symlink(&self, inner: &str, target: impl AsRef<Path>) -> &Self {
        let host = self.parent_dirs(inner);
        symlink(target.as_ref(), &host).unwrap_or_else(|e| panic!("symlink {}: {e}", host.display()));
        self
    }

    /// Copies host file `from` to `inner`, keeping its mode.
    pub fn copy(&self, inner: &str, from: &Path) -> &Self {
        let host = self.parent_dirs(inner);
        fs::copy(from, &host).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), host.display()));
        self
    }

    /// Installs the host's static busybox as `/bin/busybox`, with
    /// `/bin/<applet>` symlinks to it.
    pub fn busybox(&self, applets: &[&str]) -> &Self {
        let host = Path::new(HOST_BUSYBOX);
        let bytes =
            fs::read(host).unwrap_or_else(|e| panic!("reading {HOST_BUSYBOX}: {e} (apt-get install busybox-static)"));
        assert!(!elf_has_interpreter(&bytes), "{HOST_BUSYBOX} is dynamically linked; the tests need busybox-static");
        self.copy("/bin/busybox", host);
        for applet in applets {
            self.symlink(&format!("/bin/{applet}"), "busybox");
        }
        self
    }

    /// Compiles `tests/progs/<name>.c` (see [`progs::build`]) and installs
    /// it as `/progs/<name>`; returns that path.
    ///
    /// The binary is hard-linked from the build cache (copied only when
    /// that fails): a copy is written through a file descriptor of this
    /// process, which a child that another test thread forks at that
    /// moment inherits until it execs, and exec'ing the file while such a
    /// descriptor is open fails with ETXTBSY ("Text file busy").
    pub fn prog(&self, name: &str, link: Link) -> String {
        let inner = format!("/progs/{name}");
        let built = progs::build(name, link);
        let host = self.parent_dirs(&inner);
        if fs::hard_link(&built, &host).is_err() {
            self.copy(&inner, &built);
        }
        inner
    }

    /// Creates `inner` with `len` bytes from [`pseudo_random_bytes`]. The
    /// bytes are generated once into `target/husk-test/cache/` and
    /// hard-linked (or copied) from there.
    pub fn random_file(&self, inner: &str, len: usize, seed: u64) -> &Self {
        let cache = paths::work_dir().join("cache");
        fs::create_dir_all(&cache).expect("create target/husk-test/cache");
        let cached = cache.join(format!("random-{len}-{seed:x}"));
        let fresh = fs::metadata(&cached).is_ok_and(|m| m.len() == len as u64);
        if !fresh {
            let tmp = tempfile::NamedTempFile::new_in(&cache).expect("temporary cache file");
            fs::write(tmp.path(), pseudo_random_bytes(len, seed)).expect("write cache file");
            fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)).expect("chmod");
            tmp.persist(&cached).expect("rename the cache file into place");
        }
        let host = self.parent_dirs(inner);
        if fs::hard_link(&cached, &host).is_err() {
            fs::copy(&cached, &host).expect("copy the cached file");
        }
        self
    }

    /// Sets the access and modification times of every entry under
    /// `inner` (itself included; symlinks themselves, not their targets),
    /// so that `ls -l` output is the same from run to run.
    pub fn set_times(&self, inner: &str, time: SystemTime) -> &Self {
        set_times_recursive(&self.host_path(inner), time);
        self
    }
}

/// Sets the access and modification times of `path` and of everything
/// under it (symlinks themselves, not their targets).
pub fn set_times_recursive(path: &Path, time: SystemTime) {
    let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).expect("time after 1970");
    let ts = Timespec { tv_sec: i64::try_from(since_epoch.as_secs()).expect("time fits"), tv_nsec: 0 };
    let stamps = Timestamps { last_access: ts, last_modification: ts };
    fn walk(path: &Path, stamps: &Timestamps) {
        let meta = fs::symlink_metadata(path).expect("lstat");
        if meta.is_dir() {
            for entry in fs::read_dir(path).expect("readdir") {
                walk(&entry.expect("dir entry").path(), stamps);
            }
        }
        rustix::fs::utimensat(rustix::fs::CWD, path, stamps, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .unwrap_or_else(|e| panic!("utimensat {}: {e}", path.display()));
    }
    walk(path, &stamps);
}

/// A fixed point in time for [`Rootfs::set_times`]: 2020-01-02 03:04:05 UTC.
pub fn fixed_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_934_245)
}

/// `len` deterministic bytes from a xorshift64* generator seeded with `seed`.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Whether an ELF image has a PT_INTERP program header (is dynamically
/// linked). Malformed input counts as "no".
pub fn elf_has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |off: usize| elf.get(off..off + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |off: usize| elf.get(off..off + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |off: usize| elf.get(off..off + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    if elf.get(..4) != Some(b"\x7fELF") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..usize::from(phnum)).any(|i| u32_at(phoff + i * usize::from(phentsize)) == Some(PT_INTERP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_random_bytes_are_deterministic() {
        let a = pseudo_random_bytes(1000, 7);
        assert_eq!(a, pseudo_random_bytes(1000, 7));
        assert_ne!(a, pseudo_random_bytes(1000, 8));
        assert_eq!(pseudo_random_bytes(13, 7), a[..13]);
    }

    #[test]
    fn host_busybox_is_static() {
        let bytes = fs::read(HOST_BUSYBOX).expect("busybox-static is installed");
        assert!(!elf_has_interpreter(&bytes));
        // This test executable is a dynamically linked Rust program.
        let me = std::env::current_exe().expect("current_exe");
        assert!(elf_has_interpreter(&fs::read(me).expect("read the test executable")));
    }
}
