# The claims table (docs/security.md, section 9): every file, function, make
# target, scenario, VM, host test and knob it cites exists (tools/claims-check).
# One case; no emulator.
TEST_SUITES += test-claims
.PHONY: test-claims
test-claims:
	$(Q)mkdir -p $(BUILD)
	$(Q)if tools/claims-check docs/security.md > $(BUILD)/claims.log 2>&1; then \
		echo "ok   claims/table: $$(tail -n 1 $(BUILD)/claims.log | sed 's/^claims-check: //')"; \
		tools/record.sh claims/table 1 0; \
	else \
		echo "FAIL claims/table (see $(BUILD)/claims.log)"; head -n 20 $(BUILD)/claims.log; \
		tools/record.sh claims/table 0 1 "docs/security.md cites a name that does not exist"; \
	fi
