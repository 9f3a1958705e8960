//! An OCI bundle's config.json, read with the `oci-spec` crate and reduced
//! to what Husk does with it: a [`Plan`] of plain data.
//!
//! Fields Husk cannot honour are logged once each, by name. None is applied
//! half-way: where a field would change behaviour and Husk cannot give that
//! behaviour (a user namespace mapping, say), the log says it is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

/// A process to run: init, or an exec'd one (sent as is to the sandbox
/// over the control socket).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcessPlan {
    /// argv.
    pub args: Vec<String>,
    /// `KEY=VALUE` each.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: String,
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Whether it gets a terminal.
    pub terminal: bool,
    /// The terminal's size, (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// (resource, soft, hard) limits, by Linux resource number.
    pub rlimits: Vec<(u32, u64, u64)>,
    /// Whether PR_SET_NO_NEW_PRIVS is set.
    pub no_new_privileges: bool,
    /// `process.capabilities`; None when the config has none (the
    /// process then has what runc would leave it: see
    /// [`crate::caps::unspecified`]).
    #[serde(default)]
    pub caps: Option<crate::caps::CapsPlan>,
}

/// A mount from config.json.
#[derive(Clone, Debug, PartialEq)]
pub struct MountPlan {
    /// Where, inside the container.
    pub destination: String,
    /// The filesystem type (`bind` for bind mounts).
    pub kind: String,
    /// The source: a host path for bind mounts.
    pub source: Option<PathBuf>,
    /// Whether it is read-only.
    pub readonly: bool,
    /// The mode of a tmpfs's root, from `mode=`.
    pub mode: Option<u32>,
    /// A tmpfs's size limit in bytes, from `size=`.
    pub size: Option<u64>,
    /// A tmpfs's `nosuid`, `nodev` and `noexec` options.
    pub flags: sentry::MountFlags,
}

/// Network namespace handling.
#[derive(Clone, Debug, PartialEq)]
pub enum NetNs {
    /// No network namespace asked for: stay in the caller's.
    Host,
    /// A new, empty one.
    New,
    /// Join the one at this path.
    Join(PathBuf),
}

/// Cgroup limits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Max number of host tasks.
    pub pids: Option<i64>,
    /// Relative CPU weight (cgroup v1 shares).
    pub cpu_shares: Option<u64>,
    /// CPU quota per period, microseconds.
    pub cpu_quota: Option<i64>,
    /// CPU period, microseconds.
    pub cpu_period: Option<u64>,
}

/// What Husk does with a bundle.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The bundle directory, absolute.
    pub bundle: PathBuf,
    /// The root filesystem, absolute.
    pub rootfs: PathBuf,
    /// Whether the root is read-only.
    pub readonly_root: bool,
    /// The container's init.
    pub process: ProcessPlan,
    /// The hostname.
    pub hostname: Option<String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Mounts, in order.
    pub mounts: Vec<MountPlan>,
    /// The network namespace.
    pub netns: NetNs,
    /// Cgroup limits.
    pub resources: Resources,
    /// `linux.cgroupsPath`.
    pub cgroups_path: Option<String>,
    /// The hooks to run (see `oci::hooks`).
    pub hooks: super::hooks::Hooks,
}

impl ProcessPlan {
    /// The Sentry's description of this process, with `stdio` as its fds
    /// 0 to 2.
    pub fn to_sentry(&self, stdio: Vec<std::os::fd::OwnedFd>) -> anyhow::Result<sentry::ProcessConfig> {
        let program = self.args.first().context("process.args must not be empty")?;
        Ok(sentry::ProcessConfig {
            program: program.clone().into_bytes(),
            argv: self.args.iter().map(|a| a.clone().into_bytes()).collect(),
            envp: self.env.iter().map(|e| e.clone().into_bytes()).collect(),
            cwd: self.cwd.clone().into_bytes(),
            user: (self.uid, self.gid),
            groups: self.groups.clone(),
            stdio,
            rlimits: self.rlimits.clone(),
            no_new_privs: self.no_new_privileges,
            caps: self.caps.unwrap_or_else(|| crate::caps::unspecified(self.uid)).into(),
        })
    }
}

