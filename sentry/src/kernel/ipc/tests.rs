//! The IPC objects on their own: ids, keys and permissions, semop's
//! all-or-nothing rule and undo, msgrcv's choice of message, and message
//! queue priorities.

use abi::flags::ipc::{IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, MSG_EXCEPT, SEM_UNDO};
use abi::types::Sembuf;
use abi::Errno;

use super::mqueue::{MqNamespace, OpenRequest};
use super::msg::{MsgQueue, Select};
use super::sem::{Attempt, SemField, SemRegistry};
use super::*;

fn root() -> Credentials {
    Credentials::new(0, 0)
}

fn user(uid: u32) -> Credentials {
    Credentials::new(uid, uid)
}

fn new_queue(reg: &Registry<MsgQueue>, key: i32, flags: u32, creds: &Credentials) -> SysResult<i32> {
    reg.get_or_create(GetRequest { key, flags, creds }, |_| Ok(()), |p, _| Ok(MsgQueue::new(p)))
}

#[test]
fn keys_ids_and_permissions() {
    let reg: Registry<MsgQueue> = Registry::new(4);
    let owner = user(1000);
    let id = new_queue(&reg, 42, IPC_CREAT | 0o600, &owner).unwrap();
    assert_eq!(new_queue(&reg, 42, 0, &owner), Ok(id), "the key finds the same queue");
    assert_eq!(new_queue(&reg, 42, IPC_CREAT | IPC_EXCL, &owner), Err(Errno::EEXIST));
    assert_eq!(new_queue(&reg, 43, 0, &owner), Err(Errno::ENOENT));
    assert_eq!(new_queue(&reg, 42, 0o400, &user(1001)), Err(Errno::EACCES), "others have no bits");
    assert_eq!(new_queue(&reg, 42, 0o400, &root()), Ok(id), "root passes");
    let other = new_queue(&reg, IPC_PRIVATE, 0o600, &owner).unwrap();
    assert_ne!(other, id, "IPC_PRIVATE always makes a new one");

    let q = reg.get(id).unwrap();
    assert_eq!(q.perm().check_owner(&user(1001)), Err(Errno::EPERM));
    reg.remove(id, |q| q.perm().check_owner(&owner)).unwrap();
    assert_eq!(reg.get(id).err(), Some(Errno::EINVAL), "a removed id is gone");
    let again = new_queue(&reg, 42, IPC_CREAT | 0o600, &owner).unwrap();
    assert_ne!(again, id, "a new object under the old key has a new id");
    assert!(reg.get(id).is_err(), "the stale id does not reach the new object");
    assert_eq!(q.try_send(1, b"x", 1), Err(Errno::EIDRM), "the removed queue tells its users");
}

#[test]
fn the_table_is_bounded() {
    let reg: Registry<MsgQueue> = Registry::new(2);
    let c = root();
    new_queue(&reg, IPC_PRIVATE, 0o600, &c).unwrap();
    new_queue(&reg, IPC_PRIVATE, 0o600, &c).unwrap();
    assert_eq!(new_queue(&reg, IPC_PRIVATE, 0o600, &c), Err(Errno::ENOSPC));
}

fn op(num: u16, op: i16, flg: i16) -> Sembuf {
    Sembuf { sem_num: num, sem_op: op, sem_flg: flg }
}

#[test]
fn semop_applies_all_or_nothing() {
    let sems = SemRegistry::default();
    let c = root();
    let id = sems.get(GetRequest { key: IPC_PRIVATE, flags: 0o600, creds: &c }, 2).unwrap();
    let set = sems.sets.get(id).unwrap();
    set.set(Some(0), &[1], 1).unwrap();
    // The second operation cannot go: nothing changes, and the waiter
    // counts on semaphore 1.
    match set.try_op(&[op(0, -1, 0), op(1, -1, 0)], 7).unwrap() {
        Attempt::Wait(b) => {
            assert_eq!(set.get(1, SemField::Ncnt), Ok(1));
            set.stop_waiting(b);
            assert_eq!(set.get(1, SemField::Ncnt), Ok(0));
        }
        Attempt::Done => panic!("applied an operation that must wait"),
    }
    assert_eq!(set.get(0, SemField::Val), Ok(1), "the first operation was not applied alone");
    assert_eq!(set.try_op(&[op(1, -1, IPC_NOWAIT as i16)], 7), Err(Errno::EAGAIN));
    assert_eq!(set.try_op(&[op(0, 32767, 0)], 7), Err(Errno::ERANGE));
    assert_eq!(set.try_op(&[op(0, -1, 0), op(1, 2, 0)], 7), Ok(Attempt::Done));
    assert_eq!(set.values(), vec![0, 2]);
    assert_eq!(set.get(1, SemField::Pid), Ok(7));
}

