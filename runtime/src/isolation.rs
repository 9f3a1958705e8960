//! The Sentry's own confinement on the host, made in the process that
//! becomes the Sentry, before it boots and before it reads anything the app
//! controls:
//! - it is the first process of a new pid namespace (made by its parent),
//!   so that it, its stubs and the Gofer see and can signal no host
//!   process;
//! - it has a mount namespace of its own, whose root is an empty,
//!   read-only tmpfs holding only a read-only procfs of that pid namespace
//!   (the stubs' CPU times and memory are read there), as gVisor's Sentry
//!   has;
//! - started by a user other than root, all of this happens in a user
//!   namespace of its own, where that user is root ([`enter_user_namespace`],
//!   the rootless mode);
//! - it holds no capability, with no_new_privs;
//! - then `sentry::Sandbox::boot` installs its seccomp filter.
//!
//! Each step needs CAP_SYS_ADMIN (root's, or that of the user namespace);
//! where one is refused, the Sentry goes on without it and says so in the
//! log.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{chdir, pivot_root};

/// Moves this process into a new mount namespace whose root is empty but
/// for a read-only /proc (of this process's pid namespace) when
/// `with_proc`. Every host path is then out of its reach.
pub fn enter_empty_root(with_proc: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    unshare(CloneFlags::CLONE_NEWNS).context("a new mount namespace")?;
    let none = None::<&str>;
    // Nothing done here reaches the host's mount table.
    mount(none, "/", none, MsFlags::MS_PRIVATE | MsFlags::MS_REC, none).context("making mounts private")?;
    let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // A procfs of this pid namespace, first over the host's /proc: in a
    // user namespace (rootless), a new procfs may only be mounted while
    // the host's is in full view.
    if with_proc {
        mount(Some("proc"), "/proc", Some("proc"), locked | MsFlags::MS_RDONLY, none).context("mounting /proc")?;
    }
    // The new root is a small tmpfs over /tmp, which every host has.
    mount(Some("husk-sentry"), "/tmp", Some("tmpfs"), locked, Some("mode=0755,size=64k"))
        .context("mounting the empty root")?;
    if with_proc {
        std::fs::create_dir("/tmp/proc").context("making /proc in the empty root")?;
        mount(Some("/proc"), "/tmp/proc", none, MsFlags::MS_MOVE, none).context("moving /proc into the empty root")?;
    }
    chdir("/tmp").context("entering the empty root")?;
    // The old root ends up stacked on the new one at "/", and goes.
    pivot_root(".", ".").context("pivot_root")?;
    umount2(".", MntFlags::MNT_DETACH).context("detaching the host's root")?;
    chdir("/").context("chdir /")?;
    mount(none, "/", none, MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | locked, none)
        .context("making the empty root read-only")?;
    Ok(())
}

/// Moves this process into a new user namespace in which it is root, uid
/// and gid 0, mapped to the user who started it (and to no one else): the
/// rootless mode, in which it may then make the other namespaces. Files it
/// makes on the host are that user's; it can change no other user's.
/// Call before any thread starts.
pub fn enter_user_namespace() -> anyhow::Result<()> {
    use anyhow::Context;
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    unshare(CloneFlags::CLONE_NEWUSER).context("a new user namespace")?;
    // An unprivileged writer of gid_map must first give up setgroups.
    std::fs::write("/proc/self/setgroups", "deny").context("/proc/self/setgroups")?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")).context("/proc/self/uid_map")?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")).context("/proc/self/gid_map")?;
    Ok(())
}

/// All of the Sentry's confinement before boot: the empty root (where
/// allowed), then every capability dropped. The host devices `platform`
/// needs (the KVM platform's /dev/kvm) are opened first.
pub fn confine_sentry(platform: &str) {
    // Read while the sandbox's cgroup is still in view.
    sentry::sandbox_cpus();
    sentry::open_platform_devices(platform);
    if let Err(e) = enter_empty_root(true) {
        log::info!("the Sentry keeps the host's mount namespace: {e:#}");
    }
    if let Err(e) = crate::sys::drop_all_capabilities() {
        log::warn!("the Sentry could not drop its capabilities: {e}");
    }
}
