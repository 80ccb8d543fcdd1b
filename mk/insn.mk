# insn: the pure instruction-length decoder the SVM backend uses without
# next-RIP save joins the host library, so tests/host/test_insn.c runs the
# real code.
HOST_LIB_SRCS += arch/x86/insn.c
