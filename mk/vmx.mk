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
# vmx-ids and vmx-regs (state leaking between VMs) run only in the 2-CPU
# pass below: with more VMs than CPUs there they switch on one CPU as here,
# and move between CPUs too. make test's time budget needs the Bochs minutes.
SCENARIOS_VMX_1CPU := $(filter-out %/vmx-ids.cfg %/vmx-regs.cfg,$(SCENARIOS_VMX))
VMX_BOCHS_LAUNCH := sh -c 'tools/mkiso.sh "$$1.iso" "$$1" >/dev/null && \
	tools/bochs.sh "$$1.iso" -q -t "$$3" -m "$$5" -n "$$4" -l "$$2"; rc=$$?; rm -f "$$1.iso"; exit $$rc' \
	bochs-esp '{esp}' '{log}' '{timeout}' '{cpus}' '{mem}'
TEST_SUITES += test-scenario-vmx
.PHONY: test-scenario-vmx
test-scenario-vmx: $(EFI_APP) guests
	$(Q)for s in $(SCENARIOS_VMX_1CPU); do \
		SCENARIO_TIMEOUT=600 SCENARIO_MEM=512 tests/scenario/run.py scenario-vmx $$s $(EFI_APP) $(VMX_BOCHS_LAUNCH); \
	done

# The same scenarios again on 2 CPUs (those with no `# cpus` line of their
# own), but for vmx-donate and vmx-exhaust (the long ones under Bochs; they
# run on 4 CPUs in the SVM pass) and vmx-insn (instruction emulation, which
# the CPU count does not change).
SCENARIOS_VMX_SMP := $(filter-out %/vmx-donate.cfg %/vmx-exhaust.cfg %/vmx-insn.cfg,$(SCENARIOS_VMX))
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
