# Labyrinth: the one build entry. See README.md.
#
#   make            build/labyrinth.efi, the ESP image, the Bochs ISO, guests
#   make run        boot in QEMU/OVMF (BACKEND=svm, default) or Bochs (BACKEND=vmx)
#   make test       every suite; ends with "N passed, N failed"
#   make bench      benchmarks; figures printed and written to build/bench/
#   make format / check-format / tidy / clean
#
# Out-of-tree objects in build/, automatic header dependencies, quiet rules
# (V=1 shows the commands). Fragments in mk/*.mk add suites and targets.

BUILD    ?= build
BACKEND  ?= svm
MEM      ?= 1G
TIMEOUT  ?=
V        ?= 0
export BUILD
ifeq ($(V),1)
Q :=
else
Q := @
endif

CC      := gcc
LD      := ld
NASM    := nasm
OBJCOPY := objcopy

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wvla -Wundef -Wno-unused-parameter

# ---------------------------------------------------------------------------
# The hypervisor: freestanding, position independent (GNU-EFI relocates it).
EFI_INC  := -isystem /usr/include/efi -isystem /usr/include/efi/x86_64
HV_CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -fno-builtin -fpic \
	-fno-stack-protector -fno-strict-aliasing -fshort-wchar \
	-mno-red-zone -mno-sse -mno-sse2 -mno-mmx -mno-avx -mno-80387 \
	-mgeneral-regs-only -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	-Iinclude -I. -I$(BUILD)/gen -DLAB_VERSION='"$(VERSION)"' $(HV_EXTRA_CFLAGS)
HV_LDFLAGS := -nostdlib -znocombreloc -T /usr/lib/elf_x86_64_efi.lds -shared \
	-Bsymbolic --no-undefined -L/usr/lib

