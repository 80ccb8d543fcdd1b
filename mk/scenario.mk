# Guest scenarios under Labyrinth (tests/scenario/run.py): every tests/scenario/svm-*.cfg
# booted in QEMU/OVMF (AMD SVM+NPT), with the CPU count of its `# cpus` line
# (default 1). Each check is one test case. Several CPUs run in one host
# thread (QEMU_TCG_THREAD=single, tools/qemu.sh) unless a scenario says
# `# tcg multi` (svm-tlb and its negative control: the stale-TLB attack as
# SMP-FACTS.md measured it): QEMU 7.2's multi-threaded SVM sometimes enters
# a guest with the host's own registers (docs/security.md, section 3).
test-scenario-svm test-scenario-svm-smp4 test-negative-svm: export QEMU_TCG_THREAD := single
SCENARIOS_SVM := $(sort $(wildcard tests/scenario/svm-*.cfg))
TEST_SUITES += test-scenario-svm

test-scenario-svm: $(EFI_APP) guests
	$(Q)for s in $(SCENARIOS_SVM); do \
		tests/scenario/run.py scenario-svm $$s $(EFI_APP) \
			tools/qemu.sh '{esp}' -q -t '{timeout}' -m '{mem}M' -n '{cpus}' -l '{log}'; \
	done

# The same scenarios again on 4 CPUs (those with no `# cpus` line of their
# own): the VMs spread over the CPUs, same expected lines, audit, no leak.
TEST_SUITES += test-scenario-svm-smp4
test-scenario-svm-smp4: $(EFI_APP) guests
	$(Q)for s in $(SCENARIOS_SVM); do \
		grep -q '^# cpus ' $$s && continue; \
		SCENARIO_CPUS=4 SCENARIO_TAG=-smp4 tests/scenario/run.py scenario-svm-smp4 $$s $(EFI_APP) \
			tools/qemu.sh '{esp}' -q -t '{timeout}' -m '{mem}M' -n '{cpus}' -l '{log}'; \
	done

# The test build (LAB_TESTING: corruption injection, allocator fault
# injection) in its own tree; the auditor must catch every injected kind.
TEST_EFI := $(BUILD)/testbuild/labyrinth.efi
INJECT_KINDS := double-map reverse-record large-leaf table-owner table-shared \
	map-forbidden dirty-clean owner-value
TEST_SUITES += test-audit-inject

.PHONY: $(TEST_EFI)
$(TEST_EFI):
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/testbuild \
		HV_EXTRA_CFLAGS=-DLAB_TESTING $(BUILD)/testbuild/labyrinth.efi

test-audit-inject: $(TEST_EFI) guests
	$(Q)for k in $(INJECT_KINDS); do \
		INJECT=$$k tests/scenario/run.py audit-inject tests/scenario/inject.cfg $(TEST_EFI) \
			tools/qemu.sh '{esp}' -q -t 120 -m 512M -l '{log}'; \
	done

# Negative controls (tests/scenario/neg-svm-*.cfg): the test build with a
# fix switched off (`# fix-off`) must fail the checks the fix makes pass.
NEG_SVM := $(sort $(wildcard tests/scenario/neg-svm-*.cfg))
TEST_SUITES += test-negative-svm
test-negative-svm: $(TEST_EFI) guests
	$(Q)for s in $(NEG_SVM); do \
		tests/scenario/run.py negative-svm $$s $(TEST_EFI) \
			tools/qemu.sh '{esp}' -q -t '{timeout}' -m '{mem}M' -n '{cpus}' -l '{log}'; \
	done
