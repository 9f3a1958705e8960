/* eBPF: creating a map and loading a program (a socket filter that
 * returns 0, and a kprobe) into the kernel. ENOSYS. */
#include "escape.h"

#include <linux/bpf.h>

int main(void)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = 1;
	EXPECT_ERR("bpf(BPF_MAP_CREATE)", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr), ENOSYS);
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	memset(&attr, 0, sizeof attr);
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (unsigned long)prog;
	attr.insn_cnt = 2;
	attr.license = (unsigned long)"GPL";
	EXPECT_ERR("bpf(BPF_PROG_LOAD, socket filter)", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr), ENOSYS);
	attr.prog_type = BPF_PROG_TYPE_KPROBE;
	EXPECT_ERR("bpf(BPF_PROG_LOAD, kprobe)", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr), ENOSYS);
	return esc_finish();
}
