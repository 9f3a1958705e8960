/* The smallest case: one write(2) to stdout and a zero exit status. */
#include <unistd.h>

int main(void)
{
	static const char msg[] = "hello, world\n";
	return write(1, msg, sizeof msg - 1) == sizeof msg - 1 ? 0 : 1;
}
