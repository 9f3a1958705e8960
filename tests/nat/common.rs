//! What the network tests (`nat.rs`, `netsandbox.rs`, `containerd.rs`)
//! share.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Starts `tests/nat/servers.py` in namespace `ns` on `addr`, serving
/// `www` and answering DNS for `name`; returns once it says it is ready.
pub fn start_servers(ns: &str, addr: &str, www: &Path, name: &str) -> Child {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/nat/servers.py");
    let mut servers = Command::new("ip")
        .args(["netns", "exec", ns, "python3"])
        .arg(&script)
        .args([addr, &www.display().to_string(), name])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the servers");
    let mut line = String::new();
    BufReader::new(servers.stdout.take().expect("servers' stdout")).read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "ready", "the test servers did not start");
    servers
}

/// The egress audit records among a log's lines.
pub fn egress_audits(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["audit"] == "egress")
        .collect()
}

/// Two namespaces joined by a veth pair: the sandbox's end has
/// `sandbox`/24 with a default route via `server`, which the servers'
/// namespace holds.
pub struct Pair {
    /// The sandbox's namespace.
    pub ns: String,
    /// The servers' namespace.
    pub server_ns: String,
    /// The sandbox's interface, in `ns`.
    pub ifname: String,
    /// The sandbox's end's address.
    pub sandbox: String,
    /// The servers' address.
    pub server: String,
    servers: Child,
    _www: tempfile::TempDir,
}

/// Runs `ip ARGS`, which must succeed; its stdout.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Pair {
    /// A new pair, on a /24 of 10.`octet`.0.0/16.
    pub fn new(octet: u8) -> Pair {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = std::process::id() % 100_000;
        let (ns, server_ns) = (format!("hsb{octet}-{id}-{n}a"), format!("hsb{octet}-{id}-{n}s"));
        let (ifname, peer) = (format!("h{octet}{id}a{n}"), format!("h{octet}{id}s{n}"));
        let net = (id * 8 + n) % 250 + 1;
        let (sandbox, server) = (format!("10.{octet}.{net}.2"), format!("10.{octet}.{net}.1"));
        for ns in [&ns, &server_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["link", "add", &ifname, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &ifname, "netns", &ns]);
        ip(&["link", "set", &peer, "netns", &server_ns]);
        ip(&["-n", &ns, "addr", "add", &format!("{sandbox}/24"), "dev", &ifname]);
        ip(&["-n", &ns, "link", "set", &ifname, "up"]);
        ip(&["-n", &ns, "route", "add", "default", "via", &server]);
        ip(&["-n", &server_ns, "addr", "add", &format!("{server}/24"), "dev", &peer]);
        ip(&["-n", &server_ns, "link", "set", &peer, "up"]);
        let www = tempfile::tempdir().expect("a web root");
        std::fs::write(www.path().join("index.html"), "hello from the servers' namespace\n").expect("write");
        let servers = start_servers(&server_ns, &server, www.path(), "pkg.husk.test");
        Pair { ns, server_ns, ifname, sandbox, server, servers, _www: www }
    }

    /// The sandbox's namespace's view of its interface's IPv4 addresses
    /// and routes.
    pub fn host_side(&self) -> (String, String) {
        (ip(&["-n", &self.ns, "-4", "-o", "addr", "show", "dev", &self.ifname]), ip(&["-n", &self.ns, "route"]))
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = self.servers.kill();
        let _ = self.servers.wait();
        // The veth pair goes with the namespaces.
        for ns in [&self.ns, &self.server_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
