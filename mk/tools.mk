# The log tools' own checks: tools/journal-check and tools/ownership-map each
# replay built-in logs with known answers (--self-test), one case each. No
# emulator; the scenario suites run journal-check over every real log.
TEST_SUITES += test-tools
.PHONY: test-tools
test-tools:
	$(Q)mkdir -p $(BUILD)
	$(Q)for t in journal-check ownership-map; do \
		if tools/$$t --self-test > $(BUILD)/$$t-self-test.log 2>&1; then \
			echo "ok   tools/$$t: $$(grep -c '^[a-z-]* self-test: ok  ' $(BUILD)/$$t-self-test.log) checks"; \
			tools/record.sh tools/$$t 1 0; \
		else \
			echo "FAIL tools/$$t (see $(BUILD)/$$t-self-test.log)"; grep FAIL $(BUILD)/$$t-self-test.log | head -n 10; \
			tools/record.sh tools/$$t 0 1 "$$t --self-test failed"; \
		fi; \
	done
# tools/cfg-files (make run CFG=): the files a manifest names, read as the
# hypervisor's parser reads a vm line, against a fixed answer.
	$(Q)if tools/cfg-files tests/tools/cfg-files.cfg | cmp -s - tests/tools/cfg-files.expect; then \
		echo "ok   tools/cfg-files"; tools/record.sh tools/cfg-files 1 0; \
	else \
		echo "FAIL tools/cfg-files: tests/tools/cfg-files.cfg does not give tests/tools/cfg-files.expect"; \
		tools/record.sh tools/cfg-files 0 1 "cfg-files output differs"; \
	fi
