//! The wire format between the Sentry and the relay: one fixed-size
//! request per seqpacket message, one fixed-size reply, with the connected
//! socket attached to a successful reply.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `IPPROTO_TCP`.
pub const TCP: u8 = 6;
/// `IPPROTO_UDP`.
pub const UDP: u8 = 17;
/// `IPPROTO_ICMP`: an echo (ping) socket to an IPv4 address.
pub const ICMP: u8 = 1;
/// `IPPROTO_ICMPV6`: an echo (ping) socket to an IPv6 address.
pub const ICMPV6: u8 = 58;

/// The only operation: open a socket of `proto` connected to `dst`.
const OP_CONNECT: u8 = 1;

/// A request's size on the wire.
pub const REQUEST_LEN: usize = 24;
/// A reply's size on the wire.
pub const REPLY_LEN: usize = 4;

/// A connect request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// [`TCP`], [`UDP`], [`ICMP`] or [`ICMPV6`] (port 0).
    pub proto: u8,
    /// Where to.
    pub dst: SocketAddr,
}

impl Request {
    /// The bytes on the wire: op, proto, family (4 or 6), 0, port (big
    /// endian), 2 bytes of 0, then 16 address bytes (IPv4 in the first 4).
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[0] = OP_CONNECT;
        b[1] = self.proto;
        b[4..6].copy_from_slice(&self.dst.port().to_be_bytes());
        match self.dst.ip() {
            IpAddr::V4(v4) => {
                b[2] = 4;
                b[8..12].copy_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                b[2] = 6;
                b[8..24].copy_from_slice(&v6.octets());
            }
        }
        b
    }

    /// Parses a request; `None` for anything malformed (wrong length, an
    /// unknown operation, protocol or family, or stray bytes).
    pub fn decode(b: &[u8]) -> Option<Request> {
        if b.len() != REQUEST_LEN || b[0] != OP_CONNECT || b[3] != 0 || b[6..8] != [0, 0] {
            return None;
        }
        if ![TCP, UDP, ICMP, ICMPV6].contains(&b[1]) {
            return None;
        }
        let port = u16::from_be_bytes([b[4], b[5]]);
        let ip = match b[2] {
            4 if b[12..24].iter().all(|&x| x == 0) => IpAddr::V4(Ipv4Addr::new(b[8], b[9], b[10], b[11])),
            6 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(&b[8..24]);
                IpAddr::V6(Ipv6Addr::from(o))
            }
            _ => return None,
        };
        Some(Request { proto: b[1], dst: SocketAddr::new(ip, port) })
    }
}

/// A connection from outside to a published port (`-p`), pushed by the
/// relay on its second socket with the accepted host socket attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The sandbox's port it is for.
    pub port: u16,
    /// The client, as the host saw it.
    pub from: SocketAddr,
}

/// An incoming connection's size on the wire.
pub const INCOMING_LEN: usize = 24;

impl Incoming {
    /// The bytes: the sandbox's port (big endian), then the client as a
    /// request encodes its destination (from byte 2 on).
    pub fn encode(&self) -> [u8; INCOMING_LEN] {
        let mut b = Request { proto: TCP, dst: self.from }.encode();
        b[0..2].copy_from_slice(&self.port.to_be_bytes());
        b
    }

    /// Parses one; `None` if malformed.
    pub fn decode(b: &[u8]) -> Option<Incoming> {
        let mut r: [u8; REQUEST_LEN] = b.try_into().ok()?;
        let port = u16::from_be_bytes([r[0], r[1]]);
        r[0] = OP_CONNECT;
        r[1] = TCP;
        Some(Incoming { port, from: Request::decode(&r)?.dst })
    }
}

/// A datagram between an outside client and a published UDP port
/// (`-p .../udp`), on the relay's second socket, either way: from the
/// relay, one that `peer` sent to the host port published as the
/// sandbox's `port`; from the Sentry, the sandbox's reply to `peer`, to
/// leave by the host socket published as `port`. The payload follows
/// the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The sandbox's port the host port is published as.
    pub port: u16,
    /// The outside client.
    pub peer: SocketAddr,
}

