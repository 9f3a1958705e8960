//! `--network sandbox`: the network namespace's own interface (the veth
//! that CNI or the user set up), taken for the Sentry's TCP/IP stack.
//!
//! The runtime does the host's part, in the namespace, before the
//! Sentry confines itself: it resolves the egress rules (the interface
//! still has its addresses), then takes the interface
//! (`netstack::capture`): a packet socket bound to it, its addresses and
//! routes copied, and the addresses moved off the host side. Under
//! `husk run` a watcher process gives them back when the sandbox ends;
//! an OCI container's namespace goes with the container.

use std::io::Write;
use std::sync::Mutex;

use anyhow::Context;

use crate::Globals;

/// Where audit lines go: the `--log` file, or stderr.
pub fn audit_sink(g: &Globals) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match &g.log {
        Some(p) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(p).context("log file")?),
        None => Box::new(std::io::stderr()),
    })
}

/// Takes the namespace's interface for the sandbox `sandbox` (its name in
/// audit lines), under `rules`: None when the namespace has no interface
/// but the loopback (the sandbox then has the loopback only). `restore`
/// leaves a watcher that gives the interface its addresses back once this
/// process is gone.
pub fn take(
    g: &Globals,
    sandbox: &str,
    rules: &[String],
    dns: &[std::net::IpAddr],
    restore: bool,
) -> anyhow::Result<Option<sentry::NetworkStack>> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!("--network sandbox needs root: it takes the network namespace's interface");
    }
    let nameservers: Vec<_> = dns.iter().map(|&ip| std::net::SocketAddr::new(ip, 53)).collect();
    let policy = netrelay::Policy::parse(rules, &nameservers)?;
    let Some(captured) = netstack::capture::capture()? else {
        log::info!("network sandbox: the namespace has no interface but the loopback");
        return Ok(None);
    };
    log::info!(
        "network sandbox: {} ({:?}, mtu {}, gateway {:?})",
        captured.config.name,
        captured.config.addrs,
        captured.config.mtu,
        captured.config.gateway4
    );
    if restore {
        watch_and_restore(&captured)?;
    }
    let out = Mutex::new(audit_sink(g)?);
    let sandbox = sandbox.to_owned();
    let audit: sentry::AuditHook = Box::new(move |a| {
        let line = crate::relay::audit_line(&sandbox, &a, &crate::logging::chrono_now());
        let _ = out.lock().unwrap_or_else(|e| e.into_inner()).write_all(line.as_bytes());
    });
    let netstack::capture::Captured { fd, config, .. } = captured;
    Ok(Some(sentry::NetworkStack { fd, config, policy, nameservers, audit }))
}

/// Leaves a watcher that gives the interface its addresses and routes
/// back once this process is gone.
fn watch_and_restore(captured: &netstack::capture::Captured) -> anyhow::Result<()> {
    // The child runs on its own copy of `captured`.
    crate::sys::fork_watcher(|| captured.restore()).context("starting the network watcher")
}
