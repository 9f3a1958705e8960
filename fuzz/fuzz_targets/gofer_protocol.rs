//! The Gofer protocol (`gofer::protocol`): its decoder on untrusted bytes,
//! both ways, and the Sentry's client (`gofer::GoferClient`) against a
//! Gofer whose answers are the input.
//!
//! Input: one byte choosing the client call, then up to four answers, each
//! a little-endian u16 length and that many bytes (bincode of
//! `Tagged<Response>`, the tag overwritten with the one the client expects,
//! so that the fuzzer need not find it). The whole input is also decoded
//! as a `Tagged<Request>` and a `Tagged<Response>`.

#![no_main]

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};

use gofer::protocol::{decode, encode, Request, Response, Tagged};
use gofer::{GoferClient, SetAttr};
use libfuzzer_sys::fuzz_target;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

/// Decoding is canonical: what decodes encodes back to the same bytes.
fn round_trip<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(msg) = decode::<T>(data) {
        let again = encode(&msg).expect("a decoded message encodes");
        assert_eq!(again, data, "{msg:?} decoded from other bytes than it encodes to");
        assert_eq!(decode::<T>(&again).expect("decodes again"), msg);
    }
}

/// The Gofer's own checks of the names a request carries.
fn check_names(data: &[u8]) {
    let Ok(req) = decode::<Tagged<Request>>(data) else { return };
    let names: Vec<&Vec<u8>> = match &req.msg {
        Request::Walk { names, .. } => names.iter().collect(),
        Request::Create { name, .. }
        | Request::Mknod { name, .. }
        | Request::Link { name, .. }
        | Request::Unlink { name, .. }
        | Request::Getxattr { name, .. }
        | Request::Setxattr { name, .. }
        | Request::Removexattr { name, .. } => vec![name],
        Request::Rename { oname, nname, .. } => vec![oname, nname],
        _ => vec![],
    };
    for n in names {
        if let Ok(c) = gofer::check_name(n) {
            assert!(!n.is_empty() && n.len() <= 255 && !n.contains(&b'/') && n != b"." && n != b"..");
            assert_eq!(c.as_bytes(), n.as_slice());
        }
    }
}

fn client_against(answers: &[Vec<u8>], op: u8) {
    let Ok((ours, theirs)) = gofer::socketpair() else { return };
    let fd_for_open = std::fs::File::open("/dev/null").ok().map(OwnedFd::from);
    for (i, answer) in answers.iter().enumerate() {
        let mut bytes = answer.clone();
        if bytes.len() >= 8 {
            bytes[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        }
        let iov = [IoSlice::new(&bytes)];
        let raw = fd_for_open.as_ref().map(|f| [f.as_raw_fd()]);
        let cmsg;
        let cmsgs: &[ControlMessage] = match (&raw, op & 0x80 != 0) {
            (Some(fds), true) => {
                cmsg = [ControlMessage::ScmRights(fds)];
                &cmsg
            }
            _ => &[],
        };
        if sendmsg::<()>(theirs.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None).is_err() {
            return;
        }
    }
    // The client reads the answers queued, then the end of the connection.
    drop(theirs);
    let client = GoferClient::new(ours);
    let _ = match op & 0x7f {
        0 => client.attach().map(drop),
        1 => client.walk(7, &[b"a", b"b", b"c"]).map(drop),
        2 => client.stat(7).map(drop),
        3 => client.open(7, 0).map(drop),
        4 => client.readlink(7).map(drop),
        5 => client.getdents(7).map(drop),
        6 => client.statfs(7).map(drop),
        7 => client.getxattr(7, b"user.x").map(drop),
        8 => client.listxattr(7).map(drop),
        9 => client.setattr(7, SetAttr::default()).map(drop),
        10 => client.link(7, 8, b"n").map(drop),
        11 => client.unlink(7, b"n", false),
        12 => client.clunk(7),
        _ => client.walk(7, &[]).map(drop),
    };
}

fuzz_target!(|data: &[u8]| {
    round_trip::<Tagged<Request>>(data);
    round_trip::<Tagged<Response>>(data);
    check_names(data);
    let Some((&op, mut rest)) = data.split_first() else { return };
    let mut answers = Vec::new();
    while answers.len() < 4 && rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let take = len.min(body.len());
        answers.push(body[..take].to_vec());
        rest = &body[take..];
    }
    client_against(&answers, op);
});
