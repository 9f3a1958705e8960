/* The init of tests/arm64/kernel.sh's throwaway arm64 machine: mounts what
 * the tests need, runs each line of /cmds (a program and its arguments,
 * space-separated), reports each one's exit status on the console, and
 * powers the machine off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    mkdir("/proc", 0755);
    mkdir("/tmp", 01777);
    mkdir("/dev", 0755);
    mkdir("/sys", 0755);
    mkdir("/etc", 0755); /* the Gofer's tests walk a host's usual tree */
    mount("proc", "/proc", "proc", 0, 0);
    mount("sysfs", "/sys", "sysfs", 0, 0);
    mount("tmpfs", "/tmp", "tmpfs", 0, 0);
    mount("devtmpfs", "/dev", "devtmpfs", 0, 0);
    setenv("TMPDIR", "/tmp", 1);
    setenv("PATH", "/t", 1);
    FILE *f = fopen("/cmds", "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *argv[64];
        int n = 0;
        for (char *t = strtok(line, " "); t && n < 63; t = strtok(NULL, " "))
            argv[n++] = t;
        argv[n] = NULL;
        if (n == 0)
            continue;
        printf("=== run %s\n", argv[0]);
        fflush(stdout);
        pid_t p = fork();
        if (p == 0) {
            execv(argv[0], argv);
            perror("execv");
            _exit(127);
        }
        int st = 0;
        waitpid(p, &st, 0);
        printf("=== exit %s %s %d\n", argv[0], WIFEXITED(st) ? "status" : "signal",
               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        fflush(stdout);
    }
    sync();
    reboot(RB_POWER_OFF);
    return 0;
}
