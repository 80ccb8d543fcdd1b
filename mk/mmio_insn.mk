# mmio_insn: the decoder of the instruction behind an MMIO stage-2 fault
# (the xAPIC page) joins the host library, so tests/host/test_mmio_insn.c
# runs the real code. The hypervisor build picks it up with arch/x86/*.c.
HOST_LIB_SRCS += arch/x86/mmio_insn.c
