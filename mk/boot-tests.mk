# The boot suite: labyrinth.efi in QEMU/OVMF and Bochs/OVMF (tests/boot/run.sh).
# DEADAP_EFI: a test build whose CPU list ends with APIC ID 7, a processor
# that never answers (arch_smp_test_dead_apic), for the dead-AP boot.
DEADAP_EFI := $(BUILD)/deadap/labyrinth.efi
TEST_SUITES += test-boot
.PHONY: $(DEADAP_EFI)
$(DEADAP_EFI):
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/deadap \
		HV_EXTRA_CFLAGS="-DLAB_TESTING -DLAB_SMP_TEST_DEAD_APIC=7" $@
test-boot: $(EFI_APP) $(DEADAP_EFI)
	$(Q)DEADAP_EFI=$(DEADAP_EFI) tests/boot/run.sh
