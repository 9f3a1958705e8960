//! The private dockerd of `tests/docker/dockerd.sh` and the images the
//! Docker tests run: Debian's Docker 20.10 with the `husk` binary under
//! test registered as the runtimes `husk` (Husk's defaults: egress denied)
//! and `husk-open` (`--default-allow-egress all`), next to Docker's own
//! `runc`.
//!
//! [`docker`] starts it (once per test process) if it is not running, and
//! imports the busybox image; [`debian_image`] imports the Debian test
//! root ([`crate::debian::debian_rootfs`]) as an image. Both imports are
//! cached in the daemon's data root, which outlives it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::oci::Runtime;
use crate::run::{run_command, Outcome};
use crate::{debian, paths};

/// Docker's own CLI of Debian's docker.io (a newer CLI elsewhere on the
/// PATH may not match the 20.10 daemon).
pub const DOCKER_CLI: &str = "/usr/bin/docker";

/// How long one docker command may take.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// The private dockerd.
#[derive(Debug)]
pub struct Dockerd {
    /// Its socket, as `--host` takes it (`unix:///...`).
    pub host: String,
    /// The CLI's configuration directory (`DOCKER_CONFIG`).
    pub cli_config: PathBuf,
    /// Its exec root (sockets, the runtimes' state, its containerd's state).
    pub exec_root: PathBuf,
    /// Its log.
    pub log: PathBuf,
    /// The busybox image's name.
    pub busybox: String,
}

/// `tests/docker/dockerd.sh`.
pub fn dockerd_script() -> PathBuf {
    paths::manifest_dir().join("tests").join("docker").join("dockerd.sh")
}

fn script(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(dockerd_script())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running dockerd.sh {args:?}: {e}"));
    assert!(
        out.status.success(),
        "dockerd.sh {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("dockerd.sh prints text")
}

/// The private dockerd, started with [`paths::husk_bin`] as its husk
/// runtimes (or given that path, if it runs with another), with the
/// busybox image imported.
pub fn docker() -> &'static Dockerd {
    static D: OnceLock<Dockerd> = OnceLock::new();
    D.get_or_init(|| {
        let husk = paths::husk_bin();
        let husk = std::fs::canonicalize(&husk).unwrap_or(husk);
        script(&["start", &husk.to_string_lossy()]);
        let env = script(&["env"]);
        let get = |key: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("dockerd.sh env printed no {key}:\n{env}"))
                .to_owned()
        };
        let busybox = script(&["busybox"]).trim().to_owned();
        Dockerd {
            host: get("HOST"),
            cli_config: PathBuf::from(get("DOCKER_CONFIG")),
            exec_root: PathBuf::from(get("EXEC_ROOT")),
            log: PathBuf::from(get("LOG")),
            busybox,
        }
    })
}

/// The Debian test root as an image (with python3), imported once.
pub fn debian_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        docker();
        let root = debian::debian_rootfs();
        script(&["debian", &root.to_string_lossy()]).trim().to_owned()
    })
}

impl Dockerd {
    /// `docker --config DIR --host SOCK`, as arguments.
    pub fn cli_args(&self) -> Vec<String> {
        vec![
            DOCKER_CLI.to_owned(),
            "--config".to_owned(),
            self.cli_config.to_string_lossy().into_owned(),
            "--host".to_owned(),
            self.host.clone(),
        ]
    }

    /// `docker --config DIR --host SOCK`, to which the caller adds a command.
    pub fn cli(&self) -> Command {
        let argv = self.cli_args();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd
    }

    /// Runs `docker ARGS`, killed after [`DOCKER_TIMEOUT`].
    pub fn run(&self, args: &[&str]) -> Outcome {
        let mut cmd = self.cli();
        cmd.args(args);
        run_command(cmd, None, DOCKER_TIMEOUT, "docker")
    }

    /// The bundle directory its containerd's runc.v2 shim makes for the
    /// container with full id `id`.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.exec_root.join("containerd/daemon/io.containerd.runtime.v2.task/moby").join(id)
    }

    /// The `--root` the shim gives the runtime (Docker 20.10 names it
    /// after runc whichever runtime runs).
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime-runc/moby")
    }
}

/// The name of `rt` in the daemon's runtimes: Docker's built-in `runc`,
/// or `husk`.
pub fn runtime_name(rt: Runtime) -> &'static str {
    rt.name()
}

/// The cgroup (relative, cgroupfs driver) Docker gives container `id`.
pub fn cgroup(id: &str) -> String {
    format!("docker/{id}")
}

/// Whether Docker is installed (`/usr/bin/docker` and dockerd).
pub fn installed() -> bool {
    Path::new(DOCKER_CLI).is_file() && Path::new("/usr/sbin/dockerd").is_file()
}
