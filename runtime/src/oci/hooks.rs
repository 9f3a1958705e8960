//! OCI hooks (runtime-spec, "POSIX-platform Hooks"), run as runc runs them:
//! - `prestart` (deprecated, still Docker's way of giving a container its
//!   network: libnetwork-setkey) and `createRuntime`: during `create`, in
//!   the runtime's namespaces, once the container's network namespace
//!   exists (the sandbox process is in it) and before the Sentry boots, so
//!   that the interface a hook moves in is the one the sandbox takes. A
//!   failure fails the create.
//! - `poststart`: after `start` started the program; a failure is a
//!   warning.
//! - `poststop`: during `delete`; a failure is a warning.
//!
//! `createContainer` and `startContainer` run in the container's own
//! namespaces, which a sandbox does not have on the host: they are not
//! run (logged once).
//!
//! Each hook gets the container's state as JSON on its stdin, `args` as
//! its argv (argv[0] included, as the spec says), exactly `env` as its
//! environment, and is killed past its `timeout`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// One hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    path: PathBuf,
    args: Vec<String>,
    env: Vec<String>,
    timeout: Option<Duration>,
}

/// A bundle's hooks, by when they run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `prestart`, then `createRuntime`.
    pub create_runtime: Vec<Hook>,
    /// `poststart`.
    pub poststart: Vec<Hook>,
    /// `poststop`.
    pub poststop: Vec<Hook>,
}

impl Hooks {
    /// The hooks of a spec.
    pub fn of(spec: Option<&oci_spec::runtime::Hooks>) -> Hooks {
        let Some(h) = spec else { return Hooks::default() };
        let list = |l: &Option<Vec<oci_spec::runtime::Hook>>| -> Vec<Hook> {
            l.iter()
                .flatten()
                .map(|h| Hook {
                    path: h.path().clone(),
                    args: h.args().clone().unwrap_or_default(),
                    env: h.env().clone().unwrap_or_default(),
                    timeout: h.timeout().map(|s| Duration::from_secs(s.max(1) as u64)),
                })
                .collect()
        };
        if h.create_container().as_ref().is_some_and(|l| !l.is_empty())
            || h.start_container().as_ref().is_some_and(|l| !l.is_empty())
        {
            super::bundle::log_once(
                "hooks.createContainer and hooks.startContainer run in the container's namespaces, \
                 which the sandbox does not have on the host: they are not run",
            );
        }
        let mut create_runtime = list(h.prestart());
        create_runtime.extend(list(h.create_runtime()));
        Hooks { create_runtime, poststart: list(h.poststart()), poststop: list(h.poststop()) }
    }
}

/// The state a hook reads on its stdin.
pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &std::path::Path,
    annotations: &std::collections::BTreeMap<String, String>,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ociVersion": oci_spec::runtime::VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
    });
    if !annotations.is_empty() {
        v["annotations"] = serde_json::json!(annotations);
    }
    v
}

/// Runs `hooks` in order, each with `state`; the first failure is the
/// error ("`what` hook PATH: ...").
pub fn run_all(what: &str, hooks: &[Hook], state: &serde_json::Value) -> anyhow::Result<()> {
    for h in hooks {
        run(h, state).with_context(|| format!("{what} hook {}", h.path.display()))?;
    }
    Ok(())
}

/// Runs `hooks`, logging a warning for each that fails.
pub fn run_all_warning(what: &str, hooks: &[Hook], state: &serde_json::Value) {
    for h in hooks {
        if let Err(e) = run(h, state) {
            log::warn!("{what} hook {}: {e:#}", h.path.display());
        }
    }
}

/// How long a hook without a timeout may take.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

fn run(h: &Hook, state: &serde_json::Value) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&h.path);
    if let Some((arg0, rest)) = h.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for e in &h.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).current_dir("/");
    let mut child = cmd.spawn().context("starting it")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state closes the pipe: no error.
        let _ = stdin.write_all(state.to_string().as_bytes());
    }
    // Read as it comes, so that a talkative hook never blocks on a full pipe.
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut text);
            text
        })
    });
    let deadline = Instant::now() + h.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let status = loop {
        if let Some(s) = child.try_wait().context("waiting for it")? {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if !status.success() {
        bail!("{status}: {}", err.trim());
    }
    Ok(())
}
