// seccomp(2) for the app: filters (errno, trap, kill, trace, arguments,
// inheritance, TSYNC, the chain's length) and strict mode; what LTP's
// seccomp01 and prctl02 check. Prints one line per case.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define MY_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define MY_ARCH AUDIT_ARCH_AARCH64
#endif

#define LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define ON(nr, v) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET(v)

static int install(unsigned flags, struct sock_filter *f, unsigned short n) {
    struct sock_fprog prog = {.len = n, .filter = f};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static const char *err(long r) {
    static char buf[32];
    if (r >= 0) {
        snprintf(buf, sizeof buf, "%ld", r);
        return buf;
    }
    switch (errno) {
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case ENOMEM: return "ENOMEM";
    case ENOSYS: return "ENOSYS";
    case EFAULT: return "EFAULT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ESRCH: return "ESRCH";
    default: snprintf(buf, sizeof buf, "errno %d", errno); return buf;
    }
}

static void seccomp_status(const char *when) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    printf("%s:", when);
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Seccomp", 7) || !strncmp(line, "NoNewPrivs", 10)) {
            line[strcspn(line, "\n")] = 0;
            printf(" [%s]", line);
        }
    }
    if (f) fclose(f);
    printf("\n");
}

static volatile int trapped, trap_code, trap_errno, trap_syscall;
static volatile unsigned trap_arch;
static volatile int trap_addr_is_code;

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    trapped++;
    trap_code = si->si_code;
    trap_errno = si->si_errno;
    trap_syscall = si->si_syscall;
    trap_arch = si->si_arch;
    trap_addr_is_code = si->si_call_addr != NULL;
}

static void report(const char *what, int status) {
    if (WIFSIGNALED(status))
        printf("%s: killed by signal %d\n", what, WTERMSIG(status));
    else
        printf("%s: exited %d\n", what, WEXITSTATUS(status));
}

// Filters on getppid and friends; the rest allowed.
static struct sock_filter main_filter[] = {
    LOAD(arch),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MY_ARCH, 1, 0),
    RET(SECCOMP_RET_KILL_PROCESS),
    LOAD(nr),
    ON(SYS_getppid, SECCOMP_RET_ERRNO | 42),
    ON(SYS_uname, SECCOMP_RET_TRAP | 7),
    ON(SYS_getpgid, SECCOMP_RET_KILL_PROCESS),
    ON(SYS_getsid, SECCOMP_RET_TRACE | 3),
    ON(SYS_getrusage, SECCOMP_RET_USER_NOTIF),
    ON(SYS_sched_yield, SECCOMP_RET_LOG),
    // write(99, ...) fails with 77; other fds are written.
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 0, 3),
    LOAD(args[0]),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 99, 0, 1),
    RET(SECCOMP_RET_ERRNO | 77),
    RET(SECCOMP_RET_ALLOW),
};

static void *other_thread(void *arg) {
    (void)arg;
    usleep(200000);
    errno = 0;
    long r = syscall(SYS_getppid);
    printf("TSYNC: the other thread's getppid: %s\n", r < 0 ? err(r) : "ok");
    fflush(stdout);
    return NULL;
}

