# s2: the second-level walker, entry formats, ownership transitions, auditor.
#
# The EPT/NPT entry formats are pure bit manipulation: they join the host
# library too.
S2_ARCH_SRCS := arch/x86/vmx/ept.c arch/x86/svm/npt.c
HOST_LIB_SRCS += $(S2_ARCH_SRCS)

# The same sources must also build freestanding, with the hypervisor's
# flags, as shipped and as a LAB_TESTING build (corruption injection).
S2_HV_SRCS := $(S2_ARCH_SRCS) $(wildcard mm/s2.c mm/mem_protect.c mm/audit.c)
TEST_SUITES += test-s2-freestanding
test-s2-freestanding:
	$(Q)ok=0; bad=0; \
	for f in $(S2_HV_SRCS); do for d in "" -DLAB_TESTING; do \
		if $(CC) $(HV_CFLAGS) $$d -c $$f -o /dev/null; then ok=$$((ok + 1)); \
		else bad=$$((bad + 1)); echo "FAIL s2/freestanding: $$f $$d"; fi; \
	done; done; \
	[ $$bad -eq 0 ] && echo "ok   s2/freestanding: $$ok compiles"; \
	tools/record.sh s2/freestanding $$ok $$bad
.PHONY: test-s2-freestanding
