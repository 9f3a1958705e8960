/* Copies with copy_file_range from a file and from stdin to stdout, as
 * coreutils' cat does when both are regular files: run with stdin and
 * stdout redirected to host files (tests/cli.rs), the bytes must land
 * where the host files' positions are. Reads stdin's first line with
 * read(2) first, so that its position is not 0. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void copy_all(int in)
{
	while (copy_file_range(in, NULL, 1, NULL, 1 << 20, 0) > 0)
		;
}

int main(void)
{
	char line[64];
	int n = 0;
	while (n < (int)sizeof line - 1 && read(0, line + n, 1) == 1 && line[n] != '\n')
		n++;
	line[n] = 0;
	dprintf(1, "read %s\n", line);
	int f = open("/etc/version", O_RDONLY);
	copy_all(f);
	copy_all(0);
	write(1, "end\n", 4);
	return 0;
}