/// Reads `BUNDLE/config.json`.
pub fn load(bundle: &Path) -> anyhow::Result<Plan> {
    let bundle = std::fs::canonicalize(bundle).with_context(|| format!("bundle {}", bundle.display()))?;
    let config = bundle.join("config.json");
    let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
    let spec: Spec = serde_json::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
    plan(&bundle, &spec)
}

/// Reduces a parsed spec to a plan.
pub fn plan(bundle: &Path, spec: &Spec) -> anyhow::Result<Plan> {
    let root = spec.root().as_ref().context("config.json has no root")?;
    let rootfs = if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
    if !rootfs.is_dir() {
        bail!("rootfs {}: not a directory", rootfs.display());
    }
    gofer::check_root(&rootfs)?;
    let process = spec.process().as_ref().context("config.json has no process")?;
    let process = process_plan(process)?;
    let mut mounts = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let options: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
        let bind = options.iter().any(|o| *o == "bind" || *o == "rbind");
        let kind = if bind { "bind".to_string() } else { m.typ().clone().unwrap_or_default() };
        let mode = options.iter().find_map(|o| o.strip_prefix("mode=")).and_then(|m| u32::from_str_radix(m, 8).ok());
        let size = match options.iter().find_map(|o| o.strip_prefix("size=")) {
            Some(s) => Some(tmpfs_size(s).with_context(|| format!("mount at {}", m.destination().display()))?),
            None => None,
        };
        let source = m.source().as_ref().map(|s| if s.is_absolute() { s.clone() } else { bundle.join(s) });
        if let (true, Some(src)) = (bind, &source) {
            gofer::check_root(src).with_context(|| format!("bind mount at {}", m.destination().display()))?;
        }
        mounts.push(MountPlan {
            destination: m.destination().to_string_lossy().into_owned(),
            kind,
            source,
            readonly: options.contains(&"ro"),
            mode,
            size,
            flags: sentry::MountFlags {
                nosuid: options.contains(&"nosuid"),
                nodev: options.contains(&"nodev"),
                noexec: options.contains(&"noexec"),
            },
        });
    }
    let mut netns = NetNs::Host;
    let mut resources = Resources::default();
    let mut cgroups_path = None;
    if let Some(linux) = spec.linux() {
        for ns in linux.namespaces().iter().flatten() {
            match (ns.typ(), ns.path()) {
                (LinuxNamespaceType::Network, Some(p)) => netns = NetNs::Join(p.clone()),
                (LinuxNamespaceType::Network, None) => netns = NetNs::New,
                // The Sentry gives the app its own pid numbering, mount
                // table, hostname and IPC: these hold by construction.
                (
                    LinuxNamespaceType::Pid
                    | LinuxNamespaceType::Mount
                    | LinuxNamespaceType::Uts
                    | LinuxNamespaceType::Ipc
                    | LinuxNamespaceType::Cgroup,
                    None,
                ) => {}
                (t, p) => log_once(&format!(
                    "linux.namespaces: {t:?}{} is not supported and is ignored",
                    p.as_ref().map(|p| format!(" at {}", p.display())).unwrap_or_default()
                )),
            }
        }
        if let Some(r) = linux.resources() {
            if let Some(m) = r.memory() {
                resources.memory = m.limit().filter(|l| *l > 0);
            }
            if let Some(p) = r.pids() {
                resources.pids = Some(p.limit()).filter(|l| *l > 0);
            }
            if let Some(c) = r.cpu() {
                resources.cpu_shares = c.shares().filter(|s| *s > 0);
                resources.cpu_quota = c.quota().filter(|q| *q > 0);
                resources.cpu_period = c.period().filter(|p| *p > 0);
            }
            if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
                // The app never reaches host devices: the Sentry serves its
                // own /dev, so device rules hold trivially.
                log::debug!("linux.resources.devices: the sandbox serves its own devices");
            }
        }
        cgroups_path = linux.cgroups_path().as_ref().map(|p| p.to_string_lossy().into_owned());
        if linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()) {
            log_once("linux.uidMappings: user namespaces are not supported; ids apply inside the sandbox only");
        }
        if linux.seccomp().is_some() {
            log_once("linux.seccomp: the app's syscalls never reach the host; the profile is not applied");
        }
    }
    let readonly_root = root.readonly().unwrap_or(false);
    let annotations: BTreeMap<String, String> = spec.annotations().clone().unwrap_or_default().into_iter().collect();
    // Checked here, so that create refuses it before anything is made.
    super::sandbox::root_writes_of(readonly_root, &annotations)?;
    Ok(Plan {
        bundle: bundle.to_path_buf(),
        rootfs,
        readonly_root,
        process,
        hostname: spec.hostname().clone(),
        annotations,
        mounts,
        netns,
        resources,
        cgroups_path,
        hooks: super::hooks::Hooks::of(spec.hooks().as_ref()),
    })
}

