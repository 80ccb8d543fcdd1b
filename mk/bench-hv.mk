# Hypervisor benchmarks (reported, never asserted): tests/bench/hv-bench.sh.
BENCH_TARGETS += bench-hv bench-hv-vmx
bench-hv: $(EFI_APP) guests
	$(Q)mkdir -p $(BUILD)/bench && tests/bench/hv-bench.sh svm $(BUILD)/bench/hv.json
bench-hv-vmx: $(EFI_APP) guests
	$(Q)mkdir -p $(BUILD)/bench && tests/bench/hv-bench.sh vmx $(BUILD)/bench/hv-vmx.json

# The profile (tests/bench/hv-prof.sh): the same scenario under the
# profiling build (LAB_PROF, include/lab/prof.h), built in its own tree like the
# test build; never part of make test.
PROF_EFI := $(BUILD)/profbuild/labyrinth.efi
.PHONY: $(PROF_EFI) bench-prof bench-prof-vmx bench-summary
$(PROF_EFI):
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/profbuild \
		HV_EXTRA_CFLAGS=-DLAB_PROF $(BUILD)/profbuild/labyrinth.efi

BENCH_TARGETS += bench-prof bench-prof-vmx
bench-prof: $(PROF_EFI) guests
	$(Q)mkdir -p $(BUILD)/bench && tests/bench/hv-prof.sh svm $(PROF_EFI) $(BUILD)/bench/prof-svm.json
bench-prof-vmx: $(PROF_EFI) guests
	$(Q)mkdir -p $(BUILD)/bench && tests/bench/hv-prof.sh vmx $(PROF_EFI) $(BUILD)/bench/prof-vmx.json

# build/bench/summary.md from whatever figures build/bench/ holds. In
# make bench it comes last: its prerequisites are the other bench targets
# among the goals (none when it is the only goal).
BENCH_TARGETS += bench-summary
.SECONDEXPANSION:
bench-summary: $$(filter-out bench-summary,$$(filter $$(BENCH_TARGETS),$$(MAKECMDGOALS)))
	$(Q)mkdir -p $(BUILD)/bench && tools/bench-summary summary $(BUILD)/bench

# make test: the profiling build still compiles (its hooks are empty in
# every other build). Syntax and warnings only, every hypervisor C file
# but boot/'s (no hook there): a few seconds. One test case.
TEST_SUITES += test-prof-build
.PHONY: test-prof-build
test-prof-build:
	$(Q)mkdir -p $(BUILD); ok=1; for f in $(filter-out boot/%,$(HV_CSRCS)); do \
		$(CC) $(HV_CFLAGS) -DLAB_PROF -fsyntax-only $$f || ok=0; done 2>$(BUILD)/prof-build.log; \
	if [ $$ok = 1 ]; then \
		echo "ok   prof/compile"; tools/record.sh prof/compile 1 0; \
	else \
		echo "FAIL prof/compile: the LAB_PROF build does not compile (see $(BUILD)/prof-build.log)"; \
		tools/record.sh prof/compile 0 1 "LAB_PROF build does not compile"; \
	fi
