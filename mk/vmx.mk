# vmx: the pure-logic parts of the Intel VMX backend (capability MSRs ->
# controls, fixed CR bits, exit decoding) join the host library, so
# tests/host/test_vmx_caps.c and test_vmx_exit.c run the real code.
VMX_HOST_SRCS := arch/x86/vmx/vmx_caps.c arch/x86/vmx/vmx_exit.c
HOST_LIB_SRCS += $(VMX_HOST_SRCS)

# The guest scenarios under Bochs/OVMF (Intel VMX+EPT): every
# tests/scenario/vmx-*.cfg through tests/scenario/run.py, the ESP turned into
# the El Torito ISO that tools/bochs.sh boots, with the CPU count of its
# `# cpus` line (default 1). About 80 s per scenario.
SCENARIOS_VMX := $(sort $(wildcard tests/scenario/vmx-*.cfg))
VMX_BOCHS_LAUNCH := sh -c 'tools/mkiso.sh "$$1.iso" "$$1" >/dev/null && \
	tools/bochs.sh "$$1.iso" -q -t "$$3" -m "$$5" -n "$$4" -l "$$2"; rc=$$?; rm -f "$$1.iso"; exit $$rc' \
	bochs-esp '{esp}' '{log}' '{timeout}' '{cpus}' '{mem}'
TEST_SUITES += test-scenario-vmx
.PHONY: test-scenario-vmx
test-scenario-vmx: $(EFI_APP) guests
	$(Q)for s in $(SCENARIOS_VMX); do \
		SCENARIO_TIMEOUT=600 SCENARIO_MEM=512 tests/scenario/run.py scenario-vmx $$s $(EFI_APP) $(VMX_BOCHS_LAUNCH); \
	done

# Three of them again on 2 CPUs: vmx-main (17 VMs: they share the CPUs
# and move between them, VMCLEAR and VMPTRLD), vmx-ids and vmx-regs (no
# state crosses VMs, whichever CPU they ran on). Bochs runs two CPUs in
# one thread at about a third of the speed, so the others (vmx-dos,
# vmx-insn, and the long vmx-donate and vmx-exhaust) run on 2 and 4 CPUs
# in the SVM pass only; vmx-smp and vmx-tlb have 2 CPUs of their own.
SCENARIOS_VMX_SMP := $(filter %/vmx-main.cfg %/vmx-ids.cfg %/vmx-regs.cfg,$(SCENARIOS_VMX))
TEST_SUITES += test-scenario-vmx-smp2
.PHONY: test-scenario-vmx-smp2
test-scenario-vmx-smp2: $(EFI_APP) guests
	$(Q)for s in $(SCENARIOS_VMX_SMP); do \
		grep -q '^# cpus ' $$s && continue; \
		SCENARIO_TIMEOUT=600 SCENARIO_MEM=512 SCENARIO_CPUS=2 SCENARIO_TAG=-smp2 tests/scenario/run.py \
			scenario-vmx-smp2 $$s $(EFI_APP) $(VMX_BOCHS_LAUNCH); \
	done

# Negative controls under Bochs (tests/scenario/neg-vmx-*.cfg), test build.
NEG_VMX := $(sort $(wildcard tests/scenario/neg-vmx-*.cfg))
TEST_SUITES += test-negative-vmx
.PHONY: test-negative-vmx test-negative-svm
test-negative-vmx: $(TEST_EFI) guests
	$(Q)for s in $(NEG_VMX); do \
		SCENARIO_TIMEOUT=600 SCENARIO_MEM=512 tests/scenario/run.py negative-vmx $$s $(TEST_EFI) $(VMX_BOCHS_LAUNCH); \
	done
