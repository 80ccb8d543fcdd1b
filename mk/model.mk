# model: the Promela models of the cross-CPU invalidation protocol
# (tests/model/shootdown.pml, docs/security.md invariant 6) and of the
# page allocator's claim protocol (tests/model/palloc.pml,
# docs/allocator.md "The model") and of every cross-CPU wait together
# (tests/model/hold.pml, docs/security.md "Cross-CPU waits"), checked
# exhaustively by Spin; the correct protocol and each mutation are one
# recorded test case each (tests/model/run.sh). About 45 s + 40 s + 15 s
# of CPU.
#
# Spin is installed the way tools/deps.sh installs the build's packages:
# with apt-get as root, otherwise the exact command is printed.
TEST_SUITES += test-model
.PHONY: test-model model-deps

model-deps:
	$(Q)if ! dpkg-query -W -f='$${Status}' spin 2>/dev/null | grep -q "install ok installed"; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "deps: run as root:  apt-get update && apt-get install -y spin"; exit 1; \
		fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends spin >/dev/null && \
		echo "deps: installed spin"; \
	fi

test-model: model-deps
	$(Q)tests/model/run.sh
