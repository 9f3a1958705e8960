//! The host's process tree, read from `/proc`: finding the processes a
//! test left behind, and killing a runaway tree.

use std::collections::{HashMap, VecDeque};
use std::fs;

use rustix::process::{Pid, Signal};

/// One process, from `/proc/<pid>/stat` and `/proc/<pid>/cmdline`.
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    /// The state letter: `R`, `S`, `D`, `Z` (zombie), ...
    pub state: char,
    /// Arguments joined with spaces.
    pub cmdline: String,
}

impl Proc {
    /// Whether it has exited and only waits to be reaped.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z' || self.state == 'X'
    }
}

fn parse_stat(stat: &str) -> Option<(char, i32, i32)> {
    // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((state, ppid, pgid))
}

/// Every process visible in `/proc` (those that vanish mid-scan are left out).
pub fn all() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let entry = entry.ok()?;
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
        let (state, ppid, pgid) = parse_stat(&stat)?;
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline =
            String::from_utf8_lossy(&cmdline).split('\0').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
        Some(Proc { pid, ppid, pgid, state, cmdline })
    })
    .collect()
}

/// The processes whose parent chain leads to `root` (not `root` itself).
pub fn descendants(root: i32) -> Vec<Proc> {
    let procs = all();
    let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
    for p in &procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(pid) = queue.pop_front() {
        for child in children.get(&pid).into_iter().flatten() {
            if child.pid != root {
                out.push((*child).clone());
                queue.push_back(child.pid);
            }
        }
    }
    out
}

/// This test process's descendants that are still running (not zombies).
pub fn live_descendants_of_self() -> Vec<Proc> {
    let me = i32::try_from(std::process::id()).expect("pid fits i32");
    descendants(me).into_iter().filter(|p| !p.is_zombie()).collect()
}

/// Makes this process the reaper of orphans among its descendants
/// (`PR_SET_CHILD_SUBREAPER`), so that a process that outlives its parent
/// still shows up in [`descendants`] of the test instead of moving to init.
pub fn become_subreaper() {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).expect("prctl(PR_SET_CHILD_SUBREAPER)");
}

/// Sends SIGKILL to process group `pgid`, ignoring errors (it may be gone).
pub fn kill_group(pgid: i32) {
    if let Some(pid) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
}

/// Sends SIGKILL to `pid`, ignoring errors (it may be gone).
pub fn kill(pid: i32) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

/// Kills `root`'s process group and every descendant of `root`.
pub fn kill_tree(root: i32) {
    let below = descendants(root);
    kill_group(root);
    kill(root);
    for p in below {
        kill(p.pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stat_handles_odd_comm() {
        let stat = "123 (a) b (c) S 45 67 67 0 -1 4194560 0";
        assert_eq!(parse_stat(stat), Some(('S', 45, 67)));
    }

    #[test]
    fn finds_own_child() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let pid = i32::try_from(child.id()).unwrap();
        // `spawn` can return while the child is still inside execve (glibc's
        // posix_spawn resumes its parent once the old memory is released,
        // before the new argv is in place), when its cmdline reads empty:
        // look again for a while.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut found = false;
        while !found && std::time::Instant::now() < until {
            found = live_descendants_of_self().iter().any(|p| p.pid == pid && p.cmdline == "sleep 5");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found, "sleep {pid} not among the descendants");
    }
}
