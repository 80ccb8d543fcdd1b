# palloc: the allocator's stress, ThreadSanitizer, re-entrancy and greedy-guest
# programs (tests/stress/), and its benchmark (bench/). The cmocka unit tests
# (tests/host/test_palloc.c) run in test-host like every other host test.
#
# The stress programs link the allocator's sources directly (not libhost.a):
# once plain (-O2, as close to the hypervisor's code as the host allows) and
# once with -fsanitize=thread. Each prints "check NAME: ok|FAIL" lines and
# "N passed, M failed"; a ThreadSanitizer report or a crash counts as a
# failure. Counts (see docs/allocator.md): plain stress 10 million
# operations, TSan stress 1 million, re-entrancy 1.2 million signals.

PALLOC_SRCS := mm/palloc.c mm/palloc_slow.c mm/palloc_pool.c mm/palloc_boot.c mm/journal.c \
	mm/pdb.c lib/printf.c lib/panic.c tests/fake/arch_fake.c
PALLOC_HDRS := $(wildcard mm/palloc*.h mm/pdb.h mm/journal.h include/lab/*.h arch/arch.h \
	tests/fake/fake.h tests/stress/*.h)
PALLOC_STRESS_CFLAGS := -std=gnu11 -g $(WARN) -Wno-missing-prototypes \
	-fno-omit-frame-pointer -Iinclude -I. -Itests -DLAB_HOST -DLAB_DEBUG \
	-DLAB_TESTING -DLAB_VERSION='"$(VERSION)"' -pthread
PALLOC_OUT := $(BUILD)/palloc

$(PALLOC_OUT)/%: tests/stress/palloc_%.c $(PALLOC_SRCS) $(PALLOC_HDRS)
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  STRESS  $@" || true
	$(Q)$(CC) $(PALLOC_STRESS_CFLAGS) -O2 $< $(PALLOC_SRCS) -lrt -o $@

$(PALLOC_OUT)/%-tsan: tests/stress/palloc_%.c $(PALLOC_SRCS) $(PALLOC_HDRS)
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  TSAN    $@" || true
	$(Q)$(CC) $(PALLOC_STRESS_CFLAGS) -O1 -fsanitize=thread $< $(PALLOC_SRCS) -lrt -o $@

# name | binary | arguments
PALLOC_RUNS := \
	stress:$(PALLOC_OUT)/stress:10000000_4_4 \
	stress-tsan:$(PALLOC_OUT)/stress-tsan:1000000_4_3 \
	reentry:$(PALLOC_OUT)/reentry:1200000_2_3_20000 \
	greedy:$(PALLOC_OUT)/greedy:3_3 \
	greedy-tsan:$(PALLOC_OUT)/greedy-tsan:3_2
PALLOC_BINS := $(foreach r,$(PALLOC_RUNS),$(word 2,$(subst :, ,$(r))))

TEST_SUITES += test-palloc-stress
test-palloc-stress: $(PALLOC_BINS)
	$(Q)mkdir -p $(BUILD)/test-logs/palloc; \
	for r in $(PALLOC_RUNS); do \
		name=$${r%%:*}; rest=$${r#*:}; bin=$${rest%%:*}; args=$$(echo $${rest#*:} | tr _ ' '); \
		log=$(BUILD)/test-logs/palloc/$$name.log; \
		TSAN_OPTIONS="halt_on_error=0 exitcode=66" $$bin $$args > $$log 2>&1; rc=$$?; \
		p=$$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$$/\1/p' $$log | tail -n 1); \
		f=$$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$$/\2/p' $$log | tail -n 1); \
		p=$${p:-0}; f=$${f:-0}; \
		t=$$(grep -c 'WARNING: ThreadSanitizer' $$log); \
		f=$$((f + t)); \
		if [ $$rc -ne 0 ] && [ $$f -eq 0 ]; then f=1; fi; \
		if [ $$f -ne 0 ]; then echo "FAIL palloc/$$name ($$p passed, $$f failed, $$t TSan reports, exit $$rc). Log: $$log"; \
			grep -E 'FAIL|error:|WARNING' $$log | head -n 10; \
		else echo "ok   palloc/$$name: $$p passed, no TSan report"; fi; \
		tools/record.sh palloc/$$name $$p $$f; \
	done
.PHONY: test-palloc-stress

# ---------------------------------------------------------------------------
# make bench: bench/palloc_bench.c against two baselines it defines; built
# like the hypervisor's code (-O2, no sanitizer, no LAB_DEBUG/LAB_TESTING).
# Instruction counts: callgrind, collection toggled on only around calls
# that hit the per-CPU cache, inclusive cost of the allocator's function
# divided by the number of such calls. callgrind_annotate also prints the
# function's cost split by source file (code inlined from headers, e.g.
# pdb.h, counts under the header): the largest figure is the whole.
PALLOC_BENCH := $(BUILD)/bench/palloc_bench
PALLOC_BENCH_FNS := palloc:palloc_alloc:palloc_free spinlock_list:sl_alloc:sl_free \
	treiber_stack:ts_alloc:ts_free

$(PALLOC_BENCH): bench/palloc_bench.c $(PALLOC_SRCS) $(PALLOC_HDRS)
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  BENCH   $@" || true
	$(Q)$(CC) -std=gnu11 -O2 -g $(WARN) -Wno-missing-prototypes -fno-omit-frame-pointer \
		-Iinclude -I. -Itests -DLAB_HOST -DLAB_VERSION='"$(VERSION)"' -pthread \
		$< $(PALLOC_SRCS) -o $@

BENCH_TARGETS += bench-palloc
bench-palloc: $(PALLOC_BENCH)
	$(Q)d=$(BUILD)/bench; rm -f $$d/palloc-instr.txt; \
	for e in $(PALLOC_BENCH_FNS); do \
		name=$${e%%:*}; fns=$${e#*:}; \
		for op in alloc free; do \
			if [ $$op = alloc ]; then fn=$${fns%%:*}; else fn=$${fns#*:}; fi; \
			out=$$d/callgrind.$$name.$$op; \
			n=$$(valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file=$$out \
				$(PALLOC_BENCH) --instr $$name $$op 2>/dev/null | sed -n 's/^counted //p'); \
			ir=$$(callgrind_annotate --inclusive=yes --threshold=100 $$out 2>/dev/null | \
				awk -v f=":$$fn " 'index($$0, f) && $$1 ~ /^[0-9,]+$$/ { gsub(",", "", $$1); \
					if ($$1 + 0 > m) m = $$1 + 0 } END { print m + 0 }'); \
			echo "$$name $$op $$(awk -v i="$${ir:-0}" -v n="$${n:-1}" 'BEGIN { printf "%.1f", i / n }')" \
				>> $$d/palloc-instr.txt; \
		done; \
	done; \
	$(PALLOC_BENCH) $$d/palloc.json $$d/palloc-instr.txt | tee $$d/palloc.txt; \
	echo "bench-palloc: wrote $$d/palloc.json and $$d/palloc.txt"
.PHONY: bench-palloc

# make bench: the cost of zeroing a frame by method, hot and cold
# (bench/zero_bench.c), on the host: how arch_page_zero()'s `rep stosq`
# was picked (docs/allocator.md, "Scrubbing").
ZERO_BENCH := $(BUILD)/bench/zero_bench
$(ZERO_BENCH): bench/zero_bench.c
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  BENCH   $@" || true
	$(Q)$(CC) -std=gnu11 -O2 -g $(WARN) -Wno-missing-prototypes $< -o $@
BENCH_TARGETS += bench-zero
bench-zero: $(ZERO_BENCH)
	$(Q)$(ZERO_BENCH) $(BUILD)/bench/zero.json | tee $(BUILD)/bench/zero.txt; \
	echo "bench-zero: wrote $(BUILD)/bench/zero.json and $(BUILD)/bench/zero.txt"
.PHONY: bench-zero
