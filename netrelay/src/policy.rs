//! The egress policy: which destinations outside the sandbox the app may
//! reach. Nothing is allowed unless a rule names it (`--allow-egress`, or
//! the OCI annotation `dev.husk.network.allow-egress`):
//!
//! - `all`: every destination;
//! - a network in CIDR form (`10.1.0.0/16`, `2001:db8::/32`) or one
//!   address (`10.1.2.3`, `2001:db8::1`), any port;
//! - an address with a port (`10.1.2.3:8080`, `[2001:db8::1]:443`);
//! - a hostname (`pypi.example`), or a hostname with a port
//!   (`pypi.example:443`): its addresses, as the sandbox's nameservers
//!   give them when the relay starts, asked again once their TTL runs out.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::dns::Answer;

/// A rule that could not be understood or resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// Not any of the forms above.
    #[error("--allow-egress {0:?}: expected all, a CIDR, an address, host:port or a hostname")]
    Malformed(String),
    /// A hostname with no address.
    #[error("--allow-egress {0:?}: the name does not resolve")]
    Unresolved(String),
}

/// One allowed network, with an optional port.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
    port: Option<u16>,
}

impl Net {
    fn contains(&self, dst: SocketAddr) -> bool {
        if self.port.is_some_and(|p| p != dst.port()) {
            return false;
        }
        let ip = canonical(dst.ip());
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_match(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_match(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let (whole, bits) = (usize::from(prefix / 8), prefix % 8);
    if net[..whole] != ip[..whole] {
        return false;
    }
    bits == 0 || (net[whole] ^ ip[whole]) >> (8 - bits) == 0
}

/// An allowed hostname and what it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostRule {
    name: String,
    port: Option<u16>,
    addrs: Vec<IpAddr>,
    expires: Instant,
}

/// The egress policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    all: bool,
    nets: Vec<Net>,
    hosts: Vec<HostRule>,
}

/// Most rules one policy takes.
const MAX_RULES: usize = 4096;
/// How long a hostname's resolution may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

impl Policy {
    /// The policy that allows nothing.
    pub fn deny_all() -> Policy {
        Policy::default()
    }

    /// Parses the rules, resolving hostnames with `resolve`.
    pub fn parse_with(rules: &[String], resolve: impl Fn(&str) -> Option<Answer>) -> Result<Policy, PolicyError> {
        let mut p = Policy::default();
        for rule in rules {
            let bad = || PolicyError::Malformed(rule.clone());
            let r = rule.trim();
            if r == "all" {
                p.all = true;
                continue;
            }
            if r.is_empty() || r.len() > 255 {
                return Err(bad());
            }
            if let Some((addr, prefix)) = r.split_once('/') {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix: u8 = prefix.parse().ok().filter(|&n| n <= max).ok_or_else(bad)?;
                p.nets.push(Net { addr: canonical(addr), prefix, port: None });
            } else if let Ok(addr) = r.parse::<IpAddr>() {
                let addr = canonical(addr);
                p.nets.push(Net { addr, prefix: if addr.is_ipv4() { 32 } else { 128 }, port: None });
            } else if let Ok(sa) = r.parse::<SocketAddr>() {
                let addr = canonical(sa.ip());
                p.nets.push(Net { addr, prefix: if addr.is_ipv4() { 32 } else { 128 }, port: Some(sa.port()) });
            } else {
                let (name, port) = match r.rsplit_once(':') {
                    Some((n, port)) => (n, Some(port.parse::<u16>().map_err(|_| bad())?)),
                    None => (r, None),
                };
                if !is_hostname(name) {
                    return Err(bad());
                }
                let Some(answer) = resolve(name).filter(|a| !a.addrs.is_empty()) else {
                    return Err(PolicyError::Unresolved(rule.clone()));
                };
                p.hosts.push(HostRule {
                    name: name.to_string(),
                    port,
                    addrs: answer.addrs.into_iter().map(canonical).collect(),
                    expires: Instant::now() + Duration::from_secs(answer.ttl.into()),
                });
            }
            if p.nets.len() + p.hosts.len() > MAX_RULES {
                return Err(bad());
            }
        }
        Ok(p)
    }

    /// Parses the rules, resolving hostnames with `nameservers` (those
    /// the sandbox's DNS forwarder uses).
    pub fn parse(rules: &[String], nameservers: &[SocketAddr]) -> Result<Policy, PolicyError> {
        Policy::parse_with(rules, |name| crate::dns::resolve(name, nameservers, RESOLVE_TIMEOUT))
    }

