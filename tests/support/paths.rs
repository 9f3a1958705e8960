//! Where things are: the `husk` binary, the test sources, and the scratch
//! directory `target/husk-test/`.

use std::path::{Path, PathBuf};

/// The directory holding the workspace's root `Cargo.toml`.
pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/progs/`, the C test programs.
pub fn progs_src_dir() -> PathBuf {
    manifest_dir().join("tests").join("progs")
}

/// `target/<profile>/`, found from the running test executable, which
/// cargo puts in `target/<profile>/deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a parent directory");
    let profile = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps/ has a parent directory")
    } else {
        deps
    };
    profile.to_path_buf()
}

/// `target/husk-test/`: compiled test programs, cached files and
/// per-test temporary directories.
pub fn work_dir() -> PathBuf {
    let profile = profile_dir();
    profile.parent().unwrap_or(&profile).join("husk-test")
}

/// The `husk` binary under test: `$HUSK_BIN`, else `target/<profile>/husk`.
///
/// # Panics
///
/// When the binary does not exist, with a message saying how to build it.
pub fn husk_bin() -> PathBuf {
    let path = match std::env::var_os("HUSK_BIN") {
        Some(p) => PathBuf::from(p),
        None => profile_dir().join("husk"),
    };
    assert!(
        path.is_file(),
        "the husk binary is missing at {}: run `cargo build --workspace` first \
         (cargo test does not build it), or set HUSK_BIN",
        path.display()
    );
    path
}

/// The host's `chroot` (in /usr/sbin, which may not be on the PATH).
pub fn chroot_bin() -> PathBuf {
    ["/usr/sbin/chroot", "/sbin/chroot", "/usr/bin/chroot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("chroot"))
}

/// The host's `unshare` (util-linux), for [`crate::Case::scratch_mounts`].
pub fn unshare_bin() -> PathBuf {
    ["/usr/bin/unshare", "/bin/unshare"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("unshare"))
}

/// The host's `env` (coreutils), for [`crate::Case::scratch_mounts`].
pub fn env_bin() -> PathBuf {
    ["/usr/bin/env", "/bin/env"].iter().map(PathBuf::from).find(|p| p.is_file()).unwrap_or_else(|| PathBuf::from("env"))
}
