# Guest scenarios under Labyrinth (tests/scenario/run.py): every tests/scenario/svm-*.cfg
# booted in QEMU/OVMF (AMD SVM+NPT). Each check is one test case.
SCENARIOS_SVM := $(sort $(wildcard tests/scenario/svm-*.cfg))
TEST_SUITES += test-scenario-svm

test-scenario-svm: $(EFI_APP) guests
	$(Q)for s in $(SCENARIOS_SVM); do \
		tests/scenario/run.py scenario-svm $$s $(EFI_APP) \
			tools/qemu.sh '{esp}' -q -t 300 -m 1G -l '{log}'; \
	done
