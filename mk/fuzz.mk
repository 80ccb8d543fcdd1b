# fuzz: libFuzzer targets (fuzz/*.c) over the host hv/ build: the same
# sources as the host library (HOST_LIB_SRCS, mk/hv-host.mk's HOST_HV_SRCS
# among them), compiled again with Debian's clang into $(BUILD)/fuzz/ with
# -fsanitize=fuzzer,address,undefined, and fuzz/harness.c (README.md,
# "Fuzzing").
#
#   make fuzz [FUZZ_SECONDS=600] [FUZZ_TARGETS="hypercalls exits loader"]
#       each target for FUZZ_SECONDS, one after the other, from the
#       committed seeds (tests/fuzz/corpus/T) and what earlier runs found
#       ($(BUILD)/fuzz/corpus/T); a crash leaves its input in
#       $(BUILD)/fuzz/artifacts/T/ and fails the run.
#   make test-fuzz
#       each target for a fixed number of executions, one after the other:
#       FUZZ_TEST_EXECS_T (about 3 million in all, issue 12; about 90 s of
#       one core each), FUZZ_TEST_SECONDS bounding a hang. One recorded case
#       per target (0 crashes, every execution run), then fuzz/total (at
#       least FUZZ_MIN_EXECS in all). make test runs the same as three
#       suites, test-fuzz-T, split between its two lanes (Makefile), and
#       fuzz/total after both.
#
# The object lists are the host library's, read when the rules run (the
# Makefile adds to HOST_LIB_SRCS after the fragments): second expansion.
FUZZ_CC           := clang
FUZZ_TARGETS      ?= hypercalls exits loader
FUZZ_SECONDS      ?= 60
FUZZ_TEST_SECONDS ?= 900
FUZZ_TEST_EXECS_hypercalls ?= 700000
FUZZ_TEST_EXECS_exits      ?= 900000
FUZZ_TEST_EXECS_loader     ?= 1400000
FUZZ_MIN_EXECS    ?= 3000000
FUZZ_JOBS         ?=
FUZZ_OUT          := $(BUILD)/fuzz
FUZZ_CFLAGS        = $(HOST_CFLAGS) -O2 -fsanitize=fuzzer-no-link \
	-fsanitize-coverage-ignorelist=fuzz/coverage-ignore.txt \
	-fsanitize-ignorelist=fuzz/sanitize-ignore.txt
# Built with edge coverage but without comparison tracing (trace-cmp, most
# of an execution's cost there): code whose comparisons are on the
# hypervisor's own state, never on a value taken from the input, so the
# operands would teach the mutator nothing. Everything that reads what a
# guest or an image gives (hv/, the decoders, mm/mem_protect.c, the
# fuzzers' programs) keeps it.
FUZZ_NO_CMP_SRCS   = $(wildcard mm/palloc*.c) mm/journal.c mm/pdb.c mm/s2.c \
	arch/x86/svm/npt.c arch/x86/vmx/ept.c hv/sched.c $(wildcard lib/*.c tests/fake/*.c) \
	fuzz/harness.c
FUZZ_LIB_SRCS      = $(filter-out boot/%,$(HOST_LIB_SRCS)) fuzz/harness.c
FUZZ_LIB_OBJS      = $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_BINS         := $(patsubst %,$(FUZZ_OUT)/bin/%,$(FUZZ_TARGETS))

# The checkers the harness runs after every input (the auditor, the table
# walks) and lib/printf.c are built without coverage
# (fuzz/coverage-ignore.txt); the walks and the auditor without ASan, which
# sees nothing in the fake physical memory they read
# (fuzz/sanitize-ignore.txt). -O2 as libFuzzer builds usually are.

$(FUZZ_OUT)/obj/%.o: %.c fuzz/coverage-ignore.txt fuzz/sanitize-ignore.txt mk/fuzz.mk
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  FUZZCC  $<" || true
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(if $(filter $<,$(FUZZ_NO_CMP_SRCS)),-fno-sanitize-coverage=trace-cmp) \
		-MMD -MP -c $< -o $@

.SECONDEXPANSION:
$(FUZZ_OUT)/libfuzzhost.a: $$(FUZZ_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_OUT)/bin/%: $(FUZZ_OUT)/obj/fuzz/%.o $(FUZZ_OUT)/libfuzzhost.a
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  FUZZLD  $@" || true
	$(Q)$(FUZZ_CC) $(HOST_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OUT)/libfuzzhost.a -o $@

fuzz-deps:
	$(Q)tools/deps.sh

fuzz-build: fuzz-deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)

# fuzz/run.sh SECONDS MODE TARGET...: runs and reports (see there).
fuzz: fuzz-build
	$(Q)FUZZ_JOBS=$(or $(FUZZ_JOBS),1) fuzz/run.sh $(FUZZ_SECONDS) report $(FUZZ_TARGETS)

TEST_FUZZ_SUITES := $(patsubst %,test-fuzz-%,$(FUZZ_TARGETS))
TEST_SUITES += $(TEST_FUZZ_SUITES)
$(TEST_FUZZ_SUITES): test-fuzz-%: fuzz-build
	$(Q)FUZZ_JOBS=1 FUZZ_EXECS=$(FUZZ_TEST_EXECS_$*) fuzz/run.sh $(FUZZ_TEST_SECONDS) record $*
test-fuzz-total:
	$(Q)fuzz/run.sh total $(FUZZ_MIN_EXECS) $(FUZZ_TARGETS)
test-fuzz: $(TEST_FUZZ_SUITES)
	$(Q)$(MAKE) --no-print-directory test-fuzz-total
.PHONY: fuzz fuzz-build fuzz-deps test-fuzz test-fuzz-total $(TEST_FUZZ_SUITES)
