//! Resource usage: CPU time and peak memory of the app's threads, read from
//! the host's accounting of the stub processes they run in (the Sentry's own
//! children), and summed per process as Linux's getrusage does.

use std::time::Duration;

/// CPU time and peak resident memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// User CPU time.
    pub utime: Duration,
    /// System CPU time.
    pub stime: Duration,
    /// Peak resident set, KiB.
    pub maxrss_kb: u64,
}

impl Usage {
    /// Adds `o`'s times; the peak is the larger of the two.
    pub fn add(&mut self, o: &Usage) {
        self.utime += o.utime;
        self.stime += o.stime;
        self.maxrss_kb = self.maxrss_kb.max(o.maxrss_kb);
    }

    /// `struct rusage` (144 bytes) with the times and ru_maxrss filled in.
    pub fn to_rusage(self) -> [u64; 18] {
        let mut ru = [0u64; 18];
        ru[0] = self.utime.as_secs();
        ru[1] = u64::from(self.utime.subsec_micros());
        ru[2] = self.stime.as_secs();
        ru[3] = u64::from(self.stime.subsec_micros());
        ru[4] = self.maxrss_kb;
        ru
    }
}

/// A host CPU clock's reading; None once its process or thread is gone.
pub fn cpu_clock(id: u32) -> Option<Duration> {
    let (s, ns) = crate::sys::clock_gettime(id).ok()?;
    Some(Duration::new(s.max(0) as u64, ns.clamp(0, 999_999_999) as u32))
}

/// CPU time in the app's code (`user`: the stub's) and in the Sentry on
/// its behalf (`system`: the task's Sentry thread's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// In the app's own code.
    pub user: Duration,
    /// In the Sentry, serving it.
    pub system: Duration,
}

impl CpuTime {
    /// Both together.
    pub fn total(self) -> Duration {
        self.user + self.system
    }

    /// Adds `o`.
    pub fn add(&mut self, o: CpuTime) {
        self.user += o.user;
        self.system += o.system;
    }
}

/// The host's clock ticks per second for /proc times (USER_HZ).
const USER_HZ: u64 = 100;

/// The usage of the stub process `pid`: its CPU times from /proc/PID/stat
/// and its VmHWM from /proc/PID/status. None if it is gone.
pub fn of_stub(pid: i32) -> Option<Usage> {
    let stat = read_proc(&format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command: state is field 3, utime 14,
    // stime 15 (1-based).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let to_dur = |t: u64| Duration::from_micros(t * 1_000_000 / USER_HZ);
    let (mut utime, mut stime) = (to_dur(ticks(14)), to_dur(ticks(15)));
    // /proc/PID/schedstat has the CPU time in nanoseconds; the stat ticks
    // (1/100 s) only say how it splits between user and system time.
    let precise = read_proc(&format!("/proc/{pid}/schedstat"))
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .map(Duration::from_nanos);
    if let Some(total) = precise {
        let coarse = utime + stime;
        if coarse.is_zero() {
            (utime, stime) = (total, Duration::ZERO);
        } else {
            let user_share = utime.as_secs_f64() / coarse.as_secs_f64();
            utime = total.mul_f64(user_share);
            stime = total.saturating_sub(utime);
        }
    }
    let status = read_proc(&format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(Usage { utime, stime, maxrss_kb: hwm })
}

/// A host /proc file's text, read with open and read alone (the Sentry's
/// seccomp filter has no stat calls, which `std::fs::read_to_string` makes).
pub(crate) fn read_proc(path: &str) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut text = Vec::with_capacity(2048);
    let mut buf = [0u8; 2048];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    String::from_utf8(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_usage() {
        let u = of_stub(std::process::id() as i32).unwrap();
        assert!(u.maxrss_kb > 0);
        let mut total = Usage::default();
        total.add(&u);
        total.add(&Usage { maxrss_kb: 1, ..Usage::default() });
        assert_eq!(total.maxrss_kb, u.maxrss_kb);
        assert_eq!(total.to_rusage()[4], u.maxrss_kb);
    }
}