/// A tmpfs `size=` option in bytes, as Linux reads it: a number with an
/// optional k, m or g (binary), or a percentage of the host's memory;
/// rounded up to pages.
fn tmpfs_size(s: &str) -> anyhow::Result<u64> {
    let bad = || anyhow::anyhow!("invalid tmpfs size {s:?}");
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = match unit.to_ascii_lowercase().as_str() {
        "" => Some(n),
        "k" => n.checked_mul(1 << 10),
        "m" => n.checked_mul(1 << 20),
        "g" => n.checked_mul(1 << 30),
        "%" => {
            let total = nix::sys::sysinfo::sysinfo().map_err(|_| bad())?.ram_total();
            n.checked_mul(total).map(|b| b / 100)
        }
        _ => None,
    };
    bytes.map(|b| b.div_ceil(4096) * 4096).ok_or_else(bad)
}

/// Reduces an OCI process (config.json's, or `exec --process`'s).
pub fn process_plan(p: &Process) -> anyhow::Result<ProcessPlan> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        bail!("process.args must not be empty");
    }
    let cwd = p.cwd().to_string_lossy().into_owned();
    if !cwd.starts_with('/') {
        bail!("process.cwd {cwd:?} must be an absolute path");
    }
    let mut rlimits = Vec::new();
    for r in p.rlimits().iter().flatten() {
        rlimits.push((r.typ() as u32, r.soft(), r.hard()));
    }
    if p.apparmor_profile().is_some() || p.selinux_label().is_some() {
        log_once("process: AppArmor and SELinux labels do not apply inside the sandbox and are ignored");
    }
    Ok(ProcessPlan {
        args,
        env: p.env().clone().unwrap_or_default(),
        cwd,
        uid: p.user().uid(),
        gid: p.user().gid(),
        groups: p.user().additional_gids().clone().unwrap_or_default(),
        terminal: p.terminal().unwrap_or(false),
        console_size: p
            .console_size()
            .map(|b| (u16::try_from(b.height()).unwrap_or(u16::MAX), u16::try_from(b.width()).unwrap_or(u16::MAX))),
        rlimits,
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        caps: p.capabilities().as_ref().map(crate::caps::from_oci).transpose().context("process.capabilities")?,
    })
}

