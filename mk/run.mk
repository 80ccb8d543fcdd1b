# `make run`: the ESP image (QEMU) and the El Torito ISO (Bochs), holding
# labyrinth.efi, \labyrinth.cfg and the guests. (Named to sort after
# guests.mk: it needs GUEST_ELFS.)
#
#   make run                         the demo scenario, guests/demo.cfg
#   make run GUEST=path/to/g.elf     one VM running your Multiboot guest
#   make run GUEST=a.elf,b.elf       one VM per image, side by side
#   make run GUEST=... GUEST_MEM=64M GUEST_ARGS="..."   (GUEST_MEM: 2M .. 3G)
#   make run CFG=path/to/my.cfg      your own manifest: each image=/guests/NAME
#                                    is the file NAME next to my.cfg, else
#                                    $(BUILD)/guests/NAME (the house guests)
#   make run CPUS=4                  the machine's processors (default 2)
# The machine's RAM (MEM, default 1G) grows to fit GUEST_MEM unless MEM is
# given.
CPUS ?= 2
export CPUS
GUEST_MEM ?= 64M
GUEST_ARGS ?=

comma := ,
# A size in MiB: 3G -> 3072, 64M -> 64.
megs = $(shell echo '$(1)' | awk '/[Gg]$$/ { print $$0 * 1024; next } { print $$0 + 0 }')

ifneq ($(GUEST),)
GUEST_LIST := $(subst $(comma), ,$(GUEST))
$(foreach g,$(GUEST_LIST),$(if $(wildcard $(g)),,$(error GUEST: no file $(g))))
RUN_CFG := $(BUILD)/run-guest.cfg
ESP_FILES := $(GUEST_LIST)
# One VM line per image: name = the file's base name (23 characters at
# most), image = /guests/<file name>.
.PHONY: $(RUN_CFG)
$(RUN_CFG):
	@mkdir -p $(@D)
	$(Q): > $@
	$(Q)for g in $(GUEST_LIST); do \
		f=$$(basename "$$g"); \
		printf 'vm name=%s image=/guests/%s mem=%s cmdline=%s\n' \
			"$$(echo "$${f%.*}" | cut -c1-23)" "$$f" "$(GUEST_MEM)" "$(GUEST_ARGS)" >> $@; \
	done
ifeq ($(origin MEM),file)
MEM := $(shell m=$$(( $(words $(GUEST_LIST)) * $(call megs,$(GUEST_MEM)) + 512 )); \
	[ $$m -lt 1024 ] && m=1024; echo $${m}M)
endif
else ifneq ($(CFG),)
ifeq ($(wildcard $(CFG)),)
$(error CFG: no file $(CFG))
endif
RUN_CFG := $(CFG)
# The files the vm lines name (not comments): each image= and each module=
# path (tools/cfg-files), each found next to the cfg or among the house
# guests and modules; a path outside /guests/ is refused.
CFG_IMAGES := $(shell tools/cfg-files '$(CFG)')
$(foreach i,$(CFG_IMAGES),$(if $(filter /guests/%,$(i)),,$(error $(CFG): $(i): \
	images and modules must be /guests/NAME (NAME: a file next to $(CFG) or in $(BUILD)/guests))))
cfg_image = $(firstword $(wildcard $(dir $(CFG))$(1)) \
	$(filter $(BUILD)/guests/$(1),$(GUEST_ELFS) $(GUEST_BINS) $(GUEST_MODS)))
$(foreach i,$(CFG_IMAGES),$(if $(call cfg_image,$(notdir $(i))),,$(error $(CFG): $(i): \
	no file $(dir $(CFG))$(notdir $(i)), and no house guest or module $(BUILD)/guests/$(notdir $(i)))))
ESP_FILES := $(sort $(foreach i,$(CFG_IMAGES),$(call cfg_image,$(notdir $(i)))))
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

# `make run` ends with the ownership map of the run (tools/ownership-map over
# its serial log) in $(BUILD)/ownership.svg, and one line saying so. `private`:
# the prerequisites' recipes keep the plain Q.
RUN_LOG_svm := $(BUILD)/qemu-serial.log
RUN_LOG_vmx := $(BUILD)/bochs-serial.log
run: private Q := @trap 'tools/ownership-map $(RUN_LOG_$(BACKEND)) -o $(BUILD)/ownership.svg || true' EXIT;
