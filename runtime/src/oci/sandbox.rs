//! The sandbox process: the host process `husk create` leaves behind, whose
//! pid goes in the pid file, and whose exit status is the container's.
//!
//! It joins the container's cgroups and network namespace, starts the
//! Gofer, boots the Sentry with the program loaded, and reports "ready" (or
//! why not) to `create` through a pipe. It then serves the control socket:
//! `start` runs init; `kill`, `exec` and `ps` reach into the running
//! sandbox. When init exits, every other process of the sandbox ends, and
//! this process exits with init's status (N, or 128 + the signal).

use std::cell::Cell;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use anyhow::Context;

use super::bundle::ProcessPlan;
use super::bundle::{self, NetNs, Plan};
use super::control::{self, Channel, Request, Response};
use crate::{spawn_gofer, Globals, Gofer};

/// Arguments `create` passes to the sandbox process.
#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// The container id.
    #[arg(long)]
    pub id: String,
    /// The bundle.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The fd to report readiness on.
    #[arg(long)]
    pub ready_fd: i32,
    /// The fd of the listening control socket.
    #[arg(long)]
    pub control_fd: i32,
    /// Cgroup directories to join first.
    #[arg(long = "cgroup")]
    pub cgroups: Vec<PathBuf>,
    /// With hooks to run: the fd to say the network namespace is there on
    /// (`create` then runs them) ...
    #[arg(long)]
    pub hooks_fd: Option<i32>,
    /// ... and the fd to wait on before booting.
    #[arg(long)]
    pub go_fd: Option<i32>,
    /// Restore: the checkpoint image's state file ...
    #[arg(long, requires = "restore_pages_fd")]
    pub restore_state_fd: Option<i32>,
    /// ... and its pages file.
    #[arg(long, requires = "restore_state_fd")]
    pub restore_pages_fd: Option<i32>,
    /// ... read only as the pages are touched.
    #[arg(long, requires = "restore_pages_fd")]
    pub restore_pages_on_demand: bool,
    /// ... and its file of an overlay's files on disk.
    #[arg(long, requires = "restore_pages_fd")]
    pub restore_disk_fd: Option<i32>,
    /// The overlay root's store on disk ([`OVERLAY_ANNOTATION`]): a
    /// private directory `create` made.
    #[arg(long)]
    pub overlay_dir: Option<PathBuf>,
}

/// The control connections being answered. The sandbox process waits for
/// them before it exits, so that a request that ends the container (a
/// kill, or the start of a program that exits at once) still gets its
/// answer: the process may otherwise be gone before the reply is written.
static ANSWERING: AtomicUsize = AtomicUsize::new(0);

/// How long an ending sandbox waits for answers in progress.
const ANSWER_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// One connection being answered; counted in [`ANSWERING`] until dropped
/// or released (an exec's connection lasts as long as its process, which
/// the sandbox's end ends anyway).
struct Answering {
    counted: Cell<bool>,
}

impl Answering {
    fn begin() -> Answering {
        ANSWERING.fetch_add(1, Ordering::SeqCst);
        Answering { counted: Cell::new(true) }
    }