/// A datagram message's header length; the payload follows.
pub const DATAGRAM_HEADER_LEN: usize = INCOMING_LEN;
/// The largest payload a datagram message carries (a UDP datagram's).
pub const MAX_DATAGRAM: usize = 65_535;

impl Datagram {
    /// The message: an [`Incoming`]'s bytes with byte 6 set to [`UDP`]
    /// (which an `Incoming` never has), then `payload`.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(DATAGRAM_HEADER_LEN + payload.len());
        b.extend_from_slice(&Incoming { port: self.port, from: self.peer }.encode());
        b[6] = UDP;
        b.extend_from_slice(payload);
        b
    }

    /// Parses one into its header and payload; `None` if malformed.
    pub fn decode(b: &[u8]) -> Option<(Datagram, &[u8])> {
        if b.len() < DATAGRAM_HEADER_LEN || b.len() > DATAGRAM_HEADER_LEN + MAX_DATAGRAM || b[6] != UDP {
            return None;
        }
        let mut head: [u8; DATAGRAM_HEADER_LEN] = b[..DATAGRAM_HEADER_LEN].try_into().ok()?;
        head[6] = 0;
        let inc = Incoming::decode(&head)?;
        Some((Datagram { port: inc.port, peer: inc.from }, &b[DATAGRAM_HEADER_LEN..]))
    }
}

/// A reply: 0 with the socket attached, or the errno the app's connect
/// gets.
pub fn encode_reply(errno: i32) -> [u8; REPLY_LEN] {
    errno.to_le_bytes()
}

/// The errno of a reply; `None` if malformed.
pub fn decode_reply(b: &[u8]) -> Option<i32> {
    let b: [u8; REPLY_LEN] = b.try_into().ok()?;
    let e = i32::from_le_bytes(b);
    (e >= 0).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_junk_is_refused() {
        for dst in ["10.1.2.3:80", "[2001:db8::1]:443", "0.0.0.0:0"] {
            let r = Request { proto: TCP, dst: dst.parse().unwrap() };
            assert_eq!(Request::decode(&r.encode()), Some(r));
        }
        let ping = Request { proto: ICMP, dst: "192.0.2.1:0".parse().unwrap() };
        assert_eq!(Request::decode(&ping.encode()), Some(ping));
        let good = Request { proto: UDP, dst: "1.2.3.4:53".parse().unwrap() }.encode();
        assert!(Request::decode(&good[..REQUEST_LEN - 1]).is_none());
        for (i, v) in [(0, 2), (1, 2), (2, 5), (3, 1), (7, 1), (20, 1)] {
            let mut bad = good;
            bad[i] = v;
            assert!(Request::decode(&bad).is_none(), "byte {i} = {v} accepted");
        }
        assert_eq!(decode_reply(&encode_reply(111)), Some(111));
        let inc = Incoming { port: 8000, from: "192.0.2.9:40000".parse().unwrap() };
        assert_eq!(Incoming::decode(&inc.encode()), Some(inc));
        assert!(Incoming::decode(&inc.encode()[..INCOMING_LEN - 1]).is_none());
        assert_eq!(decode_reply(&[1, 2, 3]), None);
        let d = Datagram { port: 5353, peer: "[2001:db8::7]:40000".parse().unwrap() };
        let msg = d.encode(b"hello");
        assert_eq!(Datagram::decode(&msg), Some((d, &b"hello"[..])));
        assert_eq!(Datagram::decode(&d.encode(b"")), Some((d, &b""[..])));
        // The two kinds of message on the second socket never mistake
        // each other.
        assert!(Incoming::decode(&msg[..INCOMING_LEN]).is_none());
        assert!(Datagram::decode(&inc.encode()).is_none());
        assert!(Datagram::decode(&msg[..DATAGRAM_HEADER_LEN - 1]).is_none());
        assert_eq!(decode_reply(&(-1i32).to_le_bytes()), None);
    }
}
