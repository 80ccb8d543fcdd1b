# The transition matrix (tests/host/transition_matrix.def): the host test
# tests/host/test_matrix.c runs every cell in test-host; this suite is one
# case, that the table in docs/security.md is exactly what tools/matrix-doc
# prints from the same source (so the document cannot drift from the test).
TEST_SUITES += test-matrix-doc
.PHONY: test-matrix-doc
test-matrix-doc:
	$(Q)mkdir -p $(BUILD)
	$(Q)if tools/matrix-doc --check docs/security.md > $(BUILD)/matrix-doc.log 2>&1; then \
		echo "ok   matrix/doc"; tools/record.sh matrix/doc 1 0; \
	else \
		echo "FAIL matrix/doc (see $(BUILD)/matrix-doc.log)"; head -n 20 $(BUILD)/matrix-doc.log; \
		tools/record.sh matrix/doc 0 1 "docs/security.md differs from tools/matrix-doc"; \
	fi
