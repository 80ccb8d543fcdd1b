# `make run`: the ESP image (QEMU) and the El Torito ISO (Bochs), holding
# labyrinth.efi, \labyrinth.cfg and the guests. (Named to sort after
# guests.mk: it needs GUEST_ELFS.)
#
#   make run                         the demo scenario, guests/demo.cfg
#   make run GUEST=path/to/g.elf     one VM running your Multiboot guest
#   make run GUEST=... GUEST_MEM=64M GUEST_ARGS="..."
#   make run CPUS=4                  the machine's processors (default 2)
CPUS ?= 2
export CPUS
GUEST_MEM ?= 64M
GUEST_ARGS ?=

ifneq ($(GUEST),)
RUN_CFG := $(BUILD)/run-guest.cfg
ESP_FILES := $(GUEST)
.PHONY: $(RUN_CFG)
$(RUN_CFG):
	@mkdir -p $(@D)
	$(Q)printf 'vm name=%s image=/guests/%s mem=%s cmdline=%s\n' \
		"$$(echo '$(basename $(notdir $(GUEST)))' | cut -c1-23)" "$(notdir $(GUEST))" "$(GUEST_MEM)" \
		"$(GUEST_ARGS)" > $@
else
RUN_CFG := guests/demo.cfg
ESP_FILES := $(GUEST_ELFS)
endif

# What the ESP was last made from: `make run GUEST=x` and then `make run`
# must not boot x again (the demo's files are older than the image).
ESP_INPUTS := $(BUILD)/esp.inputs
.PHONY: esp-inputs-check
$(ESP_INPUTS): esp-inputs-check
	@mkdir -p $(@D)
	@echo "$(RUN_CFG) $(ESP_FILES)" | cmp -s - $@ 2>/dev/null || echo "$(RUN_CFG) $(ESP_FILES)" > $@

$(ESP_IMG): $(EFI_APP) $(RUN_CFG) $(ESP_FILES) tools/mkesp.sh $(ESP_INPUTS)
	@[ "$(Q)" ] && echo "  ESP     $@" || true
	$(Q)tools/mkesp.sh $@ $(EFI_APP) "$(RUN_CFG)" $(ESP_FILES)

$(ISO): $(ESP_IMG) tools/mkiso.sh
	@[ "$(Q)" ] && echo "  ISO     $@" || true
	$(Q)tools/mkiso.sh $@ $(ESP_IMG)
