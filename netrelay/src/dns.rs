//! A small DNS client: the addresses of a name (A and AAAA records) and
//! how long they hold (the smallest TTL), from the nameservers the
//! sandbox's forwarder uses, so that an allowed hostname means what the
//! sandbox itself resolves it to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
/// The longest reply read (without EDNS, a UDP reply is at most 512).
const MAX_REPLY: usize = 1232;
/// The shortest TTL kept: a name with TTL 0 is not asked again on every
/// connect.
pub const MIN_TTL: u32 = 5;

/// A name's addresses and the seconds they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// A and AAAA records, in reply order.
    pub addrs: Vec<IpAddr>,
    /// The smallest TTL among them (at least [`MIN_TTL`]).
    pub ttl: u32,
}

/// A query for `name` of `qtype`, with id `id` and recursion desired.
pub fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    (q.len() <= 512).then_some(q)
}

/// Skips a (possibly compressed) name at `i`; the offset after it.
fn skip_name(m: &[u8], mut i: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *m.get(i)?;
        match len {
            0 => return Some(i + 1),
            l if l & 0xc0 == 0xc0 => return (i + 2 <= m.len()).then_some(i + 2),
            l => i += 1 + usize::from(l),
        }
    }
    None
}

fn be16(m: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(i)?, *m.get(i + 1)?]))
}

/// The records of a reply with id `id`: its A and AAAA addresses and
/// their TTLs. `None` for a reply that is not one (wrong id, truncated,
/// malformed); an empty list for NXDOMAIN or no records.
pub fn parse_reply(m: &[u8], id: u16) -> Option<Vec<(IpAddr, u32)>> {
    if be16(m, 0)? != id || *m.get(2)? & 0x80 == 0 {
        return None;
    }
    let (qd, an) = (be16(m, 4)?, be16(m, 6)?);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(m, i)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(m, i)?;
        let (ty, class) = (be16(m, i)?, be16(m, i + 2)?);
        let ttl = u32::from_be_bytes(m.get(i + 4..i + 8)?.try_into().ok()?);
        let len = usize::from(be16(m, i + 8)?);
        let data = m.get(i + 10..i + 10 + len)?;
        i += 10 + len;
        match (ty, class, len) {
            (TYPE_A, CLASS_IN, 4) => out.push((IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])), ttl)),
            (TYPE_AAAA, CLASS_IN, 16) => {
                let o: [u8; 16] = data.try_into().ok()?;
                out.push((IpAddr::V6(Ipv6Addr::from(o)), ttl));
            }
            _ => {}
        }
    }
    Some(out)
}

/// Resolves `name` (A and AAAA) with the first of `servers` that answers
/// within `timeout`; `None` if none does or the name has no address.
pub fn resolve(name: &str, servers: &[SocketAddr], timeout: Duration) -> Option<Answer> {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for (n, server) in servers.iter().enumerate() {
        let id = (seed as u16).wrapping_add(n as u16 * 2);
        if let Some(a) = ask(name, *server, id, timeout) {
            return Some(a);
        }
    }
    None
}

fn ask(name: &str, server: SocketAddr, id: u16, timeout: Duration) -> Option<Answer> {
    let s = Socket::new(Domain::for_address(server), Type::DGRAM.cloexec(), Some(Protocol::UDP)).ok()?;
    s.connect(&server.into()).ok()?;
    let s: std::net::UdpSocket = s.into();
    ask_over(
        name,
        id,
        timeout,
        |q| s.send(q).is_ok(),
        |buf, left| {
            s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).ok()?;
            s.recv(buf).ok()
        },
    )
}

/// Asks for `name`'s A and AAAA records with ids `id` and `id + 1` over
/// any datagram transport to one nameserver: `send` sends a query,
/// `recv` waits at most the time given for one reply. `None` if no
/// answer came within `timeout`, or the name has no address.
pub fn ask_over(
    name: &str,
    id: u16,
    timeout: Duration,
    mut send: impl FnMut(&[u8]) -> bool,
    mut recv: impl FnMut(&mut [u8], Duration) -> Option<usize>,
) -> Option<Answer> {
    let ids = [id, id.wrapping_add(1)];
    if !send(&query(ids[0], name, TYPE_A)?) || !send(&query(ids[1], name, TYPE_AAAA)?) {
        return None;
    }
    let deadline = Instant::now() + timeout;
    let mut got: [Option<Vec<(IpAddr, u32)>>; 2] = [None, None];
    let mut buf = [0u8; MAX_REPLY];
    while got.iter().any(Option::is_none) {
        let left = deadline.checked_duration_since(Instant::now())?;
        let n = recv(&mut buf, left)?;
        for (k, &want) in ids.iter().enumerate() {
            if let Some(recs) = parse_reply(&buf[..n.min(buf.len())], want) {
                got[k] = Some(recs);
            }
        }
    }
    let recs: Vec<(IpAddr, u32)> = got.into_iter().flatten().flatten().collect();
    let ttl = recs.iter().map(|r| r.1).min()?.max(MIN_TTL);
    Some(Answer { addrs: recs.into_iter().map(|r| r.0).collect(), ttl })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as a nameserver writes it: the question, then answers with
    /// compressed names.
    fn reply(id: u16, answers: &[(u16, &[u8], u32)]) -> Vec<u8> {
        let q = query(id, "pkg.test", TYPE_A).unwrap();
        let mut m = q.clone();
        m[2] = 0x81;
        m[3] = 0x80;
        m[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for (ty, data, ttl) in answers {
            m.extend_from_slice(&[0xc0, 0x0c]);
            m.extend_from_slice(&ty.to_be_bytes());
            m.extend_from_slice(&CLASS_IN.to_be_bytes());
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    #[test]
    fn replies_give_addresses_and_ttls() {
        let cname: &[u8] = &[3, b'c', b'd', b'n', 0];
        let m = reply(7, &[(5, cname, 30), (TYPE_A, &[192, 0, 2, 1], 300), (TYPE_A, &[192, 0, 2, 2], 60)]);
        assert_eq!(
            parse_reply(&m, 7),
            Some(vec![("192.0.2.1".parse().unwrap(), 300), ("192.0.2.2".parse().unwrap(), 60)])
        );
        assert_eq!(parse_reply(&m, 8), None, "another query's reply");
        let v6 = reply(9, &[(TYPE_AAAA, &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 10)]);
        assert_eq!(parse_reply(&v6, 9), Some(vec![("2001:db8::1".parse().unwrap(), 10)]));
    }

    #[test]
    fn malformed_replies_are_no_answer_and_never_panic() {
        let m = reply(7, &[(TYPE_A, &[192, 0, 2, 1], 300)]);
        for cut in 0..m.len() {
            assert_eq!(parse_reply(&m[..cut], 7), None, "cut at {cut}");
        }
        // A compression loop.
        let mut lp = m.clone();
        lp[12] = 0xc0;
        lp[13] = 12;
        let _ = parse_reply(&lp, 7);
        assert!(query(1, "a..b", TYPE_A).is_none());
        assert!(query(1, &"x".repeat(64), TYPE_A).is_none());
    }
}
