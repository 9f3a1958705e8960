/* The workloads of benches/harness.py in one static program, so that the same
 * binary runs natively, under husk and under runsc:
 *
 *   hbench getpid N          N syscall(SYS_getpid)
 *   hbench clock N           N clock_gettime(CLOCK_MONOTONIC), through the
 *                            vDSO where there is one (after a 200 ms wait:
 *                            Husk's timekeeper calibrates in its first 50)
 *   hbench read N            N 1-byte reads from /dev/zero
 *   hbench openclose N PATH  N open(PATH)+close
 *   hbench stat N PATH       N stat(PATH)
 *   hbench fork N            N fork, _exit(0) in the child, waitpid
 *   hbench forkexec N PATH   N fork, execve(PATH) in the child, waitpid
 *   hbench file MB DIR       write MB MiB to DIR/hbench.dat in 1 MiB writes,
 *                            fsync-free, then read it back; unlinks it
 *   hbench smallfiles N DIR  create, write 100 bytes to and close N files in
 *                            a new directory under DIR; removes them untimed
 *   hbench pipe MB           a child writes MB MiB into a pipe in 64 KiB
 *                            writes, the parent reads them all
 *   hbench unix MB           the same through an AF_UNIX SOCK_STREAM
 *                            socketpair
 *   hbench epollpp N         N round trips of one byte between two processes
 *                            over an AF_UNIX SOCK_STREAM socketpair, each
 *                            side waiting in epoll_wait on its end
 *   hbench eventfd N         N round trips between two threads over two
 *                            eventfds (blocking read and write)
 *   hbench tcp MB [IP PORT]  send MB MiB over one TCP connection in 64 KiB
 *                            writes: to a child reading it all on the
 *                            loopback, or to a sink at IP:PORT (which reads
 *                            to EOF and then closes); timed to the end
 *   hbench tcpconn N [IP PORT]  N TCP connect+close: to a child accepting
 *                            on the loopback, or to IP:PORT
 *   hbench fault MB          mmap MB MiB anonymous, store to each 4 KiB page
 *   hbench sleep MS          sleep MS milliseconds
 *
 * Prints one number: the mean ns per operation (round trip) for the loops, the
 * total ns of the timed part for file, pipe, unix, tcp and fault (nothing for
 * sleep). Exits nonzero on any failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int die(const char *what) {
    perror(what);
    exit(3);
}

/* Waits in epoll_wait on ep until fd (its only member) is readable, then
 * reads one byte from it: 1 on a byte, 0 at EOF, -1 on an error. */
static int epoll_read1(int ep, int fd, char *c) {
    struct epoll_event ev;
    int r;
    do
        r = epoll_wait(ep, &ev, 1, -1);
    while (r < 0 && errno == EINTR);
    if (r != 1 || ev.data.fd != fd)
        return -1;
    ssize_t got = read(fd, c, 1);
    return got < 0 ? -1 : (int)got;
}

/* An epoll instance watching fd for EPOLLIN. */
static int epoll_on(int fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (ep < 0)
        die("epoll_create1");
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        die("epoll_ctl");
    return ep;
}

/* One byte out on fd and back, waiting for it in epoll_wait on ep. */
static void epoll_round_trip(int ep, int fd) {
    char c = 'p';
    if (write(fd, &c, 1) != 1)
        die("write");
    if (epoll_read1(ep, fd, &c) != 1)
        die("epoll_wait+read");
}

/* A count out on efd[0] and one back on efd[1]. */
static void eventfd_round_trip(const int efd[2]) {
    uint64_t v = 1;
    if (write(efd[0], &v, sizeof v) != sizeof v)
        die("eventfd write");
    if (read(efd[1], &v, sizeof v) != sizeof v)
        die("eventfd read");
}

struct efd_pair {
    int efd[2];
    long n;
};

/* The second thread of `eventfd`: n + 1 times (one to warm up), waits for a
 * count on efd[0] and answers on efd[1]. */
static void *eventfd_echo(void *arg) {
    struct efd_pair *e = arg;
    uint64_t v;
    for (long i = 0; i <= e->n; i++) {
        if (read(e->efd[0], &v, sizeof v) != sizeof v)
            die("eventfd read (thread)");
        v = 1;
        if (write(e->efd[1], &v, sizeof v) != sizeof v)
            die("eventfd write (thread)");
    }
    return NULL;
}

/* The sink for tcp and tcpconn on the loopback: a child that accepts
 * connections on `l` and reads each to EOF, until it has served `conns`. */
static pid_t loopback_sink(int l, long conns) {
    pid_t c = fork();
    if (c < 0)
        die("fork");
    if (c == 0) {
        static char buf[64 << 10];
        for (long i = 0; i < conns; i++) {
            int s = accept(l, NULL, NULL);
            if (s < 0)
                _exit(1);
            while (read(s, buf, sizeof buf) > 0)
                ;
            close(s);
        }
        _exit(0);
    }
    return c;
}

/* Waits for a loopback sink (none if c <= 0), which must succeed. */
static void reap_sink(pid_t c) {
    int st;
    if (c > 0 && (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0))
        die("the tcp sink failed");
}

