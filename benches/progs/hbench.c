/* The workloads of benches/harness.py in one static program, so that the same
 * binary runs natively, under husk and under runsc:
 *
 *   hbench getpid N          N syscall(SYS_getpid)
 *   hbench read N            N 1-byte reads from /dev/zero
 *   hbench openclose N PATH  N open(PATH)+close
 *   hbench stat N PATH       N stat(PATH)
 *   hbench fork N            N fork, _exit(0) in the child, waitpid
 *   hbench forkexec N PATH   N fork, execve(PATH) in the child, waitpid
 *   hbench file MB DIR       write MB MiB to DIR/hbench.dat in 1 MiB writes,
 *                            fsync-free, then read it back; unlinks it
 *   hbench pipe MB           a child writes MB MiB into a pipe in 64 KiB
 *                            writes, the parent reads them all
 *   hbench fault MB          mmap MB MiB anonymous, store to each 4 KiB page
 *   hbench sleep MS          sleep MS milliseconds
 *
 * Prints one number: the mean ns per operation for the loops, the total ns of
 * the timed part for file, pipe and fault (nothing for sleep). Exits nonzero
 * on any failure. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

    if (!strcmp(w, "getpid")) {
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
