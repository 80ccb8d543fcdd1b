; Entry of a secondary vCPU (ABI v2, VCPU_ON: docs/abi.md), started by
; vcpu_start() (vcpu.c) with entry = vcpu_entry32 and arg = the vCPU index.
;
; The vCPU starts like vCPU 0 at boot: 32-bit protected mode, paging off,
; flat segments, EBX = arg, no stack, IF = 0, no GDT or IDT of its own. It
; loads the library's GDT (boot.asm), turns on long mode with vCPU 0's page
; tables (CR3 from vcpu_boot_cr3, set by vcpu_start() below 4 GiB), in the
; order of Intel SDM Vol. 3A 10.8.5 "Initializing IA-32e Mode" (AMD APM
; Vol. 2 14.6), takes its own static stack and calls vcpu_main_c(index),
; which loads the IDT. Everything in its own sections, so a guest that never
; calls vcpu_start() links none of it (--gc-sections).

VCPU_MAX	equ 8			; guest.h
VCPU_STACK	equ 16384		; bytes per secondary vCPU

CR0_PE		equ 1 << 0
CR0_PG		equ 1 << 31
CR4_PAE		equ 1 << 5
MSR_EFER	equ 0xC0000080
EFER_LME	equ 1 << 8

GDT_CODE64	equ 0x08		; boot.asm's GDT
GDT_DATA	equ 0x10

extern boot_gdt_ptr, vcpu_boot_cr3, vcpu_main_c
global vcpu_entry32, vcpu_stacks, vcpu_stacks_end

section .text.vcpu progbits alloc exec nowrite align=16
BITS 32
vcpu_entry32:
	cli
	cld
	lgdt	[boot_gdt_ptr]
	mov	ax, GDT_DATA
	mov	ds, ax
	mov	es, ax
	mov	ss, ax
	test	ebx, ebx			; index 0 is vCPU 0's, and it has no
	jz	.park32				; stack here; past VCPU_MAX neither
	cmp	ebx, VCPU_MAX
	jae	.park32
	mov	eax, cr4
	or	eax, CR4_PAE
	mov	cr4, eax
	mov	eax, [vcpu_boot_cr3]
	mov	cr3, eax
	mov	ecx, MSR_EFER
	rdmsr
	or	eax, EFER_LME
	wrmsr
	mov	eax, cr0
	or	eax, CR0_PG | CR0_PE		; activates long mode (EFER.LMA = 1)
	mov	cr0, eax
	jmp	GDT_CODE64:vcpu_entry64
.park32:
	hlt
	jmp	.park32

BITS 64
default rel
vcpu_entry64:
	mov	ax, GDT_DATA
	mov	ds, ax
	mov	es, ax
	mov	ss, ax
	mov	fs, ax
	mov	gs, ax
	mov	edi, ebx			; vcpu_main_c(index)
	imul	eax, ebx, VCPU_STACK		; index k's stack ends at
	lea	rsp, [vcpu_stacks]		; vcpu_stacks + k * VCPU_STACK
	add	rsp, rax
	call	vcpu_main_c
.park:	cli
	hlt
	jmp	.park

; Stacks of vCPUs 1 .. VCPU_MAX - 1, lowest index first.
section .bss.vcpu nobits alloc noexec write align=16
vcpu_stacks:	resb (VCPU_MAX - 1) * VCPU_STACK
vcpu_stacks_end:

section .note.GNU-stack noalloc noexec nowrite progbits
