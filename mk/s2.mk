# s2: the second-level walker, entry formats, ownership transitions, auditor.
#
# The EPT/NPT entry formats are pure bit manipulation: they join the host
# library too. (The top Makefile expands $(HOST_LIB)'s prerequisites before
# fragments are read, hence the explicit prerequisite line.)
S2_ARCH_SRCS := arch/x86/vmx/ept.c arch/x86/svm/npt.c
HOST_LIB_SRCS += $(S2_ARCH_SRCS)
$(HOST_LIB): $(patsubst %.c,$(BUILD)/host/%.o,$(S2_ARCH_SRCS))

# The same sources must also build freestanding, with the hypervisor's flags.
S2_HV_SRCS := $(S2_ARCH_SRCS) $(wildcard mm/s2.c mm/mem_protect.c mm/audit.c)
S2_HV_OBJS := $(patsubst %.c,$(BUILD)/hv/%.o,$(S2_HV_SRCS))
TEST_SUITES += test-s2-freestanding
test-s2-freestanding:
	$(Q)if $(MAKE) --no-print-directory $(S2_HV_OBJS); then \
		echo "ok   s2/freestanding: $(words $(S2_HV_OBJS)) objects"; \
		tools/record.sh s2/freestanding $(words $(S2_HV_OBJS)) 0; \
	else \
		echo "FAIL s2/freestanding"; tools/record.sh s2/freestanding 0 1; \
	fi
.PHONY: test-s2-freestanding
