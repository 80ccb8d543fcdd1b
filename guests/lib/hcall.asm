; hc_clobbered(): one hypercall with every general register set to a known
; pattern, to see which registers the hypervisor changed (the ABI preserves
; all but RAX). In assembly because C cannot pin RBP and all of R8-R15.

BITS 64
default rel
global hc_clobbered

; Register k (1 = RBX, 2 = RCX, 3 = RDX, 4 = RSI, 5 = RDI, 6 = RBP,
; 7..14 = R8..R15) holds k * 0x1111111111111111.
%macro SET_PATTERNS 0
	mov	rbx, 0x1111111111111111
	mov	rcx, 0x2222222222222222
	mov	rdx, 0x3333333333333333
	mov	rsi, 0x4444444444444444
	mov	rdi, 0x5555555555555555
	mov	rbp, 0x6666666666666666
	mov	r8, 0x7777777777777777
	mov	r9, 0x8888888888888888
	mov	r10, 0x9999999999999999
	mov	r11, 0xAAAAAAAAAAAAAAAA
	mov	r12, 0xBBBBBBBBBBBBBBBB
	mov	r13, 0xCCCCCCCCCCCCCCCC
	mov	r14, 0xDDDDDDDDDDDDDDDD
	mov	r15, 0xEEEEEEEEEEEEEEEE
%endmacro

section .text
; uint32_t hc_clobbered(bool vmcall [edi], uint64_t nr [rsi], long *result [rdx])
hc_clobbered:
	push	rbx
	push	rbp
	push	r12
	push	r13
	push	r14
	push	r15
	push	rdx				; result pointer
	mov	rax, rsi
	test	dil, dil
	jz	.vmmcall
	SET_PATTERNS
	vmcall
	jmp	.after
.vmmcall:
	SET_PATTERNS
	vmmcall
.after:
	push	rax				; [rsp + 112] after the pushes below
	push	r15
	push	r14
	push	r13
	push	r12
	push	r11
	push	r10
	push	r9
	push	r8
	push	rbp
	push	rdi
	push	rsi
	push	rdx
	push	rcx
	push	rbx				; register k at [rsp + 8 * (k - 1)]
	xor	edx, edx			; bit k set: register k changed
	mov	ecx, 1
	mov	r8, 0x1111111111111111
.compare:
	mov	rax, r8
	imul	rax, rcx
	cmp	rax, [rsp + rcx * 8 - 8]
	je	.same
	bts	edx, ecx
.same:	inc	ecx
	cmp	ecx, 14
	jbe	.compare
	mov	rax, [rsp + 112]
	add	rsp, 120
	pop	rcx
	mov	[rcx], rax
	mov	eax, edx
	shr	eax, 1				; bit k -> bit k - 1
	pop	r15
	pop	r14
	pop	r13
	pop	r12
	pop	rbp
	pop	rbx
	ret

section .note.GNU-stack noalloc noexec nowrite progbits
