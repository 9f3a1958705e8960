/* The host's devices by name: memory (/dev/mem, /dev/kmem), ports, disks
 * (SATA, NVMe, virtio), /dev/kvm, /dev/fuse, /dev/net/tun, the consoles
 * and virtual terminals, the hardware random source, the loop devices.
 * The sandbox's /dev has none of them: ENOENT. */
#include "escape.h"

int main(void)
{
	const char *devs[] = { "/dev/mem",	"/dev/kmem",	 "/dev/port",	   "/dev/sda",	"/dev/sda1",
			       "/dev/vda",	"/dev/nvme0n1", "/dev/kvm",	   "/dev/fuse", "/dev/net/tun",
			       "/dev/tty0",	"/dev/tty1",   "/dev/hwrng", "/dev/loop0",
			       "/dev/loop-control", "/dev/mapper/control", "/dev/cpu/0/msr", "/dev/vhost-net",
			       "/dev/dri/card0" };
	char label[96];
	for (unsigned i = 0; i < sizeof devs / sizeof devs[0]; i++) {
		snprintf(label, sizeof label, "open %s", devs[i]);
		EXPECT_ERR(label, open(devs[i], O_RDWR), ENOENT);
	}
	/* The sandbox's own console: the terminal the runtime gave init, of
	 * which there is none here. */
	EXPECT_ERR("open /dev/console (the sandbox's; it has none)", open("/dev/console", O_RDWR), ENXIO);
	return esc_finish();
}
