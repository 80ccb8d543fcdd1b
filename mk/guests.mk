# Test guests (guests/): Multiboot v1 images for Labyrinth and plain QEMU.
# See docs/guests.md. Each guests/<name>.c plus the guest library
# (guests/lib/) becomes $(BUILD)/guests/<name>.elf: a flat image that is at the
# same time an ELF32 file and a Multiboot image with the address fields.
#   make guests              build them all
#   make test-guests-qemu    run the plain-QEMU suite (tests/guests/)

GUEST_NAMES := hello memtouch alloc exhaust intruder donor receiver spinner bench regs hostile ring3 insn donate-attack smp smpbench storm mbinfo pc fuzzer
GUEST_ELFS  := $(patsubst %,$(BUILD)/guests/%.elf,$(GUEST_NAMES))
# Guests written in nasm alone (no guest library: they stay in 32-bit mode):
# guests/<name>.asm is a Multiboot a.out-kludge image, $(BUILD)/guests/<name>.bin.
GUEST_ASM_NAMES := cr0-lme
GUEST_BINS := $(patsubst %,$(BUILD)/guests/%.bin,$(GUEST_ASM_NAMES))

GUEST_LIB_OBJS := $(patsubst guests/lib/%.c,$(BUILD)/guests/lib/%.o,$(wildcard guests/lib/*.c)) \
	$(patsubst guests/lib/%.asm,$(BUILD)/guests/lib/%.asm.o,$(wildcard guests/lib/*.asm))

# 64-bit freestanding code linked at 1 MiB: no PIC, small code model, no red
# zone (exceptions arrive on the same stack), no SSE/x87 state.
GUEST_CFLAGS := -std=gnu11 -O2 -g $(WARN) -m64 -ffreestanding -fno-builtin \
	-fno-pic -fno-pie -mcmodel=small -mno-red-zone -mno-sse -mno-sse2 \
	-mno-mmx -mno-80387 -mgeneral-regs-only -fno-stack-protector \
	-fno-omit-frame-pointer -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections \
	-Iguests/lib -Iguests
GUEST_LDFLAGS := -m elf_x86_64 -nostdlib -static -z noexecstack --no-warn-rwx-segments --gc-sections -T guests/lib/guest.ld

# Multiboot modules for mbinfo (tests/scenario/*-main.cfg, run-qemu.sh):
# generated, never committed. a: 5000 bytes (i * 7 + 3) mod 256, so it ends
# inside its second page; b: one line of text.
GUEST_MODS := $(BUILD)/guests/mbinfo-a.mod $(BUILD)/guests/mbinfo-b.mod

.PHONY: guests test-guests-qemu
guests: $(GUEST_ELFS) $(GUEST_BINS) $(GUEST_MODS)

$(BUILD)/guests/mbinfo-a.mod: mk/guests.mk
	@mkdir -p $(@D)
	$(Q)python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) % 256 for i in range(5000)))' >$@

$(BUILD)/guests/mbinfo-b.mod: mk/guests.mk
	@mkdir -p $(@D)
	$(Q)printf 'a second module\n' >$@

$(BUILD)/guests/%.bin: guests/%.asm mk/guests.mk
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  NASM    $<" || true
	$(Q)$(NASM) -f bin -MD $@.d -MP $< -o $@

$(BUILD)/guests/%.o: guests/%.c mk/guests.mk
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  GUESTCC $<" || true
	$(Q)$(CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/guests/lib/%.asm.o: guests/lib/%.asm mk/guests.mk
	@mkdir -p $(@D)
	@[ "$(Q)" ] && echo "  NASM    $<" || true
	$(Q)$(NASM) -f elf64 -g -MD $(@:.o=.d) -MP $< -o $@

# <name>.elf64 keeps the symbols (for gdb/addr2line); <name>.elf is the image,
# checked by mbcheck.py (ELF32 + Multiboot header agree with the file).
$(BUILD)/guests/%.elf64: $(BUILD)/guests/%.o $(GUEST_LIB_OBJS) guests/lib/guest.ld mk/guests.mk
	@[ "$(Q)" ] && echo "  GUESTLD $@" || true
	$(Q)$(LD) $(GUEST_LDFLAGS) $< $(GUEST_LIB_OBJS) -o $@

$(BUILD)/guests/%.elf: $(BUILD)/guests/%.elf64 guests/lib/mbcheck.py
	@[ "$(Q)" ] && echo "  IMAGE   $@" || true
	$(Q)$(OBJCOPY) -O binary $< $@.tmp
	$(Q)python3 guests/lib/mbcheck.py $@.tmp && mv $@.tmp $@

TEST_SUITES += test-guests-qemu
test-guests-qemu: $(GUEST_ELFS) $(GUEST_MODS)
	$(Q)tests/guests/expect-selftest.sh
	$(Q)tests/guests/expect-labels.sh
	$(Q)tests/guests/run-qemu.sh
