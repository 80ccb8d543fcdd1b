; arch_stack_switch(arg, fn, stack_top): leave the firmware's stack for good
; and call fn(arg) on the hypervisor's own stack. fn never returns.
default rel
bits 64
section .text
global arch_stack_switch
arch_stack_switch:
	mov rsp, rdx
	xor ebp, ebp
	push 0                  ; fake return address: stack stays 16-aligned at fn entry
	jmp rsi

section .note.GNU-stack noalloc noexec nowrite progbits
