; Interrupt and exception entry stubs: push a uniform frame (struct irq_frame
; in x86.h), call isr_dispatch(frame) in C, restore, iretq.
default rel
bits 64
section .text

extern isr_dispatch
global isr_stub_table

; Vectors whose exceptions push an error code (Intel SDM vol. 3A §6.15).
%define HAS_ERR(v) ((v) == 8 || (v) == 10 || (v) == 11 || (v) == 12 || (v) == 13 || (v) == 14 || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

%assign v 0
%rep 256
isr_%+v:
%if HAS_ERR(v) == 0
	push 0
%endif
	push v
	jmp isr_common
%assign v v+1
%endrep

isr_common:
	push rax
	push rbx
	push rcx
	push rdx
	push rsi
	push rdi
	push rbp
	push r8
	push r9
	push r10
	push r11
	push r12
	push r13
	push r14
	push r15
	mov rdi, rsp
	cld
	call isr_dispatch
	pop r15
	pop r14
	pop r13
	pop r12
	pop r11
	pop r10
	pop r9
	pop r8
	pop rbp
	pop rdi
	pop rsi
	pop rdx
	pop rcx
	pop rbx
	pop rax
	add rsp, 16
	iretq

section .data
align 8
isr_stub_table:
%assign v 0
%rep 256
	dq isr_%+v
%assign v v+1
%endrep

section .note.GNU-stack noalloc noexec nowrite progbits