    fn release(&self) {
        if self.counted.replace(false) {
            ANSWERING.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits (at most [`ANSWER_GRACE`]) until no answer is in progress.
    fn wait_idle() {
        let start = std::time::Instant::now();
        while ANSWERING.load(Ordering::SeqCst) > 0 && start.elapsed() < ANSWER_GRACE {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.release();
    }
}

/// What the control thread tells the main thread.
enum Event {
    /// `start`: run init.
    Start,
    /// A signal before start: end now with 128 + it.
    KilledBeforeStart(i32),
}

/// The sandbox process's main.
pub fn main(g: &Globals, args: SandboxArgs) -> ExitCode {
    // Before any thread starts: a ^C on the console (or a stray SIGTERM)
    // must wait for the forwarding thread, not end the sandbox.
    crate::sys::block_forwarded_signals();
    let ready = match crate::sys::adopt_fd(args.ready_fd) {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => {
            log::error!("sandbox: ready fd: {e}");
            return ExitCode::from(1);
        }
    };
    // Adopted (close-on-exec) before anything is started, so the Gofer
    // does not inherit the control socket.
    let listener = match crate::sys::adopt_fd(args.control_fd) {
        Ok(fd) => fd,
        Err(e) => {
            let mut ready = ready;
            let _ = ready.write_all(format!("control socket: {e}").as_bytes());
            return ExitCode::from(1);
        }
    };
    // A restore's image, adopted as early, for the same reason.
    let restore = match (args.restore_state_fd, args.restore_pages_fd) {
        (Some(state), Some(pages)) => match (
            crate::sys::adopt_fd(state),
            crate::sys::adopt_fd(pages),
            args.restore_disk_fd.map(crate::sys::adopt_fd).transpose(),
        ) {
            (Ok(state), Ok(pages), Ok(disk)) => {
                Some(sentry::RestoreFrom { state, pages, pages_on_demand: args.restore_pages_on_demand, disk })
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                let mut ready = ready;
                let _ = ready.write_all(format!("the checkpoint image's files: {e}").as_bytes());
                return ExitCode::from(1);
            }
        },
        _ => None,
    };
    // First, so the Sentry, the Gofer and the stubs are born in the
    // cgroups too (and the CPU count is read within them).
    if let Err(e) = (super::cgroup::Cgroups { dirs: args.cgroups.clone() }.join_self()) {
        let mut ready = ready;
        let _ = ready.write_all(format!("{e:#}").as_bytes());
        return ExitCode::from(1);
    }
    // The container's network namespace, entered here, so that this
    // process (whose pid the hooks and the shim get) is in it, and hooks
    // that give it an interface (Docker's) run before the Sentry looks.
    let shares_callers = match enter_container_netns(&args) {
        Ok(shares) => shares,
        Err(e) => {
            let mut ready = ready;
            let _ = ready.write_all(format!("{e:#}").as_bytes());
            return ExitCode::from(1);
        }
    };
    if let (Some(there), Some(go)) = (args.hooks_fd, args.go_fd) {
        if !hooks_ran(there, go) {
            // create's report says why (or create is gone).
            return ExitCode::from(1);
        }
    }
    // The Sentry is a process of its own: the first of a new pid namespace
    // where root may make one, confined before it boots. This one, the
    // pid containerd knows, stays outside to pass signals on and report
    // how the sandbox ended.
    crate::sys::new_pid_namespace();
    match crate::sys::fork_sentry() {
        Ok(crate::sys::Forked::Sentry) => {
            let code = sentry_main(g, &args, ready, listener, shares_callers, restore);
            std::process::exit(i32::from(code));
        }
        Ok(crate::sys::Forked::Parent(pid)) => {
            drop(ready);
            drop(listener);
            crate::sys::forward_signals_to_pid(pid);
            match crate::sys::wait_for_child(pid) {
                Ok(status) => ExitCode::from(crate::shell_status(status) as u8),
                Err(e) => {
                    log::error!("sandbox: waiting for the Sentry: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            let mut ready = ready;
            let _ = ready.write_all(format!("starting the Sentry: {e}").as_bytes());
            ExitCode::from(1)
        }
    }
}

/// The sandbox's Sentry process: boots, answers the control socket, runs
/// the container once started, and returns its exit code.
fn sentry_main(
    g: &Globals,
    args: &SandboxArgs,
    ready: std::fs::File,
    listener: OwnedFd,
    shares_callers: bool,
    restore: Option<sentry::RestoreFrom>,
) -> u8 {
    if std::process::id() == 1 {
        crate::sys::receive_forwarded_signals_as_namespace_init();
    }
    let (sandbox, gofer, relay) = match boot(g, args, shares_callers, restore) {
        Ok(s) => s,
        Err(e) => {
            let mut ready = ready;
            let _ = ready.write_all(format!("{e:#}").as_bytes());
            return 1;
        }
    };
    let controller = sandbox.controller();
    let (tx, rx) = mpsc::channel();
    let serving = std::thread::Builder::new().name("control".into()).spawn(move || serve(listener, controller, tx));
    if let Err(e) = serving {
        let mut ready = ready;
        let _ = ready.write_all(format!("starting the control thread: {e}").as_bytes());
        return 1;
    }
    {
        let mut ready = ready;
        if ready.write_all(b"ok").is_err() {
            // create is gone: nobody will start or delete this container
            // through us, so end rather than linger.
            return 1;
        }
    }
    let code = match rx.recv() {
        Ok(Event::Start) => {
            crate::sys::forward_signals(sandbox.signaller());
            let status = sandbox.run();
            status.code() as u8
        }
        Ok(Event::KilledBeforeStart(sig)) => (128 + sig) as u8,
        Err(_) => 1,
    };
    // The Gofer is not killed here: the Sentry's filter has no kill(2).
    // It is this process's child in its pid namespace, which ends with it
    // (or, without one, it dies with the thread that started it).
    std::mem::forget(gofer);
    // Nor the relay: it ends when the Sentry's end of its socket closes.
    std::mem::forget(relay);
    Answering::wait_idle();
    code
}

/// The annotation that says where the app's writes to a writable root go:
/// `host` (the default, as runc: the bundle's rootfs) or `overlay` (an
/// overlay in the sandbox's memory, as runsc's `--overlay2=root:memory`:
/// the rootfs is never written, and the changes go with the sandbox).
pub const ROOT_WRITES_ANNOTATION: &str = "dev.husk.root-writes";

/// Where the app's writes to the root go, from config.json's
/// `root.readonly` and [`ROOT_WRITES_ANNOTATION`].
pub fn root_writes_of(
    readonly: bool,
    annotations: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<sentry::RootWrites> {
    match (readonly, annotations.get(ROOT_WRITES_ANNOTATION).map(String::as_str)) {
        (true, None) => Ok(sentry::RootWrites::ReadOnly),
        (true, Some(_)) => anyhow::bail!("annotation {ROOT_WRITES_ANNOTATION} is for a root that is not read-only"),
        (false, None | Some("host")) => Ok(sentry::RootWrites::Host),
        (false, Some("overlay")) => Ok(sentry::RootWrites::Overlay),
        (false, Some(other)) => {
            anyhow::bail!("annotation {ROOT_WRITES_ANNOTATION}={other:?}: expected host or overlay")
        }
    }
}

/// The annotation that says where an overlay root (see
/// [`ROOT_WRITES_ANNOTATION`]) keeps its files' data: `memory` (the
/// default) or `disk:DIR`, a private directory made under the absolute
/// path DIR for the container's life, as `husk run --overlay disk:DIR`
/// (runsc's `--overlay2=root:DIR`). Big writes then take disk, not the
/// sandbox's memory.
pub const OVERLAY_ANNOTATION: &str = "dev.husk.overlay";

/// The directory under which the overlay root keeps its files' data, if
/// [`OVERLAY_ANNOTATION`] puts it on disk.
pub fn overlay_disk_of(
    readonly: bool,
    annotations: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Option<PathBuf>> {
    match annotations.get(OVERLAY_ANNOTATION).map(String::as_str) {
        None | Some("memory") => Ok(None),
        Some(value) => {
            let Some(dir) = value.strip_prefix("disk:").filter(|d| Path::new(d).is_absolute()) else {
                anyhow::bail!("annotation {OVERLAY_ANNOTATION}={value:?}: expected memory or disk:DIR, DIR absolute");
            };
            if root_writes_of(readonly, annotations)? != sentry::RootWrites::Overlay {
                anyhow::bail!(
                    "annotation {OVERLAY_ANNOTATION}={value}: the root is no overlay \
                     (that needs {ROOT_WRITES_ANNOTATION}=overlay and a root that is not read-only)"
                );
            }
            Ok(Some(PathBuf::from(dir)))
        }
    }
}

/// The annotation that picks the container's network (`sandbox`, `nat`
/// or `none`).
pub const NETWORK_ANNOTATION: &str = "dev.husk.network";
/// The annotation listing `--allow-egress` rules, comma-separated.
pub const ALLOW_EGRESS_ANNOTATION: &str = "dev.husk.network.allow-egress";

/// The network a bundle's annotations ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum OciNetwork {
    /// The loopback only (`none`).
    Loopback,
    /// Host sockets of the container's network namespace (`host`,
    /// weaker isolation, as runsc's `--network=host`).
    Host,
    /// User-mode NAT through a relay, under these egress rules (`nat`).
    Nat(Vec<String>),
    /// The namespace's own interface, under these egress rules (`sandbox`,
    /// the default, as gVisor's).
    Interface(Vec<String>),
}

/// The network a bundle's annotations ask for, where they do not, what
/// `--default-network` and `--default-allow-egress` say (Docker's
/// runtimeArgs), and `sandbox` without either.
pub fn network_of(annotations: &std::collections::BTreeMap<String, String>, g: &Globals) -> anyhow::Result<OciNetwork> {
    let mut annotations = annotations.clone();
    if let (false, Some(n)) = (annotations.contains_key(NETWORK_ANNOTATION), &g.default_network) {
        annotations.insert(NETWORK_ANNOTATION.into(), n.clone());
    }
    if !annotations.contains_key(ALLOW_EGRESS_ANNOTATION) && !g.default_allow_egress.is_empty() {
        annotations.insert(ALLOW_EGRESS_ANNOTATION.into(), g.default_allow_egress.join(","));
    }
    let rules = || -> Vec<String> {
        annotations
            .get(ALLOW_EGRESS_ANNOTATION)
            .map(|r| r.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    match annotations.get(NETWORK_ANNOTATION).map(String::as_str) {
        Some("none") if annotations.contains_key(ALLOW_EGRESS_ANNOTATION) => {
            anyhow::bail!("annotation {ALLOW_EGRESS_ANNOTATION} needs {NETWORK_ANNOTATION}=sandbox or nat")
        }
        Some("none") => Ok(OciNetwork::Loopback),
        Some("nat") => Ok(OciNetwork::Nat(rules())),
        Some("host") => Ok(OciNetwork::Host),
        None | Some("sandbox") => Ok(OciNetwork::Interface(rules())),
        Some(other) => anyhow::bail!("annotation {NETWORK_ANNOTATION}={other:?}: expected sandbox, nat, host or none"),
    }
}

/// Enters the bundle's network namespace; whether it is the one this
/// process was started in.
fn enter_container_netns(args: &SandboxArgs) -> anyhow::Result<bool> {
    let plan = bundle::load(&args.bundle)?;
    let callers_netns = netns_inode();
    enter_netns(&plan.netns)?;
    // A bundle that joins the namespace its runtime was started in (the
    // shim's: the host's, as `ctr run --net-host` gives) shares the host's
    // network; its interfaces are not the container's to take.
    Ok(netns_inode().is_some() && netns_inode() == callers_netns)
}

/// Says the namespace is there on `there`, and waits on `go` while
/// `create` runs the hooks; false if it will not say go.
fn hooks_ran(there: i32, go: i32) -> bool {
    use std::io::Read;
    let (Ok(there), Ok(go)) = (crate::sys::adopt_fd(there), crate::sys::adopt_fd(go)) else { return false };
    if std::fs::File::from(there).write_all(b"n").is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    matches!(std::fs::File::from(go).read(&mut byte), Ok(1))
}

fn boot(
    g: &Globals,
    args: &SandboxArgs,
    shares_callers: bool,
    restore: Option<sentry::RestoreFrom>,
) -> anyhow::Result<(sentry::Sandbox, Gofer, Option<crate::relay::Relay>)> {
    let plan = bundle::load(&args.bundle)?;
    // Under NAT the relay opens its sockets in the container's network
    // namespace (the one CNI set up), subject to the annotations' policy.
    let network = network_of(&plan.annotations, g)?;
    let (relay, relay_ends) = match &network {
        OciNetwork::Nat(rules) => {
            let dns = crate::relay::host_nameservers();
            crate::relay::check_rules(rules, &dns)?;
            let (r, ends) = crate::relay::start(g, &args.id, rules, &dns, &[])?;
            (Some(r), Some(ends))
        }
        _ => (None, None),
    };
    // Or the Sentry's own stack takes the namespace's interface. A joined
    // namespace is the container's (CNI's); a new one has no interface.
    let network_stack = match &network {
        OciNetwork::Interface(rules)
            if !matches!(plan.netns, NetNs::Host) && !shares_callers && !netstack::capture::in_host_namespace() =>
        {
            crate::netsandbox::take(g, &args.id, rules, &crate::relay::host_nameservers(), false)?
        }
        // The machine's own interfaces are never taken.
        OciNetwork::Interface(_) => {
            log::info!("network sandbox: the container is in the host's network namespace; loopback only");
            None
        }
        _ => None,
    };
    let (sources, mounts) = mount_specs(&plan.mounts, image_tmp_is_empty(&plan.rootfs))?;
    // The rootfs is written through the Gofer unless root.readonly, as
    // runc writes it: the changes land in containerd's snapshot. Under an
    // overlay the Gofer serves it read-only.
    let writable = root_writes_of(plan.readonly_root, &plan.annotations)? == sentry::RootWrites::Host;
    let rootfs = gofer::ExtraRoot { path: plan.rootfs.clone(), hide: Vec::new(), writable };
    let mut roots = vec![rootfs];
    roots.extend(sources);
    // The overlay's disk store comes last; the Sentry counts the served
    // trees after the rootfs.
    let overlay_disk = args.overlay_dir.as_ref().map(|dir| {
        roots.push(gofer::ExtraRoot { path: dir.clone(), hide: Vec::new(), writable: true });
        roots.len() - 2
    });
    let (gofer, sentry_sock) = spawn_gofer(&roots)?;
    // With the Gofer started, no host path is needed any more.
    crate::isolation::confine_sentry(&g.platform_name());
    let mut cfg = sandbox_config(g, &plan, stdio()?)?;
    cfg.overlay_disk = overlay_disk;
    cfg.network_stack = network_stack;
    cfg.host_network = matches!(network, OciNetwork::Host);
    let mut mounts = mounts;
    if let Some(ends) = relay_ends {
        cfg.relay = Some(ends.requests);
        cfg.relay_ingress = Some(ends.ingress);
        // The DNS forwarder, unless the bundle brings a resolv.conf.
        if !mounts.iter().any(|m| m.destination == b"/etc/resolv.conf") && plan.rootfs.join("etc").is_dir() {
            mounts.push(sentry::MountSpec {
                destination: b"/etc/resolv.conf".to_vec(),
                kind: sentry::MountKind::File { contents: crate::relay::sandbox_resolv_conf() },
                readonly: true,
            });
        }
    }
    cfg.mounts = Some(mounts);
    let booted = match restore {
        Some(from) => sentry::Sandbox::restore(cfg, sentry_sock, from),
        None => sentry::Sandbox::boot(cfg, sentry_sock),
    };
    match booted {
        Ok(sandbox) => Ok((sandbox, gofer, relay)),
        Err(e) => {
            // The Sentry is confined now: it may not kill the Gofer, which
            // ends with this process's pid namespace (or the thread that
            // started it) instead.
            std::mem::forget(gofer);
            Err(match &e {
                sentry::BootError::Exec { path, errno } => anyhow::anyhow!(exec_error(path, *errno)),
                _ => anyhow::anyhow!("{e}"),
            })
        }
    }
}

/// This process's network namespace (its nsfs inode).
fn netns_inode() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/net").ok().map(|m| m.ino())
}

fn enter_netns(ns: &NetNs) -> anyhow::Result<()> {
    use nix::sched::CloneFlags;
    match ns {
        NetNs::Host => Ok(()),
        NetNs::New => nix::sched::unshare(CloneFlags::CLONE_NEWNET).context("creating a network namespace"),
        NetNs::Join(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("network namespace {}", p.display()))?;
            nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("joining network namespace {}", p.display()))
        }
    }
}

/// This process's fds 0 to 2, for the app.
pub fn stdio() -> anyhow::Result<Vec<OwnedFd>> {
    use std::os::fd::AsFd;
    [
        std::io::stdin().as_fd().try_clone_to_owned(),
        std::io::stdout().as_fd().try_clone_to_owned(),
        std::io::stderr().as_fd().try_clone_to_owned(),
    ]
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .context("duplicating stdio")
}

fn sandbox_config(g: &Globals, plan: &Plan, stdio: Vec<OwnedFd>) -> anyhow::Result<sentry::SandboxConfig> {
    let hostname = match &plan.hostname {
        Some(h) => h.clone(),
        // A new UTS namespace starts with the host's name.
        None => nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    Ok(sentry::SandboxConfig {
        init: plan.process.to_sentry(stdio)?,
        hostname,
        strace: g.strace,
        platform: g.platform_name(),
        mounts: None,
        root: root_writes_of(plan.readonly_root, &plan.annotations)?,
        overlay_disk: None,
        limits: cgroup_limits(&plan.resources),
        relay: None,
        relay_ingress: None,
        network_stack: None,
        host_network: false,
    })
}

/// The limits the sandbox's cgroup view shows: config.json's resources,
/// which the runtime's host cgroup enforces. cpu.weight from cgroup v1
/// shares as runc converts them.
fn cgroup_limits(r: &super::bundle::Resources) -> sentry::CgroupLimits {
    let positive = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).filter(|&v| v > 0);
    sentry::CgroupLimits {
        memory_max: positive(r.memory),
        pids_max: positive(r.pids),
        cpu_max: positive(r.cpu_quota).map(|q| (q, r.cpu_period.unwrap_or(100_000))),
        cpu_weight: r.cpu_shares.map(|s| 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142),
    }
}

/// Whether the rootfs's /tmp is an empty directory, or not there (so that a
/// tmpfs over it hides nothing of the image). A symlink counts as not
/// empty: it is the image's, and is not followed on the host.
fn image_tmp_is_empty(rootfs: &std::path::Path) -> bool {
    let tmp = rootfs.join("tmp");
    match std::fs::symlink_metadata(&tmp) {
        Ok(m) if m.is_dir() => std::fs::read_dir(&tmp).is_ok_and(|mut d| d.next().is_none()),
        Ok(_) => false,
        Err(_) => true,
    }
}

/// The Sentry's mounts for config.json's, and the host sources of its bind
/// mounts (served by the Gofer, in this order; writable unless the mount
/// has the `ro` option). Where the config mounts nothing at /dev/shm, and
/// at /tmp when the image's /tmp is empty (`tmp_is_empty`; as gVisor does),
/// Husk mounts a tmpfs there (runc's containers get them from the image or
/// the config; Husk keeps scratch files off the host's disk); /dev, /proc
/// and /sys are always the Sentry's own (`sentry::with_system_mounts`).
pub fn mount_specs(
    mounts: &[bundle::MountPlan],
    tmp_is_empty: bool,
) -> anyhow::Result<(Vec<gofer::ExtraRoot>, Vec<sentry::MountSpec>)> {
    use sentry::{MountKind, MountSpec};
    let mut sources = Vec::new();
    let mut specs = Vec::new();
    let covers = |dest: &str| mounts.iter().any(|m| m.destination.trim_end_matches('/') == dest);
    let mut defaults = Vec::new();
    if !covers("/dev/shm") {
        defaults.push(("/dev/shm", MountKind::Tmpfs { mode: 0o1777, size: None, flags: Default::default() }));
    }
    if !covers("/tmp") && tmp_is_empty {
        defaults.push(("/tmp", MountKind::Tmpfs { mode: 0o1777, size: None, flags: Default::default() }));
    }
    for m in mounts {
        let dest = m.destination.trim_end_matches('/');
        let kind = match m.kind.as_str() {
            "proc" => MountKind::Proc,
            "sysfs" => MountKind::Sysfs,
            "devpts" => MountKind::Devpts,
            "mqueue" => MountKind::Mqueue,
            // The device nodes runc would make in a /dev tmpfs come from
            // Husk's own device filesystem.
            "tmpfs" if dest == "/dev" => MountKind::Devfs,
            "tmpfs" => MountKind::Tmpfs { mode: m.mode.unwrap_or(0o1777), size: m.size, flags: m.flags },
            "bind" => {
                let src = m.source.clone().with_context(|| format!("bind mount at {dest} has no source"))?;
                sources.push(gofer::ExtraRoot { path: src, hide: Vec::new(), writable: !m.readonly });
                MountKind::Bind { source: sources.len() - 1 }
            }
            "cgroup" | "cgroup2" => {
                bundle::log_once(&format!(
                    "mount at {dest}: cgroupfs is not served; an empty read-only directory stands in"
                ));
                specs.push(MountSpec {
                    destination: dest.as_bytes().to_vec(),
                    kind: MountKind::Tmpfs { mode: 0o555, size: None, flags: Default::default() },
                    readonly: true,
                });
                continue;
            }
            other => anyhow::bail!("mount at {dest}: filesystem type {other:?} is not supported"),
        };
        specs.push(MountSpec { destination: dest.as_bytes().to_vec(), kind, readonly: m.readonly });
    }
    // The defaults last, so that they land on the config's /dev.
    specs.extend(defaults.into_iter().map(|(d, kind)| MountSpec {
        destination: d.as_bytes().to_vec(),
        kind,
        readonly: false,
    }));
    let all = specs;
    Ok((sources, all))
}

/// Serves control connections, one thread each.
fn serve(listener: OwnedFd, controller: sentry::Controller, events: mpsc::Sender<Event>) {
    let started = Arc::new(AtomicBool::new(false));
    loop {
        let ch = match control::accept(&listener) {
            Ok(ch) => ch,
            Err(e) => {
                log::error!("control socket: {e:#}");
                return;
            }
        };
        let (controller, events, started) = (controller.clone(), events.clone(), started.clone());
        let answering = Answering::begin();
        let _ = std::thread::Builder::new().name("control-conn".into()).spawn(move || {
            if let Err(e) = serve_one(&ch, &controller, &events, &started, &answering) {
                let _ = ch.send(&Response::Error(format!("{e:#}")), &[]);
            }
            drop(answering);
        });
    }
}

fn serve_one(
    ch: &Channel,
    controller: &sentry::Controller,
    events: &mpsc::Sender<Event>,
    started: &AtomicBool,
    answering: &Answering,
) -> anyhow::Result<()> {
    let Some((req, fds)) = ch.recv::<Request>()? else { return Ok(()) };
    match req {
        Request::Start => {
            if started.swap(true, Ordering::SeqCst) {
                anyhow::bail!("the container has already started");
            }
            events.send(Event::Start).context("the sandbox is ending")?;
            ch.send(&Response::Ok, &[])
        }
        Request::Kill { signal, all } => {
            if !started.load(Ordering::SeqCst) && signal != 0 && terminates_by_default(signal) {
                // Like runc's init still waiting to exec: the signal's default
                // action ends it.
                let _ = events.send(Event::KilledBeforeStart(signal));
                return ch.send(&Response::Ok, &[]);
            }
            if all {
                controller.signal_all(signal as u32);
            } else {
                controller.signal_init(signal as u32);
            }
            ch.send(&Response::Ok, &[])
        }
        Request::Pids => ch.send(&Response::Pids(controller.pids()), &[]),
        Request::Checkpoint { leave_running } => {
            if !started.load(Ordering::SeqCst) {
                anyhow::bail!("the container has not started: there is nothing to checkpoint");
            }
            let mut fds = fds.into_iter();
            let (Some(state), Some(pages), disk, None) = (fds.next(), fds.next(), fds.next(), fds.next()) else {
                anyhow::bail!("a checkpoint request needs the state, the pages and the disk files, and nothing else");
            };
            let w = controller.checkpoint(state, pages, disk, leave_running)?;
            ch.send(
                &Response::Checkpointed {
                    processes: w.processes,
                    threads: w.threads,
                    state_bytes: w.state_bytes,
                    page_bytes: w.page_bytes,
                    disk_bytes: w.disk_bytes,
                },
                &[],
            )
        }
        Request::Exec(p) => exec(ch, controller, p, fds, answering),
    }
}

fn exec(
    ch: &Channel,
    controller: &sentry::Controller,
    p: ProcessPlan,
    fds: Vec<OwnedFd>,
    answering: &Answering,
) -> anyhow::Result<()> {
    if fds.len() != 3 {
        anyhow::bail!("exec needs three stdio fds, got {}", fds.len());
    }
    let cfg = p.to_sentry(fds)?;
    let started = controller.exec(cfg).map_err(|e| match &e {
        sentry::BootError::Exec { path, errno } => anyhow::anyhow!(exec_error(path, *errno)),
        _ => anyhow::anyhow!("exec: {e}"),
    })?;
    let pid = started.pid;
    wait_until_shown(controller, pid);
    ch.send(&Response::Started(pid), &[])?;
    // From here the connection lasts as long as the process.
    answering.release();
    let exited = AtomicBool::new(false);
    std::thread::scope(|s| {
        // The proxy forwards the signals it gets; its end (it was killed)
        // ends the process, which has no one left to report to.
        s.spawn(|| loop {
            match ch.recv::<Request>() {
                Ok(Some((Request::Kill { signal, .. }, _))) => {
                    let _ = controller.signal_pid(pid, signal as u32);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    if !exited.load(Ordering::SeqCst) {
                        let _ = controller.signal_pid(pid, libc::SIGKILL as u32);
                    }
                    return;
                }
            }
        });
        // If the sandbox ends first, the sender is dropped: init's end
        // killed the process.
        let code = started.exit.recv().map(|s| s.code()).unwrap_or(128 + libc::SIGKILL);
        exited.store(true, Ordering::SeqCst);
        let sent = ch.send(&Response::Exited(code), &[]);
        // Unblock the reader if the proxy keeps its end open.
        let _ = nix::sys::socket::shutdown(ch.raw_fd(), nix::sys::socket::Shutdown::Both);
        sent
    })
}

/// Waits, for a bounded time, until the new process `pid` has a host
/// process (its stub) that `ps` can list, or has ended: runc's `exec`
/// returns once the process runs, and callers list it right after (the
/// shim's `ps`, `docker top`). The Sentry starts the process's thread, and
/// so its stub, after `exec` returns.
fn wait_until_shown(controller: &sentry::Controller, pid: i32) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < until {
        let pids = controller.pids();
        // No process with a stub: a platform without host processes to show.
        let none_shown = pids.iter().all(|&(_, stub)| stub == 0);
        match pids.into_iter().find(|&(p, _)| p == pid) {
            Some((_, 0)) if !none_shown => std::thread::sleep(std::time::Duration::from_micros(200)),
            _ => return,
        }
    }
}

/// Why the container's process could not be started, in runc's words
/// (`exec: "PROG": ...`): Docker picks `docker run`'s exit status from
/// them (127 for a program that is not there, 126 for one that cannot be
/// executed, else 125), as do other runc callers.
pub fn exec_error(path: &str, errno: abi::Errno) -> String {
    use abi::Errno;
    match errno {
        Errno::ENOENT if !path.contains('/') => format!("exec: {path:?}: executable file not found in $PATH"),
        Errno::ENOENT => format!("exec: {path:?}: stat {path}: no such file or directory"),
        Errno::EACCES => format!("exec: {path:?}: permission denied"),
        e => format!("exec: {}", sentry::BootError::Exec { path: path.to_owned(), errno: e }),
    }
}

/// Whether `sig`'s default action ends a process.
fn terminates_by_default(sig: i32) -> bool {
    use nix::sys::signal::Signal::*;
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(SIGCHLD | SIGURG | SIGWINCH | SIGCONT | SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU) => false,
        Ok(_) => true,
        Err(_) => sig >= libc::SIGRTMIN(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_is_mounted_over_an_empty_image_tmp_only() {
        let root = tempfile::tempdir().unwrap();
        assert!(image_tmp_is_empty(root.path()), "no /tmp");
        std::fs::create_dir(root.path().join("tmp")).unwrap();
        assert!(image_tmp_is_empty(root.path()), "an empty /tmp");
        std::fs::write(root.path().join("tmp/f"), "image").unwrap();
        assert!(!image_tmp_is_empty(root.path()), "a /tmp with a file");
        let other = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", other.path().join("tmp")).unwrap();
        assert!(!image_tmp_is_empty(other.path()), "a symlink is the image's, not followed");
        let tmp_dests = |empty| {
            let (_, specs) = mount_specs(&[], empty).unwrap();
            specs.iter().filter(|m| m.destination == b"/tmp").count()
        };
        assert_eq!((tmp_dests(true), tmp_dests(false)), (1, 0));
    }

    #[test]
    fn exec_errors_have_runcs_words() {
        use abi::Errno;
        assert_eq!(exec_error("nosuch", Errno::ENOENT), "exec: \"nosuch\": executable file not found in $PATH");
        assert_eq!(
            exec_error("/no/prog", Errno::ENOENT),
            "exec: \"/no/prog\": stat /no/prog: no such file or directory"
        );
        assert_eq!(exec_error("/etc/passwd", Errno::EACCES), "exec: \"/etc/passwd\": permission denied");
        let other = exec_error("/bin/x", Errno::ENOEXEC);
        assert!(other.starts_with("exec: /bin/x: "), "{other}");
    }

    #[test]
    fn root_writes_go_to_the_host_unless_an_overlay_is_asked_for() {
        use sentry::RootWrites;
        let with = |v: &str| -> std::collections::BTreeMap<String, String> {
            [(ROOT_WRITES_ANNOTATION.to_owned(), v.to_owned())].into_iter().collect()
        };
        let none = std::collections::BTreeMap::new();
        assert_eq!(root_writes_of(false, &none).unwrap(), RootWrites::Host);
        assert_eq!(root_writes_of(true, &none).unwrap(), RootWrites::ReadOnly);
        assert_eq!(root_writes_of(false, &with("overlay")).unwrap(), RootWrites::Overlay);
        assert_eq!(root_writes_of(false, &with("host")).unwrap(), RootWrites::Host);
        assert!(root_writes_of(false, &with("tmpfs")).is_err());
        assert!(root_writes_of(true, &with("overlay")).is_err(), "a read-only root takes no writes anywhere");
    }

    #[test]
    fn an_overlay_on_disk_needs_an_overlay_root_and_an_absolute_directory() {
        let with = |writes: Option<&str>, overlay: &str| -> std::collections::BTreeMap<String, String> {
            let mut a: std::collections::BTreeMap<String, String> =
                [(OVERLAY_ANNOTATION.to_owned(), overlay.to_owned())].into_iter().collect();
            if let Some(w) = writes {
                a.insert(ROOT_WRITES_ANNOTATION.to_owned(), w.to_owned());
            }
            a
        };
        let overlay = Some("overlay");
        assert_eq!(overlay_disk_of(false, &with(overlay, "disk:/var/tmp")).unwrap(), Some(PathBuf::from("/var/tmp")));
        assert_eq!(overlay_disk_of(false, &with(overlay, "memory")).unwrap(), None);
        assert_eq!(overlay_disk_of(false, &std::collections::BTreeMap::new()).unwrap(), None);
        assert!(overlay_disk_of(false, &with(overlay, "disk:var/tmp")).is_err(), "a relative directory");
        assert!(overlay_disk_of(false, &with(overlay, "disk:")).is_err(), "no directory");
        assert!(overlay_disk_of(false, &with(overlay, "swap")).is_err(), "an unknown medium");
        let e = overlay_disk_of(false, &with(None, "disk:/var/tmp")).unwrap_err().to_string();
        assert!(e.contains("the root is no overlay"), "{e}");
        assert!(overlay_disk_of(false, &with(Some("host"), "disk:/var/tmp")).is_err(), "a root written through");
        assert!(overlay_disk_of(true, &with(None, "disk:/var/tmp")).is_err(), "a read-only root");
    }

    #[test]
    fn runtime_args_give_the_network_of_bundles_without_annotations() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            g: Globals,
        }
        let flags =
            |args: &[&str]| <Flags as clap::Parser>::parse_from(std::iter::once("husk").chain(args.iter().copied())).g;
        let none = std::collections::BTreeMap::new();
        assert_eq!(network_of(&none, &flags(&[])).unwrap(), OciNetwork::Interface(Vec::new()));
        let nat = flags(&[
            "--default-network",
            "nat",
            "--default-allow-egress",
            "10.0.0.0/8",
            "--default-allow-egress",
            "all",
        ]);
        assert_eq!(network_of(&none, &nat).unwrap(), OciNetwork::Nat(vec!["10.0.0.0/8".into(), "all".into()]));
        // The bundle's annotations come first.
        let annotated: std::collections::BTreeMap<String, String> =
            [(NETWORK_ANNOTATION.to_owned(), "none".to_owned())].into_iter().collect();
        assert!(network_of(&annotated, &nat).is_err(), "none with egress rules (the flag's) is refused");
        assert_eq!(network_of(&annotated, &flags(&["--default-network", "nat"])).unwrap(), OciNetwork::Loopback);
        assert!(network_of(&none, &flags(&["--default-network", "bogus"])).is_err());
    }

    #[test]
    fn resources_become_the_cgroup_view() {
        let r = super::super::bundle::Resources {
            memory: Some(268_435_456),
            pids: Some(0),
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: None,
        };
        let l = cgroup_limits(&r);
        assert_eq!(l.memory_max, Some(268_435_456));
        assert_eq!(l.pids_max, None, "0 is no limit");
        assert_eq!(l.cpu_max, Some((50_000, 100_000)));
        assert_eq!(l.cpu_weight, Some(39), "runc's conversion of 1024 shares");
        assert_eq!(cgroup_limits(&Default::default()), sentry::CgroupLimits::default());
    }
}
