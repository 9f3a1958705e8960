/* A process's state as /proc/PID/stat and /proc/PID/status show it (what
 * LTP's TST_PROCESS_STATE_WAIT polls): R for the reader itself and for a
 * child spinning in its own code, S for a child asleep in a blocking call
 * (read on an empty pipe, nanosleep, semop), Z with its comm and parent
 * for a child that exited and was not reaped, and no /proc/PID once it
 * is. Each state is polled for up to 5 s, as LTP does; the line printed
 * says whether it came. */
#include "common.h"

#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/wait.h>

/* The state letter and parent of /proc/PID/stat, or '?' (errno set) when
 * it cannot be read. */
static char state_of(pid_t pid, char *comm, size_t cap, int *ppid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	if (!open || !close || close[1] == 0) {
		errno = EINVAL;
		return '?';
	}
	if (comm) {
		size_t len = (size_t)(close - open - 1);
		if (len >= cap)
			len = cap - 1;
		memcpy(comm, open + 1, len);
		comm[len] = 0;
	}
	char st = 0;
	int pp = 0;
	sscanf(close + 2, "%c %d", &st, &pp);
	if (ppid)
		*ppid = pp;
	return st;
}

/* Polls pid's state until it is want, for up to 5 s. */
static int wait_state(pid_t pid, char want)
{
	for (int i = 0; i < 500; i++) {
		if (state_of(pid, NULL, 0, NULL) == want)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

static void status_line(pid_t pid, char *out, size_t cap)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	out[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "State:", 6)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, cap, "%s", line);
		}
	fclose(f);
}

static void kill_and_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("self: %c\n", state_of(getpid(), NULL, 0, NULL));

	int p[2];
	if (pipe(p) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		read(p[0], &c, 1);
		_exit(0);
	}
	printf("child in read on an empty pipe: S %s\n", wait_state(pid, 'S') ? "came" : "never came");
	char line[256];
	status_line(pid, line, sizeof line);
	printf("its status: %s\n", line);
	write(p[1], "x", 1);
	waitpid(pid, NULL, 0);

	pid = fork();
	if (pid == 0) {
		for (volatile unsigned long i = 0;; i++)
			;
	}
	printf("child spinning: R %s\n", wait_state(pid, 'R') ? "came" : "never came");
	kill_and_reap(pid);

	pid = fork();
	if (pid == 0) {
		sleep(30);
		_exit(0);
	}
	printf("child in nanosleep: S %s\n", wait_state(pid, 'S') ? "came" : "never came");
	kill_and_reap(pid);

	int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (sem < 0) {
		report("semget", -1);
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		struct sembuf op = {.sem_num = 0, .sem_op = -1};
		_exit(semop(sem, &op, 1) == 0 ? 0 : 1);
	}
	printf("child in semop: S %s\n", wait_state(pid, 'S') ? "came" : "never came");
	struct sembuf up = {.sem_num = 0, .sem_op = 1};
	semop(sem, &up, 1);
	int st = 0;
	waitpid(pid, &st, 0);
	printf("it finished its semop: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "bad");
	semctl(sem, 0, IPC_RMID);

	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_NAME, "zombie-to-be");
		_exit(3);
	}
	printf("child exited, not reaped: Z %s\n", wait_state(pid, 'Z') ? "came" : "never came");
	char comm[32];
	int ppid = 0;
	char z = state_of(pid, comm, sizeof comm, &ppid);
	printf("its stat: %c, comm %s, parent is me %d\n", z, comm, ppid == getpid());
	status_line(pid, line, sizeof line);
	printf("its status: %s\n", line);
	waitpid(pid, &st, 0);
	printf("reaped (status %d): /proc/PID/stat %s\n", WEXITSTATUS(st),
	       state_of(pid, NULL, 0, NULL) == '?' ? errname(errno) : "still there");
	printf("done\n");
	return 0;
}