#[test]
fn undo_is_applied_at_exit() {
    let sems = SemRegistry::default();
    let c = root();
    let id = sems.get(GetRequest { key: IPC_PRIVATE, flags: 0o600, creds: &c }, 1).unwrap();
    let set = sems.sets.get(id).unwrap();
    set.set(Some(0), &[5], 1).unwrap();
    assert_eq!(set.try_op(&[op(0, -2, SEM_UNDO)], 9), Ok(Attempt::Done));
    sems.note_undo(9);
    assert_eq!(set.values(), vec![3]);
    sems.exit(9);
    assert_eq!(set.values(), vec![5], "the exit gave back what the process took");
    sems.exit(9);
    assert_eq!(set.values(), vec![5], "once only");
}

#[test]
fn msgrcv_picks_by_type() {
    let q = MsgQueue::new(Perm::new(IPC_PRIVATE, 0o600, &root()));
    for (t, text) in [(3, "c"), (1, "a"), (2, "b"), (1, "a2")] {
        assert_eq!(q.try_send(t, text.as_bytes(), 1), Ok(true));
    }
    let take = |msgtyp, flags| q.try_receive(Select { msgtyp, flags }, 100, false, 2).unwrap().map(|(t, _)| t);
    assert_eq!(take(-2, 0), Some(1), "the lowest type up to 2");
    assert_eq!(take(1, MSG_EXCEPT), Some(3), "the first not of type 1");
    assert_eq!(take(2, 0), Some(2));
    assert_eq!(take(0, 0), Some(1), "then the first of all");
    assert_eq!(take(0, 0), None);
    assert_eq!(q.try_send(1, b"long text", 1), Ok(true));
    assert_eq!(q.try_receive(Select { msgtyp: 0, flags: 0 }, 4, false, 2), Err(Errno::E2BIG));
    let cut = q.try_receive(Select { msgtyp: 0, flags: 0 }, 4, true, 2).unwrap();
    assert_eq!(cut, Some((1, b"long".to_vec())), "MSG_NOERROR truncates");
}

#[test]
fn msgsnd_waits_for_room() {
    let q = MsgQueue::new(Perm::new(IPC_PRIVATE, 0o600, &root()));
    let big = vec![0u8; 8192];
    assert_eq!(q.try_send(1, &big, 1), Ok(true));
    assert_eq!(q.try_send(1, &big, 1), Ok(true));
    assert_eq!(q.try_send(1, b"x", 1), Ok(false), "16384 bytes is full");
}

#[test]
fn mqueue_priorities_and_names() {
    let ns = MqNamespace::default();
    let c = root();
    let open = |name: &'static [u8], create| {
        ns.open(OpenRequest {
            name,
            create,
            exclusive: false,
            access: Some(MAY_READ | MAY_WRITE),
            mode: 0o600,
            attr: Some((3, 16)),
            creds: &c,
            rlimit: 819_200,
        })
    };
    assert_eq!(open(b"q", false).err(), Some(Errno::ENOENT));
    assert_eq!(open(b"a/b", true).err(), Some(Errno::EACCES));
    let q = open(b"q", true).unwrap();
    for (m, prio) in [(&b"low"[..], 1), (b"high", 5), (b"low2", 1)] {
        assert!(q.try_send(m, prio).0);
    }
    assert!(q.is_full());
    assert!(!q.try_send(b"x", 0).0, "a full queue takes nothing");
    assert_eq!(q.try_receive(), Some((b"high".to_vec(), 5)));
    assert_eq!(q.try_receive(), Some((b"low".to_vec(), 1)), "same priority: arrival order");
    assert_eq!(q.try_receive(), Some((b"low2".to_vec(), 1)));
    assert!(q.status_line().starts_with("QSIZE:0 "));
    ns.unlink(b"q", &user(5)).unwrap_err();
    ns.unlink(b"q", &c).unwrap();
    assert!(ns.get(b"q").is_none());
}