    /// Asks again for the hostnames whose TTL ran out (a name that no
    /// longer resolves keeps its old addresses until the next try).
    pub fn refresh(&mut self, now: Instant, resolve: impl Fn(&str) -> Option<Answer>) {
        for h in self.hosts.iter_mut().filter(|h| h.expires <= now) {
            match resolve(&h.name).filter(|a| !a.addrs.is_empty()) {
                Some(a) => {
                    h.addrs = a.addrs.into_iter().map(canonical).collect();
                    h.expires = now + Duration::from_secs(a.ttl.into());
                }
                None => h.expires = now + Duration::from_secs(crate::dns::MIN_TTL.into()),
            }
        }
    }

    /// Refreshes expired hostnames with `nameservers`.
    pub fn refresh_with(&mut self, nameservers: &[SocketAddr]) {
        if self.hosts.iter().any(|h| h.expires <= Instant::now()) {
            self.refresh(Instant::now(), |name| crate::dns::resolve(name, nameservers, RESOLVE_TIMEOUT));
        }
    }

    /// Whether the app may reach `dst`.
    pub fn allows(&self, dst: SocketAddr) -> bool {
        let ip = canonical(dst.ip());
        self.all
            || self.nets.iter().any(|n| n.contains(dst))
            || self.hosts.iter().any(|h| h.port.is_none_or(|p| p == dst.port()) && h.addrs.contains(&ip))
    }

    /// Whether the policy allows anything at all.
    pub fn allows_any(&self) -> bool {
        self.all || !self.nets.is_empty() || !self.hosts.is_empty()
    }
}

/// Letters, digits, `-` and `.`, as DNS names are written.
fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn parse(rules: &[&str]) -> Result<Policy, PolicyError> {
        let rules: Vec<String> = rules.iter().map(|s| s.to_string()).collect();
        Policy::parse_with(&rules, |name| match name {
            "index.test" => {
                Some(Answer { addrs: vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()], ttl: 60 })
            }
            _ => None,
        })
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let p = Policy::deny_all();
        assert!(!p.allows_any());
        assert!(!p.allows(sa("1.1.1.1:53")));
        assert!(!parse(&[]).unwrap().allows(sa("10.0.0.1:80")));
    }

    #[test]
    fn each_form_allows_what_it_names_and_no_more() {
        let p = parse(&["10.1.0.0/16", "192.0.2.1", "198.51.100.9:8080", "2001:db8:1::/48", "index.test:443"]).unwrap();
        assert!(p.allows(sa("10.1.255.3:22")));
        assert!(!p.allows(sa("10.2.0.1:22")));
        assert!(p.allows(sa("192.0.2.1:1")));
        assert!(!p.allows(sa("192.0.2.2:1")));
        assert!(p.allows(sa("198.51.100.9:8080")));
        assert!(!p.allows(sa("198.51.100.9:8081")));
        assert!(p.allows(sa("[2001:db8:1:ffff::1]:80")));
        assert!(!p.allows(sa("[2001:db8:2::1]:80")));
        assert!(p.allows(sa("192.0.2.7:443")));
        assert!(p.allows(sa("[2001:db8::7]:443")));
        assert!(!p.allows(sa("192.0.2.7:80")));
        // An IPv4-mapped IPv6 destination is its IPv4 address.
        assert!(p.allows(sa("[::ffff:10.1.0.1]:9")));
        assert!(parse(&["all"]).unwrap().allows(sa("203.0.113.5:1")));
        // Odd prefix lengths.
        let p = parse(&["10.0.0.128/25"]).unwrap();
        assert!(p.allows(sa("10.0.0.200:1")));
        assert!(!p.allows(sa("10.0.0.127:1")));
        assert!(parse(&["0.0.0.0/0"]).unwrap().allows(sa("8.8.8.8:53")));
    }

    #[test]
    fn hostnames_are_asked_again_when_their_ttl_runs_out() {
        let mut p = parse(&["index.test"]).unwrap();
        assert!(p.allows(sa("192.0.2.7:1")));
        let moved = |_: &str| Some(Answer { addrs: vec!["192.0.2.8".parse().unwrap()], ttl: 30 });
        // Not yet expired: nothing changes.
        p.refresh(Instant::now(), moved);
        assert!(p.allows(sa("192.0.2.7:1")));
        p.refresh(Instant::now() + Duration::from_secs(61), moved);
        assert!(!p.allows(sa("192.0.2.7:1")));
        assert!(p.allows(sa("192.0.2.8:1")));
        // A failed lookup keeps the last addresses.
        p.refresh(Instant::now() + Duration::from_secs(200), |_| None);
        assert!(p.allows(sa("192.0.2.8:1")));
    }

    #[test]
    fn bad_rules_are_refused_with_the_rule_named() {
        for bad in ["10.0.0.0/33", "::/129", "10.0.0.1/x", "", "host:port", "-bad.test", "a..b", "x:70000", "a b"] {
            assert!(matches!(parse(&[bad]), Err(PolicyError::Malformed(_))), "{bad:?} accepted");
        }
        assert_eq!(parse(&["nowhere.test"]), Err(PolicyError::Unresolved("nowhere.test".into())));
    }
}
