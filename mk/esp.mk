# The ESP image (QEMU) and the El Torito ISO (Bochs) for `make run`.
# RUN_CFG is the configuration put on the ESP as \labyrinth.cfg.
RUN_CFG ?= $(firstword $(wildcard guests/demo.cfg))
ESP_FILES ?= $(GUEST_ELFS)

$(ESP_IMG): $(EFI_APP) $(RUN_CFG) $(ESP_FILES) tools/mkesp.sh
	@[ "$(Q)" ] && echo "  ESP     $@" || true
	$(Q)tools/mkesp.sh $@ $(EFI_APP) "$(RUN_CFG)" $(ESP_FILES)

$(ISO): $(ESP_IMG) tools/mkiso.sh
	@[ "$(Q)" ] && echo "  ISO     $@" || true
	$(Q)tools/mkiso.sh $@ $(ESP_IMG)
