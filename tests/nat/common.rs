//! What the network tests (`nat.rs`, `netsandbox.rs`) share.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
