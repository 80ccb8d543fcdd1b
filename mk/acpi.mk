# acpi: the MADT parser is pure (apart from arch_pa_to_va): it joins the
# host library, so tests/host/test_acpi.c runs the real code.
HOST_LIB_SRCS += arch/x86/acpi.c
