# Hypervisor benchmarks (reported, never asserted): tests/bench/hv-bench.sh.
BENCH_TARGETS += bench-hv bench-hv-vmx
bench-hv: $(EFI_APP) guests
	$(Q)mkdir -p $(BUILD)/bench && tests/bench/hv-bench.sh svm $(BUILD)/bench/hv.json
bench-hv-vmx: $(EFI_APP) guests
	$(Q)mkdir -p $(BUILD)/bench && tests/bench/hv-bench.sh vmx $(BUILD)/bench/hv-vmx.json
