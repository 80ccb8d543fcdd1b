; svm_vmrun(regs, vmcb_pa, host_save_pa): run the guest until #VMEXIT.
; VMRUN saves and restores only part of the host state (APM vol. 2 §15.5):
; the guest's FS/GS/TR/LDTR/syscall MSRs are loaded with VMLOAD and saved
; with VMSAVE, and the host's TR (with its IST stacks) is put back with
; VMLOAD from the host save area. RAX/RSP/RIP/RFLAGS live in the VMCB.
default rel
bits 64
%include "asm-offsets.inc"
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
	mov rbx, [rdi + REGS_RBX]
	mov rcx, [rdi + REGS_RCX]
	mov rdx, [rdi + REGS_RDX]
	mov rsi, [rdi + REGS_RSI]
	mov rbp, [rdi + REGS_RBP]
	mov r8,  [rdi + REGS_R8]
	mov r9,  [rdi + REGS_R9]
	mov r10, [rdi + REGS_R10]
	mov r11, [rdi + REGS_R11]
	mov r12, [rdi + REGS_R12]
	mov r13, [rdi + REGS_R13]
	mov r14, [rdi + REGS_R14]
	mov r15, [rdi + REGS_R15]
	mov rdi, [rdi + REGS_RDI]
	vmload                          ; [rax]
	vmrun                           ; [rax]
	vmsave                          ; [rax]
	push rdi
	mov rdi, [rsp + 8]              ; guest_regs
	pop qword [rdi + REGS_RDI]
	mov [rdi + REGS_RBX], rbx
	mov [rdi + REGS_RCX], rcx
	mov [rdi + REGS_RDX], rdx
	mov [rdi + REGS_RSI], rsi
	mov [rdi + REGS_RBP], rbp
	mov [rdi + REGS_R8],  r8
	mov [rdi + REGS_R9],  r9
	mov [rdi + REGS_R10], r10
	mov [rdi + REGS_R11], r11
	mov [rdi + REGS_R12], r12
	mov [rdi + REGS_R13], r13
	mov [rdi + REGS_R14], r14
	mov [rdi + REGS_R15], r15
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
