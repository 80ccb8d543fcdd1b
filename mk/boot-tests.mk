# The boot suite: labyrinth.efi in QEMU/OVMF and Bochs/OVMF (tests/boot/run.sh).
TEST_SUITES += test-boot
test-boot: $(EFI_APP)
	$(Q)tests/boot/run.sh
