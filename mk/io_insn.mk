# io_insn: the INS/OUTS prefix decoder the backends use where the exit does
# not give the segment or the address size joins the host library, so
# tests/host/test_strio.c runs the real code. The hypervisor build picks it
# up with arch/x86/*.c.
HOST_LIB_SRCS += arch/x86/io_insn.c