/* The address to connect to: argv's IP PORT, or a new loopback listener
 * (in *l) on an ephemeral port. */
static struct sockaddr_in tcp_target(int argc, char **argv, int *l) {
    struct sockaddr_in a = { .sin_family = AF_INET };
    *l = -1;
    if (argc > 4) {
        if (inet_pton(AF_INET, argv[3], &a.sin_addr) != 1)
            die("bad IP");
        a.sin_port = htons(atoi(argv[4]));
        return a;
    }
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    *l = socket(AF_INET, SOCK_STREAM, 0);
    if (*l < 0 || bind(*l, (struct sockaddr *)&a, sizeof a) != 0 || listen(*l, 4096) != 0 ||
        getsockname(*l, (struct sockaddr *)&a, &len) != 0)
        die("listen");
    return a;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: hbench WORKLOAD N [PATH]\n");
        return 2;
    }
    const char *w = argv[1];
    long n = atol(argv[2]);
    const char *path = argc > 3 ? argv[3] : "/";
    double a, b;
    int per_op = 1;

    if (!strcmp(w, "clock")) {
        struct timespec ts;
        usleep(200000);
        a = now_ns();
        for (long i = 0; i < n; i++)
            clock_gettime(CLOCK_MONOTONIC, &ts);
        b = now_ns();
    } else if (!strcmp(w, "getpid")) {
        syscall(SYS_getpid);
        a = now_ns();
        for (long i = 0; i < n; i++)
            syscall(SYS_getpid);
        b = now_ns();
    } else if (!strcmp(w, "read")) {
        int fd = open("/dev/zero", O_RDONLY);
        char c;
        if (fd < 0)
            die("open /dev/zero");
        a = now_ns();
        for (long i = 0; i < n; i++)
            if (read(fd, &c, 1) != 1)
                die("read");
        b = now_ns();
    } else if (!strcmp(w, "openclose")) {
        a = now_ns();
        for (long i = 0; i < n; i++) {
            int fd = open(path, O_RDONLY);
            if (fd < 0)
                die("open");
            close(fd);
        }
        b = now_ns();
    } else if (!strcmp(w, "stat")) {
        struct stat st;
        a = now_ns();
        for (long i = 0; i < n; i++)
            if (stat(path, &st) != 0)
                die("stat");
        b = now_ns();
    } else if (!strcmp(w, "fork") || !strcmp(w, "forkexec")) {
        int exec = !strcmp(w, "forkexec");
        a = now_ns();
        for (long i = 0; i < n; i++) {
            pid_t p = fork();
            if (p < 0)
                die("fork");
            if (p == 0) {
                if (exec) {
                    char *av[] = {(char *)path, NULL};
                    char *ev[] = {NULL};
                    execve(path, av, ev);
                    _exit(127);
                }
                _exit(0);
            }
            int st;
            if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                die("waitpid");
        }
        b = now_ns();
    } else if (!strcmp(w, "file")) {
        size_t chunk = 1 << 20;
        char *buf = malloc(chunk);
        char file[4096];
        memset(buf, 'x', chunk);
        snprintf(file, sizeof file, "%s/hbench.dat", path);
        a = now_ns();
        int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        if (fd < 0)
            die("open for writing");
        for (long i = 0; i < n; i++)
            if (write(fd, buf, chunk) != (ssize_t)chunk)
                die("write");
        close(fd);
        fd = open(file, O_RDONLY);
        if (fd < 0)
            die("open for reading");
        long total = 0;
        ssize_t r;
        while ((r = read(fd, buf, chunk)) > 0)
            total += r;
        if (r < 0 || total != n * (long)chunk)
            die("read back");
        close(fd);
        b = now_ns();
        unlink(file);
        per_op = 0;
    } else if (!strcmp(w, "smallfiles")) {
        /* Create, write 100 bytes to and close n files in a fresh
         * directory under path; ns per file. They are removed afterwards,
         * outside the timing. */
        char dir[4096], file[4200], data[100];
        memset(data, 'x', sizeof data);
        snprintf(dir, sizeof dir, "%s/hbench-files-%d", path, (int)getpid());
        if (mkdir(dir, 0755) != 0)
            die("mkdir");
        a = now_ns();
        for (long i = 0; i < n; i++) {
            snprintf(file, sizeof file, "%s/f%ld", dir, i);
            int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0644);
            if (fd < 0 || write(fd, data, sizeof data) != (ssize_t)sizeof data)
                die("create and write");
            close(fd);
        }
        b = now_ns();
        for (long i = 0; i < n; i++) {
            snprintf(file, sizeof file, "%s/f%ld", dir, i);
            unlink(file);
        }
        rmdir(dir);
    } else if (!strcmp(w, "pipe")) {
        size_t chunk = 64 << 10;
        long total = n << 20;
        char *buf = malloc(chunk);
        int p[2];
        memset(buf, 'y', chunk);
        if (pipe(p) != 0)
            die("pipe");
        a = now_ns();
        pid_t c = fork();
        if (c < 0)
            die("fork");
        if (c == 0) {
            close(p[0]);
            for (long done = 0; done < total; done += chunk)
                if (write(p[1], buf, chunk) != (ssize_t)chunk)
                    _exit(1);
            _exit(0);
        }
        close(p[1]);
        long got = 0;
        ssize_t r;
        while ((r = read(p[0], buf, chunk)) > 0)
            got += r;
        int st;
        waitpid(c, &st, 0);
        b = now_ns();
        if (got != total)
            die("pipe short");
        per_op = 0;
    } else if (!strcmp(w, "unix")) {
        size_t chunk = 64 << 10;
        long total = n << 20;
        char *buf = malloc(chunk);
        int sv[2];
        memset(buf, 'u', chunk);
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            die("socketpair");
        a = now_ns();
        pid_t c = fork();
        if (c < 0)
            die("fork");
        if (c == 0) {
            close(sv[0]);
            for (long done = 0; done < total; done += chunk)
                for (size_t off = 0; off < chunk;) {
                    ssize_t r = write(sv[1], buf + off, chunk - off);
                    if (r <= 0)
                        _exit(1);
                    off += r;
                }
            _exit(0);
        }
        close(sv[1]);
        long got = 0;
        ssize_t r;
        while ((r = read(sv[0], buf, chunk)) > 0)
            got += r;
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("unix writer failed");
        b = now_ns();
        if (r < 0 || got != total)
            die("unix short");
        per_op = 0;
    } else if (!strcmp(w, "tcp")) {
        size_t chunk = 64 << 10;
        long total = n << 20;
        char *buf = malloc(chunk);
        memset(buf, 't', chunk);
        int l;
        struct sockaddr_in to = tcp_target(argc, argv, &l);
        a = now_ns();
        pid_t c = l >= 0 ? loopback_sink(l, 1) : -1;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&to, sizeof to) != 0)
            die("connect");
        for (long done = 0; done < total; done += chunk)
            for (size_t off = 0; off < chunk;) {
                ssize_t r = write(s, buf + off, chunk - off);
                if (r <= 0)
                    die("tcp write");
                off += r;
            }
        /* The sink has it all once it closes after our EOF. */
        shutdown(s, SHUT_WR);
        while (read(s, buf, chunk) > 0)
            ;
        close(s);
        reap_sink(c);
        b = now_ns();
        per_op = 0;
    } else if (!strcmp(w, "tcpconn")) {
        int l;
        struct sockaddr_in to = tcp_target(argc, argv, &l);
        pid_t c = l >= 0 ? loopback_sink(l, n) : -1;
        a = now_ns();
        for (long i = 0; i < n; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            if (s < 0 || connect(s, (struct sockaddr *)&to, sizeof to) != 0)
                die("connect");
            close(s);
        }
        reap_sink(c);
        b = now_ns();
    } else if (!strcmp(w, "epollpp")) {
        int sv[2];
        char c = 'p';
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            die("socketpair");
        pid_t p = fork();
        if (p < 0)
            die("fork");
        if (p == 0) {
            /* Echoes every byte back until the parent closes its end. */
            close(sv[0]);
            int ep = epoll_on(sv[1]);
            int r;
            while ((r = epoll_read1(ep, sv[1], &c)) == 1)
                if (write(sv[1], &c, 1) != 1)
                    _exit(1);
            _exit(r == 0 ? 0 : 1);
        }
        close(sv[1]);
        int ep = epoll_on(sv[0]);
        epoll_round_trip(ep, sv[0]); /* warm up */
        a = now_ns();
        for (long i = 0; i < n; i++)
            epoll_round_trip(ep, sv[0]);
        b = now_ns();
        close(sv[0]);
        int st;
        if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("epollpp echo process failed");
    } else if (!strcmp(w, "eventfd")) {
        struct efd_pair e = {.n = n};
        pthread_t t;
        for (int i = 0; i < 2; i++)
            if ((e.efd[i] = eventfd(0, EFD_CLOEXEC)) < 0)
                die("eventfd");
        if ((errno = pthread_create(&t, NULL, eventfd_echo, &e)) != 0)
            die("pthread_create");
        eventfd_round_trip(e.efd); /* warm up */
        a = now_ns();
        for (long i = 0; i < n; i++)
            eventfd_round_trip(e.efd);
        b = now_ns();
        if ((errno = pthread_join(t, NULL)) != 0)
            die("pthread_join");
    } else if (!strcmp(w, "fault")) {
        size_t len = (size_t)n << 20;
        a = now_ns();
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            die("mmap");
        for (size_t off = 0; off < len; off += 4096)
            m[off] = 1;
        b = now_ns();
        munmap(m, len);
        per_op = 0;
    } else if (!strcmp(w, "sleep")) {
        struct timespec t = {n / 1000, (n % 1000) * 1000000L};
        nanosleep(&t, NULL);
        return 0;
    } else {
        fprintf(stderr, "hbench: unknown workload %s\n", w);
        return 2;
    }
    printf("%.0f\n", per_op ? (b - a) / (n ? n : 1) : (b - a));
    return 0;
}