static void *own_filter_thread(void *arg) {
    struct sock_filter allow[] = {RET(SECCOMP_RET_ALLOW)};
    *(long *)arg = install(0, allow, 1);
    sleep(1);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1) {
        seccomp_status("after execve");
        return 0;
    }
    printf("PR_GET_SECCOMP at first: %d\n", prctl(PR_GET_SECCOMP));
    unsigned action = SECCOMP_RET_KILL_PROCESS;
    printf("GET_ACTION_AVAIL of KILL_PROCESS: %s\n", err(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action)));
    action = 0x12340000;
    printf("GET_ACTION_AVAIL of 0x12340000: %s\n", err(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action)));
    unsigned short sizes[3];
    long r = syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, sizes);
    printf("GET_NOTIF_SIZES: %s %u %u %u\n", err(r), sizes[0], sizes[1], sizes[2]);
    printf("an unknown operation: %s\n", err(syscall(SYS_seccomp, 99, 0, NULL)));
    printf("an unknown flag: %s\n", err(install(1u << 20, main_filter, 2)));
    struct sock_filter out_of_range[] = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0), RET(SECCOMP_RET_ALLOW)};
    printf("a jump out of the program: %s\n", err(install(0, out_of_range, 2)));
    struct sock_filter byte_load[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), RET(SECCOMP_RET_ALLOW)};
    printf("a byte load: %s\n", err(install(0, byte_load, 2)));
    struct sock_filter past_data[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), RET(SECCOMP_RET_ALLOW)};
    printf("a load past seccomp_data: %s\n", err(install(0, past_data, 2)));
    printf("no instructions: %s\n", err(install(0, main_filter, 0)));
    printf("a bad program pointer: %s\n", err(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (void *)8)));
    printf("NO_NEW_PRIVS: %d\n", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));

    // The chain's length: 32768 instructions, each filter counted 4 more.
    pid_t pid = fork();
    if (pid == 0) {
        static struct sock_filter big[4096];
        for (int i = 0; i < 4096; i++) big[i] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
        int n = 0;
        while (install(0, big, 4096) == 0) n++;
        printf("filters of 4096 installed: %d, then %s\n", n, err(-1));
        seccomp_status("after them");
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);

    // Strict mode: read, write, exit and rt_sigreturn; anything else kills.
    pid = fork();
    if (pid == 0) {
        printf("strict mode: %s\n", err(prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT)));
        const char msg[] = "strict mode: write works\n";
        syscall(SYS_write, 1, msg, sizeof msg - 1);
        syscall(SYS_getpid);
        syscall(SYS_write, 1, "not reached\n", 12);
        syscall(SYS_exit, 0);
    }
    waitpid(pid, &status, 0);
    report("strict mode's getpid", status);

    // TSYNC with another thread that holds its own filter: names it.
    pid = fork();
    if (pid == 0) {
        pthread_t th;
        long theirs = -1;
        pthread_create(&th, NULL, own_filter_thread, &theirs);
        usleep(200000);
        long r = install(SECCOMP_FILTER_FLAG_TSYNC, main_filter, sizeof main_filter / sizeof main_filter[0]);
        printf("TSYNC over a thread with its own filter: %s (its install %ld)\n", r > 0 ? "its tid" : err(r), theirs);
        r = install(SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH, main_filter,
                    sizeof main_filter / sizeof main_filter[0]);
        printf("the same with TSYNC_ESRCH: %s\n", err(r));
        _exit(0);
    }
    waitpid(pid, &status, 0);

    // TSYNC: a thread without filters takes the caller's.
    pid = fork();
    if (pid == 0) {
        pthread_t th;
        pthread_create(&th, NULL, other_thread, NULL);
        long r = install(SECCOMP_FILTER_FLAG_TSYNC, main_filter, sizeof main_filter / sizeof main_filter[0]);
        printf("TSYNC: %s\n", err(r));
        pthread_join(th, NULL);
        _exit(0);
    }
    waitpid(pid, &status, 0);

    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigaction(SIGSYS, &sa, NULL);
    r = install(SECCOMP_FILTER_FLAG_LOG, main_filter, sizeof main_filter / sizeof main_filter[0]);
    printf("install: %s, PR_GET_SECCOMP: %d\n", err(r), prctl(PR_GET_SECCOMP));
    seccomp_status("with one filter");
    errno = 0;
    r = syscall(SYS_getppid);
    printf("getppid: %s\n", err(r));
    printf("getpid allowed: %s\n", syscall(SYS_getpid) > 0 ? "yes" : "no");
    struct utsname u;
    r = syscall(SYS_uname, &u);
    printf("uname: trapped %d, si_code %d, si_errno %d, si_syscall is uname %d, si_arch ok %d, si_call_addr set %d, "
           "returned %s\n",
           trapped, trap_code, trap_errno, trap_syscall == SYS_uname, trap_arch == MY_ARCH, trap_addr_is_code,
           r == SYS_uname ? "its number" : r == (long)&u ? "its first argument" : "something else");
    printf("getsid, RET_TRACE untraced: %s\n", err(syscall(SYS_getsid, 0)));
    printf("getrusage, RET_USER_NOTIF without a listener: %s\n", err(syscall(SYS_getrusage, 0, NULL)));
    printf("sched_yield, RET_LOG: %s\n", err(syscall(SYS_sched_yield)));
    printf("write to 99: %s\n", err(syscall(SYS_write, 99, "x", 1)));
    printf("strict mode now: %s\n", err(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL)));
    struct sock_filter allow[] = {RET(SECCOMP_RET_ALLOW)};
    printf("a second filter: %s\n", err(install(0, allow, 1)));
    seccomp_status("with two");

    // Inherited by a child; its KILL_PROCESS kills it with SIGSYS.
    pid = fork();
    if (pid == 0) {
        errno = 0;
        printf("the child's getppid: %s\n", err(syscall(SYS_getppid)));
        syscall(SYS_getpgid, 0);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    report("the child's getpgid", status);
    // And across execve.
    pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "seccomp_filter", "status", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    report("after execve", status);
    printf("done\n");
    return 0;
}
