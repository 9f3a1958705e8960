//! System V message queues: msgget, msgsnd, msgrcv and msgctl.
//!
//! A queue holds typed messages in arrival order, bounded by `msg_qbytes`
//! both in bytes and in count, as Linux bounds them. Senders waiting for
//! room and receivers waiting for a message sleep on the queue's one wait
//! queue and look again whenever it changes.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use abi::flags::ipc::{MSG_COPY, MSG_EXCEPT};
use abi::types::MsqidDs;
use abi::Errno;

use super::{now_secs, IpcObject, Perm};
use crate::kernel::waiter::WaitQueue;
use crate::mm::SysResult;

/// The largest message.
pub const MSGMAX: usize = 8192;
/// A new queue's byte limit.
pub const MSGMNB: u64 = 16384;
/// The most queues.
pub const MSGMNI: usize = 32000;

/// One message queue.
pub struct MsgQueue {
    pub(super) perm: Mutex<Perm>,
    pub(super) state: Mutex<MsgState>,
    /// Senders and receivers waiting.
    pub queue: WaitQueue,
}

pub(super) struct MsgState {
    pub(super) msgs: VecDeque<(i64, Vec<u8>)>,
    pub(super) cbytes: u64,
    pub(super) qbytes: u64,
    pub(super) lspid: i32,
    pub(super) lrpid: i32,
    pub(super) stime: i64,
    pub(super) rtime: i64,
    pub(super) ctime: i64,
    pub(super) removed: bool,
}

impl IpcObject for MsgQueue {
    type Stat = MsqidDs;

    fn perm(&self) -> MutexGuard<'_, Perm> {
        self.perm.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_removed(&self) {
        self.state().removed = true;
        self.queue.notify();
    }

    fn stat(&self) -> MsqidDs {
        let st = self.state();
        MsqidDs {
            msg_perm: self.perm().to_abi(),
            msg_stime: st.stime,
            msg_rtime: st.rtime,
            msg_ctime: st.ctime,
            msg_cbytes: st.cbytes,
            msg_qnum: st.msgs.len() as u64,
            msg_qbytes: st.qbytes,
            msg_lspid: st.lspid,
            msg_lrpid: st.lrpid,
            ..MsqidDs::default()
        }
    }
}

/// Which message msgrcv takes.
#[derive(Clone, Copy)]
pub struct Select {
    /// msgtyp.
    pub msgtyp: i64,
    /// msgflg.
    pub flags: u32,
}

impl Select {
    /// The index of the message to take, per msgtyp: the first (0), the
    /// first of that type (or, with MSG_EXCEPT, of another), the first of
    /// the lowest type at most -msgtyp (< 0); with MSG_COPY, the
    /// msgtyp'th.
    fn pick(&self, msgs: &VecDeque<(i64, Vec<u8>)>) -> Option<usize> {
        let t = self.msgtyp;
        if self.flags & MSG_COPY != 0 {
            return usize::try_from(t).ok().filter(|&i| i < msgs.len());
        }
        if t == 0 {
            return (!msgs.is_empty()).then_some(0);
        }
        if t > 0 {
            let except = self.flags & MSG_EXCEPT != 0;
            return msgs.iter().position(|(mt, _)| (*mt == t) != except);
        }
        let limit = t.checked_neg().unwrap_or(i64::MAX);
        let mut best: Option<(usize, i64)> = None;
        for (i, (mt, _)) in msgs.iter().enumerate() {
            if *mt <= limit && best.is_none_or(|(_, b)| *mt < b) {
                best = Some((i, *mt));
            }
        }
        best.map(|(i, _)| i)
    }
}

impl MsgQueue {
    /// A new, empty queue.
    pub fn new(perm: Perm) -> MsgQueue {
        MsgQueue {
            perm: Mutex::new(perm),
            state: Mutex::new(MsgState {
                msgs: VecDeque::new(),
                cbytes: 0,
                qbytes: MSGMNB,
                lspid: 0,
                lrpid: 0,
                stime: 0,
                rtime: 0,
                ctime: now_secs(),
                removed: false,
            }),
            queue: WaitQueue::default(),
        }
    }

    pub(super) fn state(&self) -> MutexGuard<'_, MsgState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One attempt to queue a message from `pid`: false while it does not
    /// fit (the caller waits or gives EAGAIN); EIDRM once removed.
    pub fn try_send(&self, mtype: i64, text: &[u8], pid: i32) -> SysResult<bool> {
        let mut st = self.state();
        if st.removed {
            return Err(Errno::EIDRM);
        }
        let len = text.len() as u64;
        if len + st.cbytes > st.qbytes || st.msgs.len() as u64 + 1 > st.qbytes {
            return Ok(false);
        }
        st.cbytes += len;
        st.msgs.push_back((mtype, text.to_vec()));
        st.lspid = pid;
        st.stime = now_secs();
        drop(st);
        self.queue.notify();
        Ok(true)
    }

    /// One attempt to take a message for `pid`, of at most `max` bytes:
    /// `None` while there is none to take (the caller waits or gives
    /// ENOMSG); E2BIG for a longer one without MSG_NOERROR (it stays);
    /// EIDRM once removed.
    pub fn try_receive(&self, sel: Select, max: usize, noerror: bool, pid: i32) -> SysResult<Option<(i64, Vec<u8>)>> {
        let mut st = self.state();
        if st.removed {
            return Err(Errno::EIDRM);
        }
        let Some(i) = sel.pick(&st.msgs) else {
            return Ok(None);
        };
        if st.msgs[i].1.len() > max && !noerror {
            return Err(Errno::E2BIG);
        }
        if sel.flags & MSG_COPY != 0 {
            let (mt, text) = &st.msgs[i];
            return Ok(Some((*mt, text[..text.len().min(max)].to_vec())));
        }
        let (mt, mut text) = st.msgs.remove(i).unwrap_or_default();
        st.cbytes -= text.len() as u64;
        st.lrpid = pid;
        st.rtime = now_secs();
        drop(st);
        self.queue.notify();
        text.truncate(max);
        Ok(Some((mt, text)))
    }

    /// IPC_SET: new owner, mode and byte limit. A limit past MSGMNB needs
    /// CAP_SYS_RESOURCE (EPERM).
    pub fn set(&self, from: &MsqidDs, creds: &crate::kernel::process::Credentials) -> SysResult<()> {
        if from.msg_qbytes > MSGMNB && !creds.has_cap(abi::flags::capability::CAP_SYS_RESOURCE) {
            return Err(Errno::EPERM);
        }
        let mut st = self.state();
        st.qbytes = from.msg_qbytes;
        st.ctime = now_secs();
        self.perm().set(&from.msg_perm);
        drop(st);
        // A smaller limit changes nothing for waiters; a larger one may let
        // a sender in.
        self.queue.notify();
        Ok(())
    }

    /// Messages and bytes queued (MSG_INFO's totals).
    pub fn usage(&self) -> (usize, u64) {
        let st = self.state();
        (st.msgs.len(), st.cbytes)
    }
}
