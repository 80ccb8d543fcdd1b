# hv/ on the host: every hv/ source but the entry (main.c), the scenario
# policy and the test-build injector runs unchanged against the fake arch
# (tests/fake/) in the host library, with a fake backend where it needs one
# (tests/host/test_hv.c): the walker, the loader, the manifest parser, VMs,
# hypercalls, the exit dispatcher, the scheduler, devices, the audit service,
# the virtual local APIC.
HOST_HV_SRCS := hv/gmem.c hv/loader.c hv/manifest.c hv/vm.c hv/hypercall.c hv/exit.c \
	hv/sched.c hv/devices.c hv/fwcfg.c hv/audit_svc.c hv/tlb.c hv/vlapic.c hv/msr.c \
	hv/strio.c hv/apic.c