# Sources: every .c/.asm in these folders; boot/ alone sees EFI headers.
HV_DIRS   := boot arch/x86 arch/x86/svm arch/x86/vmx mm hv lib
HV_CSRCS  := $(filter-out arch/x86/asm-offsets.c,$(foreach d,$(HV_DIRS),$(wildcard $(d)/*.c)))
HV_ASRCS  := $(foreach d,$(HV_DIRS),$(wildcard $(d)/*.asm))
HV_OBJS   := $(patsubst %.c,$(BUILD)/hv/%.o,$(HV_CSRCS)) \
	     $(patsubst %.asm,$(BUILD)/hv/%.asm.o,$(HV_ASRCS))

EFI_APP := $(BUILD)/labyrinth.efi
ESP_IMG := $(BUILD)/esp.img
ISO     := $(BUILD)/labyrinth.iso

.PHONY: all run test bench clean format check-format tidy deps host-tests guests
all: $(EFI_APP) $(ESP_IMG) $(ISO)

$(BUILD)/hv/boot/%.o: boot/%.c
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  CC      $<" || true
	$(Q)$(CC) $(HV_CFLAGS) $(EFI_INC) -DGNU_EFI_USE_MS_ABI -MMD -MP -c $< -o $@

$(BUILD)/hv/%.o: %.c
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  CC      $<" || true
	$(Q)$(CC) $(HV_CFLAGS) -MMD -MP -c $< -o $@

# Offsets of C structures for nasm, generated (never typed by hand).
ASM_OFFSETS := $(BUILD)/gen/asm-offsets.inc
$(ASM_OFFSETS): arch/x86/asm-offsets.c
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  GEN     $@" || true
	$(Q)$(CC) $(HV_CFLAGS) -MMD -MP -MT $@ -MF $(@:.inc=.d) -S $< -o $(@:.inc=.s)
	$(Q)sed -n 's/.*->\([A-Za-z_0-9]*\) \([0-9-]*\).*/%define \1 \2/p' $(@:.inc=.s) > $@

$(BUILD)/hv/%.asm.o: %.asm $(ASM_OFFSETS)
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  NASM    $<" || true
	$(Q)$(NASM) -f elf64 -g -I$(BUILD)/gen/ -Iarch/x86/ -MD $(@:.o=.d) -MP $< -o $@

$(BUILD)/labyrinth.so: $(HV_OBJS)
	@[ "$(Q)" ] && echo "  LD      $@" || true
	$(Q)$(LD) $(HV_LDFLAGS) /usr/lib/crt0-efi-x86_64.o $(HV_OBJS) $(HV_EXTRA_OBJS) -o $@ -lgnuefi

$(EFI_APP): $(BUILD)/labyrinth.so
	@[ "$(Q)" ] && echo "  EFI     $@" || true
	$(Q)$(OBJCOPY) -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel \
		-j .rela -j .rel.* -j .rela.* -j .reloc --target efi-app-x86_64 \
		--subsystem=10 $< $@

# ---------------------------------------------------------------------------
# Host tests: the real mm/, hv/ (host-safe parts), lib/ and boot/memmap.c
# compiled for Linux against the fake arch in tests/fake/, with ASan+UBSan.
HOST_CFLAGS := -std=gnu11 -O1 -g $(WARN) -Wno-missing-prototypes \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -Iinclude -I. -Itests -DLAB_HOST -DLAB_DEBUG -DLAB_TESTING \
	-DLAB_VERSION='"$(VERSION)"' -pthread
HOST_LDLIBS := -lcmocka -pthread
HOST_LIB := $(BUILD)/host/libhost.a
# ---------------------------------------------------------------------------
# Fragments: guests, ESP/ISO, suites, benchmarks.
TEST_SUITES  := test-format test-host
BENCH_TARGETS :=
include $(sort $(wildcard mk/*.mk))

# The host library and test binaries: after the fragments, which may add
# to HOST_LIB_SRCS.
# Files compiled into the host library (mk fragments may add to this).
HOST_LIB_SRCS += $(wildcard mm/*.c) lib/printf.c lib/panic.c lib/fix.c $(wildcard tests/fake/*.c) $(HOST_HV_SRCS)
HOST_LIB_OBJS  = $(patsubst %.c,$(BUILD)/host/%.o,$(HOST_LIB_SRCS))
HOST_TEST_SRCS := $(wildcard tests/host/test_*.c)
HOST_TESTS := $(patsubst tests/host/%.c,$(BUILD)/host/tests/%,$(HOST_TEST_SRCS))

$(BUILD)/host/boot/%.o: boot/%.c
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  HOSTCC  $<" || true
	$(Q)$(CC) $(HOST_CFLAGS) $(EFI_INC) -MMD -MP -c $< -o $@

$(BUILD)/host/%.o: %.c
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  HOSTCC  $<" || true
	$(Q)$(CC) $(HOST_CFLAGS) -MMD -MP -c $< -o $@

$(HOST_LIB): $(HOST_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/host/tests/%: $(BUILD)/host/tests/host/%.o $(HOST_LIB)
	@[ "$(Q)" ] && echo "  HOSTLD  $@" || true
	$(Q)$(CC) $(HOST_CFLAGS) $< $(HOST_LIB) $(HOST_LDLIBS) -o $@
.SECONDARY:

host-tests: $(HOST_TESTS)

# ---------------------------------------------------------------------------
deps:
	$(Q)tools/deps.sh

# Each suite records "suite passed failed" lines in $(BUILD)/results.txt and
# never stops the others; the summary decides the exit status.
# Two lanes on the two cores: the Bochs scenario suites and negative
# controls (one emulator thread each) and one fuzzer beside
# everything else (about as long: build/test-times.txt); the Bochs lane's output is
# printed after the other's, so neither interleaves. What both lanes run is
# built first.
TEST_LANE_BOCHS = $(filter test-scenario-vmx test-scenario-vmx-smp2 test-negative-vmx test-fuzz-exits,$(TEST_SUITES))
# The plain-QEMU runs whose output scenarios of both lanes compare with
# (# same-as-qemu) run before the lanes.
TEST_FIRST      = $(filter test-guests-qemu,$(TEST_SUITES))
TEST_LANE_MAIN  = $(filter-out $(TEST_LANE_BOCHS) $(TEST_FIRST),$(TEST_SUITES))
test: deps
	$(Q)mkdir -p $(BUILD) && rm -f $(BUILD)/results.txt
	$(Q)$(MAKE) --no-print-directory -j$$(nproc) $(EFI_APP) $(TEST_EFI) guests fuzz-build
	$(Q)rm -f $(BUILD)/test-times.txt $(BUILD)/scenario-times.txt $(BUILD)/fuzz/*.execs
	$(Q)for s in $(TEST_FIRST); do t0=$$(date +%s); \
		$(MAKE) --no-print-directory $$s || tools/record.sh "$$s" 0 1 "make $$s failed"; \
		echo "first:       $$s $$(( $$(date +%s) - t0 )) s" >> $(BUILD)/test-times.txt; \
	done
	$(Q)( for s in $(TEST_LANE_BOCHS); do t0=$$(date +%s); \
		$(MAKE) --no-print-directory $$s || tools/record.sh "$$s" 0 1 "make $$s failed"; \
		echo "bochs lane: $$s $$(( $$(date +%s) - t0 )) s" >> $(BUILD)/test-times.txt; \
	done ) > $(BUILD)/test-lane-bochs.log 2>&1 & lane=$$!; \
	for s in $(TEST_LANE_MAIN); do t0=$$(date +%s); \
		$(MAKE) --no-print-directory $$s || tools/record.sh "$$s" 0 1 "make $$s failed"; \
		echo "main lane:  $$s $$(( $$(date +%s) - t0 )) s" >> $(BUILD)/test-times.txt; \
	done; \
	wait $$lane; cat $(BUILD)/test-lane-bochs.log
	$(Q)$(MAKE) --no-print-directory test-fuzz-total
	$(Q)cat $(BUILD)/test-times.txt
	$(Q)echo "slowest scenarios (s):"; sort -k2 -n -r $(BUILD)/scenario-times.txt 2>/dev/null | head -n 8 | sed 's/^/  /'
	$(Q)tools/summary.sh $(BUILD)/results.txt

test-host: $(HOST_TESTS)
	$(Q)for t in $(HOST_TESTS); do tools/run-cmocka.sh host $$t; done

bench: deps
	$(Q)mkdir -p $(BUILD)/bench
	$(Q)$(MAKE) --no-print-directory $(BENCH_TARGETS)

run: deps all
	$(Q)tools/run.sh $(BACKEND) $(MEM)

CLANG_FORMAT_FILES = $(shell git ls-files '*.c' '*.h')
format:
	$(Q)clang-format -i $(CLANG_FORMAT_FILES)
check-format:
	$(Q)clang-format --dry-run --Werror $(CLANG_FORMAT_FILES)
# The tree stays clang-formatted (.clang-format): one test case.
test-format:
	$(Q)if clang-format --dry-run --Werror $(CLANG_FORMAT_FILES) 2>$(BUILD)/format.log; then \
		echo "ok   format/clang-format"; tools/record.sh format/clang-format 1 0; \
	else \
		echo "FAIL format/clang-format: run make format (see $(BUILD)/format.log)"; \
		tools/record.sh format/clang-format 0 1; \
	fi
tidy:
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr -Iinclude -I. -DLAB_HOST mm hv lib

# make test runs the static checks too, as one recorded case.
TEST_SUITES += test-tidy
.PHONY: test-tidy
test-tidy:
	$(Q)if $(MAKE) --no-print-directory tidy; then echo "ok   tidy/cppcheck"; \
		tools/record.sh tidy/cppcheck 1 0; \
	else echo "FAIL tidy/cppcheck"; tools/record.sh tidy/cppcheck 0 1 "make tidy failed"; fi

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