/// Logs `msg` at warning level once per process.
pub fn log_once(msg: &str) {
    static SEEN: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    if SEEN.lock().unwrap_or_else(|e| e.into_inner()).insert(msg.to_string()) {
        log::warn!("{msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_sizes_read_as_linux_reads_them() {
        assert_eq!(tmpfs_size("65536k").unwrap(), 64 << 20);
        assert_eq!(tmpfs_size("64m").unwrap(), 64 << 20);
        assert_eq!(tmpfs_size("1G").unwrap(), 1 << 30);
        assert_eq!(tmpfs_size("100").unwrap(), 4096, "rounded up to a page");
        assert!(tmpfs_size("50%").unwrap() > 0);
        for bad in ["", "lots", "10x", "k", "99999999999999999999g"] {
            assert!(tmpfs_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_bind_mount_or_rootfs_on_a_pseudo_filesystem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let with_bind = |src: &str| {
            spec(&format!(
                r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"process":{{"args":["true"],"cwd":"/","user":{{"uid":0,"gid":0}}}},
                "mounts":[{{"destination":"/host","type":"bind","source":"{src}","options":["rbind","ro"]}}]}}"#
            ))
        };
        let err = format!("{:#}", plan(dir.path(), &with_bind("/proc")).unwrap_err());
        assert!(err.contains("bind mount at /host") && err.contains("/proc is on procfs"), "{err}");
        let err = format!("{:#}", plan(dir.path(), &with_bind("/sys/fs")).unwrap_err());
        assert!(err.contains("sysfs"), "{err}");
        assert!(plan(dir.path(), &with_bind(dir.path().to_str().unwrap())).is_ok());
        let on_proc = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"/proc/self"},"process":{"args":["true"],"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        let err = format!("{:#}", plan(dir.path(), &on_proc).unwrap_err());
        assert!(err.contains("/proc/self is on procfs"), "{err}");
    }

    #[test]
    fn a_containerd_style_config_becomes_a_plan() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
            "process":{"args":["sh","-c","exit 7"],"env":["PATH=/bin"],"cwd":"/","user":{"uid":1000,"gid":100,"additionalGids":[10]},
              "terminal":true,"consoleSize":{"height":30,"width":100},"noNewPrivileges":true,"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":512}]},
            "hostname":"box","annotations":{"a":"b"},
            "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                      {"destination":"/data","type":"none","source":"/srv","options":["rbind","ro"]},
                      {"destination":"/run","type":"tmpfs","source":"tmpfs","options":["mode=755"]}],
            "linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/x"}],
              "cgroupsPath":"/default/c1",
              "resources":{"memory":{"limit":104857600},"pids":{"limit":64},"cpu":{"shares":512,"quota":50000,"period":100000}}}}"#,
        );
        let p = plan(dir.path(), &s).unwrap();
        assert_eq!(p.rootfs, dir.path().join("rootfs"));
        assert!(p.readonly_root);
        assert_eq!(p.process.args, ["sh", "-c", "exit 7"]);
        assert_eq!((p.process.uid, p.process.gid, p.process.groups.clone()), (1000, 100, vec![10]));
        assert!(p.process.no_new_privileges);
        // No process.capabilities: what runc would leave uid 1000 (the
        // bounding set only).
        assert_eq!(p.process.caps, None);
        let caps = p.process.to_sentry(Vec::new()).unwrap().caps;
        assert_eq!(caps, sentry::CapSets { bounding: (1 << 41) - 1, ..sentry::CapSets::default() });
        assert!(p.process.terminal);
        assert_eq!(p.process.console_size, Some((30, 100)));
        assert_eq!(p.process.rlimits, vec![(7, 512, 1024)]);
        assert_eq!(p.hostname.as_deref(), Some("box"));
        assert_eq!(p.annotations.get("a").map(String::as_str), Some("b"));
        assert_eq!(p.mounts[0].kind, "proc");
        assert_eq!(p.mounts[1].kind, "bind");
        assert!(p.mounts[1].readonly);
        assert_eq!(p.mounts[1].source.as_deref(), Some(Path::new("/srv")));
        assert_eq!(p.mounts[2].mode, Some(0o755));
        assert_eq!(p.netns, NetNs::Join("/var/run/netns/x".into()));
        assert_eq!(p.cgroups_path.as_deref(), Some("/default/c1"));
        assert_eq!(
            p.resources,
            Resources {
                memory: Some(104857600),
                pids: Some(64),
                cpu_shares: Some(512),
                cpu_quota: Some(50000),
                cpu_period: Some(100000)
            }
        );
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let no_rootfs = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"missing"},"process":{"args":["x"],"cwd":"/","user":{"uid":0,"gid":0}}}"#,
        );
        assert!(plan(dir.path(), &no_rootfs).unwrap_err().to_string().contains("not a directory"));
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let no_args =
            spec(r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","user":{"uid":0,"gid":0}}}"#);
        assert!(plan(dir.path(), &no_args).unwrap_err().to_string().contains("args"));
        let rel_cwd = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["x"],"cwd":"tmp","user":{"uid":0,"gid":0}}}"#,
        );
        assert!(plan(dir.path(), &rel_cwd).unwrap_err().to_string().contains("absolute"));
    }
}