#[test]
fn mqueue_charges_the_creators_limit() {
    let ns = MqNamespace::default();
    let c = user(1000);
    let open = |name: &'static [u8]| {
        ns.open(OpenRequest {
            name,
            create: true,
            exclusive: true,
            access: Some(MAY_READ | MAY_WRITE),
            mode: 0o600,
            attr: None,
            creds: &c,
            rlimit: 819_200,
        })
    };
    // Ten messages of 8 KiB and their bookkeeping: nine fit in 800 KiB.
    let queues: Vec<_> = (0..9).map(|i| open([b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i"][i])).collect();
    assert!(queues.iter().all(Result::is_ok));
    assert_eq!(open(b"j").err(), Some(Errno::EMFILE));
    ns.unlink(b"a", &c).unwrap();
    drop(queues);
    assert!(open(b"j").is_ok(), "a removed and closed queue gives its bytes back");
}

/// A namespace with a segment, a set holding an undo, a queue holding a
/// message and a POSIX queue, saved, brought back into a fresh namespace
/// and saved again, gives the same snapshot; damaged snapshots are refused.
#[test]
fn snapshots_round_trip_and_damage_is_refused() {
    use super::snapshot;
    let mf = Arc::new(crate::mm::MemoryFile::new(1 << 24).unwrap());
    let ns = IpcNamespace::new(mf.clone());
    let creds = root();
    let req = |key| GetRequest { key, flags: IPC_CREAT | 0o640, creds: &creds };
    let shm = ns.shm.get(req(7), 8192, 1).unwrap();
    let sem = ns.sem.get(req(8), 3).unwrap();
    let set = ns.sem.sets.get(sem).unwrap();
    let up = Sembuf { sem_num: 1, sem_op: 2, sem_flg: SEM_UNDO };
    assert_eq!(set.try_op(&[up], 5), Ok(Attempt::Done));
    let msq = new_queue(&ns.msg, 9, IPC_CREAT | 0o600, &creds).unwrap();
    assert_eq!(ns.msg.get(msq).unwrap().try_send(4, b"four", 1), Ok(true));

    let files: Vec<_> = snapshot::segment_files(&ns);
    let file_of = |f: &Arc<crate::vfs::tmpfs::Inode>| files.iter().position(|g| Arc::ptr_eq(f, g)).map(|i| (0, i));
    let saved = snapshot::save(&ns, file_of).unwrap();

    let fresh = IpcNamespace::new(mf.clone());
    let segs =
        snapshot::restore(&fresh, snapshot::save(&ns, file_of).unwrap(), |(_, i)| files.get(i).cloned()).unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(snapshot::save(&fresh, file_of).unwrap(), saved, "a round trip changes nothing");
    assert_eq!(fresh.shm.segs.get(shm).unwrap().size(), 8192, "the id finds the segment");
    assert_eq!(fresh.sem.sets.get(sem).unwrap().get(1, SemField::Val), Ok(2));
    fresh.sem.exit(5);
    assert_eq!(fresh.sem.sets.get(sem).unwrap().get(1, SemField::Val), Ok(0), "the undo was kept");
    let sel = Select { msgtyp: 0, flags: 0 };
    assert_eq!(fresh.msg.get(msq).unwrap().try_receive(sel, 64, false, 2), Ok(Some((4, b"four".to_vec()))));
    assert!(
        snapshot::restore(&fresh, snapshot::save(&ns, file_of).unwrap(), |(_, i)| files.get(i).cloned()).is_err(),
        "a namespace already holding the objects"
    );

    let damaged: [fn(&mut snapshot::SysvSnapshot); 5] = [
        |s| s.sem.objects[0].2.undo[0].1.push(1),
        |s| s.sem.objects[0].2.sems[0].0 = -1,
        |s| s.msg.objects.push(s.msg.objects[0].clone()),
        |s| s.shm.objects[0].0 = 1 << 20,
        |s| s.msg.seq = -4,
    ];
    for (n, damage) in damaged.iter().enumerate() {
        let mut s = snapshot::save(&ns, file_of).unwrap();
        damage(&mut s);
        let target = IpcNamespace::new(mf.clone());
        assert!(snapshot::restore(&target, s, |(_, i)| files.get(i).cloned()).is_err(), "damage {n} was taken");
    }

    let mq = MqNamespace::default();
    let q = mq
        .open(OpenRequest {
            name: b"q",
            create: true,
            exclusive: true,
            access: Some(MAY_READ),
            mode: 0o600,
            attr: None,
            creds: &creds,
            rlimit: u64::MAX,
        })
        .unwrap();
    assert!(q.try_send(b"hi", 3).0);
    let no_sockets = &mut |_: &Arc<crate::vfs::unix::Endpoint>| 0;
    let snap = mq.snapshot(&q, no_sockets);
    let back = MqNamespace::default();
    let r = back.restore(mq.snapshot(&q, no_sockets), &[]).unwrap();
    assert_eq!(back.snapshot(&r, no_sockets), snap);
    assert_eq!(r.try_receive(), Some((b"hi".to_vec(), 3)));
    let mut bad = mq.snapshot(&q, no_sockets);
    bad.msgs[0].0 = super::mqueue::MQ_PRIO_MAX;
    assert!(MqNamespace::default().restore(bad, &[]).is_err(), "a priority past MQ_PRIO_MAX");
}
