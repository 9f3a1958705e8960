//! Inter-process communication and CPU-time timers, one focused C program
//! from `tests/progs/` per area: System V shared memory, semaphores and
//! message queues, POSIX message queues (and, Husk-only, their filesystem
//! at /dev/mqueue), and ITIMER_VIRTUAL/ITIMER_PROF with the CPU-time
//! clocks and POSIX timers on them.
//!
//! Natively the programs run in the host's IPC namespace: they make their
//! keys and queue names from their pid and remove everything they create,
//! so that parallel runs do not meet. Each program checks itself and
//! prints only deterministic lines (see the comment at the top of each);
//! the cases compare exit status and stdout with the native run and list
//! a few key lines, so that a wrong native run says what was expected.

use std::time::Duration;

use husk_suite::{
    differential, differential_test, husk_test, prog_rootfs, run_husk, self_checking_case, Case, Link, Rootfs,
};

/// Generous: these programs fork, sleep a little, burn CPU and wait, and
/// Husk's platforms are slower than native at that.
const TIMEOUT: Duration = Duration::from_secs(180);

fn case(rootfs: &Rootfs, prog: &str) -> Case {
    self_checking_case(rootfs, prog, TIMEOUT)
}

differential_test! {
    /// shmget's rules and errors, shmat at any, fixed and rounded
    /// addresses (SHM_RND, SHM_REMAP, SHM_RDONLY faulting on a write), one
    /// segment seen through two attaches and by fork children, shmdt's
    /// errors, IPC_STAT (size, nattch, pids), IPC_SET, IPC_RMID while
    /// attached (SHM_DEST), IPC_INFO and the /proc/sys/kernel limits.
    fn sysv_shm(platform, link) {
        let (rootfs, prog) = prog_rootfs("sysv_shm", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "shmget: the key again, IPC_CREAT|IPC_EXCL: EEXIST",
            "shmget: the key, a larger size: EINVAL",
            "shmget: a missing key without IPC_CREAT: ENOENT",
            "shmget: IPC_PRIVATE, size 0: EINVAL",
            "IPC_STAT of a new 100-byte segment: segsz 100, mode 600, nattch 0",
            "a 100-byte segment's mapping: 4096 bytes",
            "after two: nattch 2",
            "shmdt of an unaligned address: EINVAL",
            "shmat with SHM_RND rounds down to SHMLBA: ok",
            "shmat over a mapping: EINVAL",
            "a write through a SHM_RDONLY attach: killed by SIGSEGV",
            "with a fork child alive: nattch 2",
            "after it exited: nattch 1",
            "after IPC_RMID: mode 1600, nattch 1",
            "shmget: the key without IPC_CREAT: ENOENT",
            "IPC_STAT after the last shmdt: EINVAL",
            "/proc/sys/kernel/shmmni: 4096",
            "IPC_INFO: shmmax 18446744073692774399, shmmin 1, shmmni 4096, shmseg 4096, shmall 18446744073692774399",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// semget's rules and errors, semctl's commands, semop (IPC_NOWAIT,
    /// wait-for-zero, all-or-none sets, SEMVMX, SEMOPM, sem_num),
    /// semtimedop's timeout, waits woken by a child, EINTR even with
    /// SA_RESTART, EIDRM on removal, SEM_UNDO at exit, IPC_INFO and
    /// /proc/sys/kernel/sem.
    fn sysv_sem(platform, link) {
        let (rootfs, prog) = prog_rootfs("sysv_sem", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "IPC_STAT: nsems 3, mode 640",
            "SETVAL 32768: ERANGE",
            "semop -1 at 0, IPC_NOWAIT: EAGAIN",
            "semop {0:+1, 1:-5} with 1 at 2, IPC_NOWAIT: EAGAIN",
            "values after it: 0 2",
            "semop +1 at SEMVMX: ERANGE",
            "semop with 501 operations: E2BIG",
            "semop on semaphore 3 of 3: EFBIG",
            "semtimedop -1 at 0, 50 ms: EAGAIN",
            "after +1: value 1, GETNCNT 1",
            "a child blocked in {0:-1, 1:-1} at 1 0: GETNCNT 0 1, values 1 0",
            "semop in a child, SIGUSR1 with SA_RESTART: EINTR, handler ran 1",
            "semop in a child when the set is removed: EIDRM",
            "a child's +3 with SEM_UNDO then -3, after its exit (clamped): 0",
            "a child's +2 with SEM_UNDO then SETVAL 7, after its exit: 7",
            "/proc/sys/kernel/sem (tabs as spaces): 32000 1024000000 500 32000",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// /proc/sysvipc/{shm,sem,msg}: the header, an object's line (key,
    /// mode, sizes, pids, owners, rss) as it changes, and gone once
    /// removed; the *_STAT_ANY commands given an id.
    fn sysv_proc(platform, link) {
        let (rootfs, prog) = prog_rootfs("sysv_proc", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "shm line: 16 fields, key ok 1, mode 640, size 10000, cpid ok 1, nattch 0, uid 0, cuid 0, rss 0",
            "after touching pages 0 and 2 of an attach: nattch 1, lpid ok 1, rss of 2 or 3 pages 1",
            "SHM_STAT_ANY given the id: the id",
            "sem line: 10 fields, key ok 1, mode 600, nsems 3, uid 0, cgid 0, otime 0",
            "SEM_STAT_ANY given the id: the id",
            "msg line: 14 fields, key ok 1, mode 620, cbytes 8, qnum 2, lspid ok 1, lrpid 0, uid 0",
            "after a receive: cbytes 3, qnum 1, lrpid ok 1, rtime set 1",
            "MSG_STAT_ANY given the id: the id",
            "after IPC_RMID: line gone",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// msgget's rules, msgrcv's msgtyp kinds (0, > 0, < 0, MSG_EXCEPT),
    /// MSG_NOERROR against E2BIG, IPC_NOWAIT, blocked receives and sends
    /// woken by a child, msg_qbytes limiting bytes and message count,
    /// IPC_STAT/IPC_SET, EIDRM on removal, EINTR even with SA_RESTART,
    /// IPC_INFO and the /proc/sys/kernel limits.
    fn sysv_msg(platform, link) {
        let (rootfs, prog) = prog_rootfs("sysv_msg", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "IPC_STAT of a new queue: mode 640, qnum 0, cbytes 0, qbytes 16384",
            "after four sends: qnum 4, cbytes 14",
            "msgrcv type -2 (the lowest type <= 2, first sent): type 1, 3 bytes, 'one'",
            "msgrcv type 1 with MSG_EXCEPT: type 2, 3 bytes, 'two'",
            "msgrcv type 0 of an empty queue, IPC_NOWAIT: ENOMSG",
            "msgrcv of 10 bytes into 4: E2BIG",
            "msgrcv of 10 bytes into 4 with MSG_NOERROR: type 7, 4 bytes, '0123'",
            "msgsnd of 8193 bytes: EINVAL",
            "msgsnd type 0: EINVAL",
            "msgsnd of 60 more, IPC_NOWAIT: EAGAIN",
            "the blocked sender: exited 0",
            "qbytes 3: a fourth: EAGAIN",
            "a blocking msgrcv type 9, the child sends 8 then 9: type 9, 4 bytes, 'nine'",
            "msgrcv in a child, SIGUSR1 with SA_RESTART: EINTR, handler ran: yes",
            "msgrcv blocked in a child when the queue is removed: EIDRM",
            "msgsnd blocked in a child when the queue is removed: EIDRM",
            "/proc/sys/kernel/msgmnb: 16384",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// mq_open's attributes and name rules, the descriptor as a file
    /// (close-on-exec, fcntl, fstat, read() of its status line),
    /// priorities, limits, O_NONBLOCK and timeouts, blocking calls woken by
    /// a child, SA_RESTART, mq_getattr/mq_setattr, mq_notify, poll, select
    /// and epoll readiness, mq_unlink and /proc/sys/fs/mqueue.
    fn mqueue(platform, link) {
        let (rootfs, prog) = prog_rootfs("mqueue", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "its attributes: flags 0, maxmsg 10, msgsize 8192, curmsgs 0",
            "mq_open O_CREAT|O_EXCL again: EEXIST",
            "raw mq_open of 'a/b': EACCES",
            "close-on-exec without O_CLOEXEC (Linux always sets it): ok",
            "fstat: mode 100600, size 80, nlink 1",
            "read() of the descriptor: 60 bytes: QSIZE:10         NOTIFY:0     SIGNO:0     NOTIFY_PID:0     ",
            "mq_send when full, O_NONBLOCK: EAGAIN",
            "mq_timedreceive when empty, 50 ms: ETIMEDOUT",
            "receive 1: 'high' prio 9",
            "receive 4: 'low' prio 1",
            "mq_receive into 15 bytes (msgsize 16): EMSGSIZE",
            "a blocking mq_receive, a child sends: 'from the child' prio 3",
            "mq_receive in a child, SIGUSR1 with SA_RESTART, then a send: got it, handler ran: yes",
            "mq_receive in a child, SIGUSR1 without SA_RESTART: EINTR, handler ran: yes",
            "a send to the empty queue: 1 signal(s)",
            "mq_notify from a child while the parent is registered: EBUSY",
            "a send with a receiver waiting: receiver exited 0, 0 signal(s)",
            "mq_open after it: ENOENT",
            "after a child's close, the child's mq_notify: EBUSY",
            "registered, another fd of the queue closed, then a send: 0 signal(s)",
            "then a child's mq_notify: ok",
            "after the child's exit, the parent's mq_notify: ok",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// mq_notify with SIGEV_THREAD (glibc's netlink cookie): the function
    /// runs in a new thread; EBUSY, removal, and a bad socket's errnos.
    fn mq_notify_thread(platform, link) {
        let (rootfs, prog) = prog_rootfs("mq_notify_thread", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "again: EBUSY",
            "ran: 1, value 42, in another thread 1",
            "after removal, ran: 0",
            "not a socket: ENOTSOCK",
        ]);
        differential(platform, &case);
    }
}

husk_test! {
    /// The mqueue filesystem at /dev/mqueue (the native chroot has none):
    /// a queue's file with its status text, listing, unlink(2), mkdir's
    /// EPERM, and a queue made by open(2) with O_CREAT.
    fn mqueue_fs(platform) {
        let (rootfs, prog) = prog_rootfs("mqueue", Link::Static);
        let case = case(&rootfs, &prog).args(["fs"]).expect_stdout(
            "stat /dev/mqueue: ok\n\
             /dev/mqueue: mode 41777\n\
             mq_open /husk-fs: ok\n\
             stat /dev/mqueue/husk-fs: ok\n\
             its mode 100600, size 80\n\
             read of /dev/mqueue/husk-fs: 60 bytes: QSIZE:10         NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n\
             ls /dev/mqueue: husk-fs husk-fs2\n\
             unlink /dev/mqueue/husk-fs: ok\n\
             then mq_open /husk-fs: ENOENT\n\
             the open descriptor still works: 'world' prio 2\n\
             mkdir /dev/mqueue/dir: EPERM\n\
             open O_CREAT /dev/mqueue/husk-fs3: ok\n\
             mq_getattr of it: flags 0, maxmsg 10, msgsize 8192, curmsgs 0\n\
             mq_unlink /husk-fs2: ok\n\
             mq_unlink /husk-fs3: ok\n\
             done\n",
        );
        let out = run_husk(platform, &case);
        case.verify(&format!("husk --platform {platform}"), &out);
    }
}

differential_test! {
    /// ITIMER_VIRTUAL and ITIMER_PROF (signals after CPU time, getitimer
    /// counting down, intervals, nothing while asleep, not inherited by
    /// fork), the CPU-time clocks of the process, its threads and a child,
    /// clock_nanosleep on them, and POSIX timers on CPU clocks.
    fn cpu_timers(platform, link) {
        let (rootfs, prog) = prog_rootfs("cpu_timers", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "SIGVTALRM while burning CPU: ok",
            "SIGPROF while burning CPU: ok",
            "getitimer(ITIMER_VIRTUAL): decreases while burning: ok",
            "asleep 300 ms with 10 ms ITIMER_VIRTUAL and ITIMER_PROF: 0 SIGVTALRM, 0 SIGPROF",
            "ITIMER_PROF every 10 ms: 3 signals while burning: ok",
            "the old value's interval: 10000 us",
            "a fork child's ITIMER_VIRTUAL and ITIMER_PROF are off: exited 0",
            "setitimer: which 3: EINVAL",
            "clock_getres(CLOCK_PROCESS_CPUTIME_ID): 0.000000001",
            "the thread's clock, read from main: at least 50 ms: ok",
            "clock_nanosleep(CLOCK_THREAD_CPUTIME_ID): EOPNOTSUPP",
            "clock_getcpuclockid(a child): 0",
            "clock_getcpuclockid(the reaped child): ESRCH",
            "siginfo: SI_TIMER, the value: ok",
            "asleep 200 ms with a 50 ms process CPU timer: 0 signal(s)",
            "CLOCK_THREAD_CPUTIME_ID timer: fires while burning: ok",
            "a timer on another thread's clock: fires while it burns: ok",
            "done",
        ]);
        differential(platform, &case);
    }
}
