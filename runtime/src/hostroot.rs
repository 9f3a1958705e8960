//! `husk run` with no `--rootfs`: the sandbox runs on the host's own
//! system, as a newcomer expects of `husk run -- python3 -c ...`.
//!
//! What is shared, and why:
//! - /usr, /bin, /sbin, /lib, /lib32, /lib64 and /libx32 (those that are
//!   directories; where the host has them as links into /usr, as merged-/usr
//!   systems do, the sandbox has the same links): the programs and
//!   libraries the app runs. Each is the read-only lower layer of an
//!   overlay of its own, so the app may install into /usr/local, say, and
//!   the host never sees it.
//! - /etc, the same way, less its secrets ([`ETC_HIDDEN`]): the Gofer never
//!   opens them, so not even a compromised Sentry could read them. The rest
//!   (passwd, group, resolv.conf, hosts, ssl/certs, alternatives, ...) is
//!   what programs look up at run time.
//!
//! Nothing else of the host: /root, /home, /var, /opt, /srv, /mnt and
//! /media start empty (the root is an overlay over an empty directory, so
//! the app may fill them), and /tmp, /dev, /proc and /sys are the
//! sandbox's own as always. `--volume` shares more.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sentry::{MountKind, MountSpec};

/// The host's system directories the sandbox gets, beneath overlays.
pub const SYSTEM_DIRS: &[&str] = &["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"];

/// Paths in the host's /etc that are secrets, never served: password and
/// group shadows (and their backups), sudo's rules, SSH host keys, TLS
/// private keys, Kerberos keytabs, saved Wi-Fi and VPN credentials, old
/// passwords, and every file or directory others may not read (where the
/// rest of a host's secrets are, under any name).
pub const ETC_HIDDEN: &[&str] = &[
    "shadow",
    "shadow-",
    "gshadow",
    "gshadow-",
    "sudoers",
    "sudoers.d",
    "ssh/ssh_host_*",
    "ssl/private",
    "krb5.keytab",
    "NetworkManager/system-connections",
    "wpa_supplicant",
    "security/opasswd",
    "wireguard",
    "ipsec.secrets",
    "ppp/chap-secrets",
    "ppp/pap-secrets",
    "mysql/debian.cnf",
    "sssd/sssd.conf",
    // And whatever else others may not read, whatever its name.
    gofer::UNREADABLE,
];

/// Empty directories of the sandbox's root, with their modes.
const EMPTY_DIRS: &[(&str, u32)] = &[
    ("root", 0o700),
    ("home", 0o755),
    ("tmp", 0o1777),
    ("var", 0o755),
    ("run", 0o755),
    ("opt", 0o755),
    ("srv", 0o755),
    ("mnt", 0o755),
    ("media", 0o755),
    ("dev", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
];

/// The environment a sandbox on the host's system starts with, as `docker
/// run` gives one: PATH, HOME, HOSTNAME, and TERM on a terminal. `--env`
/// adds to it and overrides it.
pub fn default_env(hostname: &str, uid: u32, terminal: bool) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_owned(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned()),
        ("HOME".to_owned(), if uid == 0 { "/root" } else { "/" }.to_owned()),
        ("HOSTNAME".to_owned(), hostname.to_owned()),
    ];
    if terminal {
        env.push(("TERM".to_owned(), "xterm".to_owned()));
    }
    env
}

/// A directory of the sandbox's on the host (its root: empty directories
/// and the links merged-/usr systems have; or its overlays' disk store).
/// Removed when dropped.
pub struct HostRoot {
    dir: PathBuf,
}

impl Drop for HostRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a sandbox on the host's system mounts.
pub struct HostMounts {
    /// The root directory to serve as the rootfs.
    pub root: HostRoot,
    /// The host directories the Gofer serves after the volumes' sources.
    pub sources: Vec<gofer::ExtraRoot>,
    /// Their mounts, with the Gofer's indices counted from `first_index`.
    pub specs: Vec<MountSpec>,
}

impl HostRoot {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Keeps the directory past this value (something else removes it
    /// later); returns its path.
    pub fn keep(self) -> PathBuf {
        let this = std::mem::ManuallyDrop::new(self);
        this.dir.clone()
    }
}

/// A new directory `PREFIX-PID-NANOS` of mode `mode` in `parent`,
/// removed (with what it holds) when dropped.
pub fn private_dir(parent: &Path, prefix: &str, mode: u32) -> anyhow::Result<HostRoot> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let dir = parent.join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(mode).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(HostRoot { dir })
}

/// Makes the root directory under `state_dir` and the mounts of the host's
/// system directories, whose Gofer roots come after `first_index` others.
pub fn build(state_dir: &Path, first_index: usize) -> anyhow::Result<HostMounts> {
    use std::os::unix::fs::{symlink, DirBuilderExt};
    std::fs::create_dir_all(state_dir).with_context(|| format!("state directory {}", state_dir.display()))?;
    let root = private_dir(state_dir, "hostroot", 0o755)?;
    for &(name, mode) in EMPTY_DIRS {
        let p = root.dir.join(name);
        std::fs::DirBuilder::new().mode(mode).create(&p).with_context(|| format!("creating {}", p.display()))?;
        // The umask may have taken bits (1777 for /tmp).
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    }
    let mut sources = Vec::new();
    let mut specs = Vec::new();
    for name in SYSTEM_DIRS {
        let host = Path::new("/").join(name);
        let Ok(meta) = std::fs::symlink_metadata(&host) else { continue };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&host)?;
            symlink(&target, root.dir.join(name)).with_context(|| format!("linking {name}"))?;
        } else if meta.is_dir() {
            std::fs::create_dir(root.dir.join(name)).with_context(|| format!("creating {name}"))?;
            let hide = if *name == "etc" { ETC_HIDDEN.iter().map(|s| s.to_string()).collect() } else { Vec::new() };
            specs.push(MountSpec {
                destination: format!("/{name}").into_bytes(),
                kind: MountKind::HostSystem { source: first_index + sources.len() },
                readonly: false,
            });
            sources.push(gofer::ExtraRoot { path: host, hide, writable: false });
        }
    }
    Ok(HostMounts { root, sources, specs })
}
