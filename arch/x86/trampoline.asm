; The application processors' start-up code (Intel SDM vol. 3A §9.4.4
; "MP Initialization Example", §10.8.5 "Initializing IA-32e Mode"). smp.c
; copies trampoline_start..trampoline_end to the page below 1 MiB that
; boot/ reserved and fills trampoline_params there; a SIPI with vector
; page >> 12 starts an AP at page:0 in real mode.
;
; Position independent: the code reads the page's address from CS and
; every absolute address it needs (GDT base, far jump targets) is written
; into the parameter block by the boot CPU for that page.
;
;   real mode --lgdt, CR0.PE--> 32-bit protected mode (flat, paging off)
;   --CR4.PAE, CR3, EFER.LME|NXE, CR0.PG--> IA-32e compatibility mode
;   --far jump--> 64-bit mode: stack from the handoff word, jump to C.
%include "asm-offsets.inc"

%define OFF(label)  ((label) - trampoline_start)
%define P(field)    (OFF(trampoline_params) + (field))
%define SEL_DATA    0x10

section .text
global trampoline_start, trampoline_end, trampoline_params

bits 16
trampoline_start:
	cli
	cld
	mov ax, cs
	mov ds, ax
	xor ebx, ebx
	mov bx, ax
	shl ebx, 4                      ; ebx = the page's physical address
	o32 lgdt [P(TP_GDTR)]
	mov eax, cr0
	or eax, 1                       ; CR0.PE
	mov cr0, eax
	o32 jmp far [P(TP_FAR32)]

bits 32
tramp32:
	mov ax, SEL_DATA
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov eax, [ebx + P(TP_CR4)]      ; PAE and the boot CPU's SSE bits
	mov cr4, eax
	mov eax, [ebx + P(TP_CR3)]      ; the boot CPU's tables, below 4 GiB
	mov cr3, eax
	mov ecx, 0xc0000080             ; IA32_EFER
	rdmsr
	or eax, [ebx + P(TP_EFER)]      ; LME, NXE
	wrmsr
	mov eax, [ebx + P(TP_CR0)]      ; PG: IA-32e mode becomes active
	mov cr0, eax
	jmp far [ebx + P(TP_FAR64)]

bits 64
tramp64:
	mov rax, [rbx + P(TP_HANDOFF)]
	mov rsp, [rax]
	xor ebp, ebp
	mov rax, [rbx + P(TP_ENTRY)]
	push 0                          ; fake return address: rsp is 16-aligned at entry
	jmp rax

align 16
trampoline_params:
	times TP_SIZE db 0
trampoline_end:

global trampoline_off32, trampoline_off64
section .data
align 8
trampoline_off32: dq OFF(tramp32)   ; where the far jumps land, from the page start
trampoline_off64: dq OFF(tramp64)

section .note.GNU-stack noalloc noexec nowrite progbits
