//! The OCI runtime's control socket (`runtime/src/oci/control.rs`,
//! compiled in here: the runtime is a binary crate): a sandbox listening
//! on `control.sock` in a state directory, a client connected to it, and
//! the input as one packet each way, decoded by `Channel::recv` as the
//! sandbox decodes a `Request` and a command decodes a `Response`.
//!
//! A `Request` that decodes is one the sandbox acts on: its fields must be
//! within what the Sentry accepts (a signal number indexes its tables).

#![no_main]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

// The runtime's files, at the crate root: control.rs finds bundle.rs at
// `super::bundle`, and bundle.rs the capability plans at `crate::caps`.
#[path = "../../runtime/src/oci/bundle.rs"]
#[allow(dead_code)]
mod bundle;
#[path = "../../runtime/src/caps.rs"]
#[allow(dead_code)]
mod caps;
#[path = "../../runtime/src/oci/control.rs"]
#[allow(dead_code)]
mod control;

/// What control.rs takes from the runtime's `sys` module.
mod sys {
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    pub fn own_fd(fd: RawFd) -> OwnedFd {
        // SAFETY: control.rs passes fds it just received with SCM_RIGHTS,
        // owned by nothing else.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }
}

use control::{Request, Response};

struct Sandbox {
    dir: OwnedFd,
    listener: OwnedFd,
}

fn sandbox() -> &'static Sandbox {
    static S: OnceLock<Sandbox> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("husk-fuzz-state-").tempdir().expect("a state directory").keep();
        let dir = OwnedFd::from(std::fs::File::open(dir).expect("open the state directory"));
        let listener = control::listen_at(dir.as_raw_fd()).expect("listen on control.sock");
        Sandbox { dir, listener }
    })
}

fn send_raw(fd: RawFd, data: &[u8]) -> bool {
    // SAFETY: `fd` is a connected socket; `data` is live for the call.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    n >= 0 && n as usize == data.len()
}

fuzz_target!(|data: &[u8]| {
    let s = sandbox();
    let Ok(client) = control::connect_at(s.dir.as_raw_fd()) else { return };
    let Ok(server) = control::accept(&s.listener) else { return };
    // An empty packet reads as the end of the connection.
    if data.is_empty() {
        return;
    }
    if send_raw(client.raw_fd(), data) {
        if let Ok(Some((req, fds))) = server.recv::<Request>() {
            assert!(fds.is_empty());
            match req {
                Request::Kill { signal, .. } => assert!((0..=64).contains(&signal), "signal {signal}"),
                Request::Exec(p) => {
                    let _ = p.to_sentry(Vec::new());
                }
                Request::Start | Request::Pids => {}
            }
        }
    }
    if send_raw(server.raw_fd(), data) {
        let _ = client.recv::<Response>();
    }
});
