; VM entry and exit (Intel SDM vol. 3C §27 "VM Entries", §28.5 "Loading
; Host State"): a few instructions, then C (NOVA style).
;
; int vmx_enter(struct guest_regs *regs, int launched)
;   Saves the host's callee-saved registers and the regs pointer on the
;   stack, makes that stack the VMCS's host RSP, loads the guest's GPRs
;   and runs VMLAUNCH (launched = 0) or VMRESUME. RSP, RIP and RFLAGS are
;   in the VMCS (vmx.c copies them). Returns 0 after a VM exit (arriving at
;   vmx_exit_entry, the host RIP), 1 on VMfailValid (ZF), 2 on
;   VMfailInvalid (CF) (§31.2).
;
; Offsets into struct guest_regs come from asm-offsets.inc, generated from
; the C structure.
%include "guest_regs.inc"

VMCS_HOST_RSP	equ 0x6c14		; Appendix B, Table B-15

default rel
bits 64
section .text
global vmx_enter, vmx_exit_entry

vmx_enter:
	push	rbp
	push	rbx
	push	r12
	push	r13
	push	r14
	push	r15
	push	rdi			; the regs pointer, found again at the exit
	mov	eax, VMCS_HOST_RSP
	vmwrite	rax, rsp
	jbe	.failed
	test	esi, esi		; ZF = first entry; no later instruction
	mov	rax, [rdi + REGS_RAX]	; before VMLAUNCH/VMRESUME touches flags
	GUEST_GPRS_LOAD
	mov	rdi, [rdi + REGS_RDI]
	jnz	.resume
	vmlaunch
	jmp	.failed
.resume:
	vmresume
.failed:				; VMfail: CF (invalid) or ZF (valid)
	mov	eax, 1
	jnc	.out
	mov	eax, 2
.out:
	add	rsp, 8			; drop the regs pointer
	pop	r15
	pop	r14
	pop	r13
	pop	r12
	pop	rbx
	pop	rbp
	ret

; The host RIP of every VM exit: RSP is the host RSP written above, with
; the regs pointer on top; RFLAGS = 2 (interrupts off).
vmx_exit_entry:
	push	rdi
	mov	rdi, [rsp + 8]
	mov	[rdi + REGS_RAX], rax
	GUEST_GPRS_STORE
	pop	qword [rdi + REGS_RDI]
	xor	eax, eax
	jmp	vmx_enter.out

section .note.GNU-stack noalloc noexec nowrite progbits
