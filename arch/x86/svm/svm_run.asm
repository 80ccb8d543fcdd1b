; svm_vmrun(regs, vmcb_pa, host_save_pa): run the guest until #VMEXIT.
; VMRUN saves and restores only part of the host state (APM vol. 2 §15.5):
; the guest's FS/GS/TR/LDTR/syscall MSRs are loaded with VMLOAD and saved
; with VMSAVE, and the host's TR (with its IST stacks) is put back with
; VMLOAD from the host save area. RAX/RSP/RIP/RFLAGS live in the VMCB.
default rel
bits 64
%include "guest_regs.inc"
section .text
global svm_vmrun
svm_vmrun:
	push rbp
	push rbx
	push r12
	push r13
	push r14
	push r15
	push rdx                        ; host save area
	push rdi                        ; guest_regs
	mov rax, rsi                    ; VMCB (stays in RAX: restored at #VMEXIT)
	GUEST_GPRS_LOAD
	mov rdi, [rdi + REGS_RDI]
	vmload                          ; [rax]
	vmrun                           ; [rax]
	vmsave                          ; [rax]
	push rdi
	mov rdi, [rsp + 8]              ; guest_regs
	pop qword [rdi + REGS_RDI]
	GUEST_GPRS_STORE
	add rsp, 8
	pop rax                         ; host save area
	vmload                          ; [rax]
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret

section .note.GNU-stack noalloc noexec nowrite progbits
