# vmx: the pure-logic parts of the Intel VMX backend (capability MSRs ->
# controls, fixed CR bits, exit decoding) join the host library, so
# tests/host/test_vmx_caps.c and test_vmx_exit.c run the real code.
VMX_HOST_SRCS := arch/x86/vmx/vmx_caps.c arch/x86/vmx/vmx_exit.c
HOST_LIB_SRCS += $(VMX_HOST_SRCS)
