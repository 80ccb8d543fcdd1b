; Guest image head and entry: the first bytes of every test guest.
;
; The file is a flat image loaded at 1 MiB (guest.ld). It begins with
;   1. an ELF32 header and one PT_LOAD program header that describe the whole
;      file as one segment (file offset 0 -> address 0x100000, bss up to
;      image_end), so an ELF loader loads it; QEMU refuses ELF64 for Multiboot;
;   2. a Multiboot v1 header with the address fields (flags bit 16, the
;      "a.out kludge"), so a Multiboot loader (QEMU -kernel, GRUB, Labyrinth)
;      can load the same file as a flat binary without reading the ELF header.
; Both descriptions give the same result: file byte N at 0x100000 + N.
;
; Entry (Multiboot spec 0.6.96, section 3.2 "Machine state"): 32-bit protected
; mode, paging off, EAX = 0x2BADB002, EBX = physical address of the Multiboot
; information. We build page tables that identity-map [0, 5 GiB) with 2 MiB
; pages (RAM below 4 GiB and Labyrinth's PAGE_ALLOC window at [4 GiB, 5 GiB)),
; enter long mode (Intel SDM Vol. 3A 10.8.5 "Initializing IA-32e Mode";
; AMD APM Vol. 2 14.6 "Enabling and Activating Long Mode") and call
; guest_start(magic, mbi) in C. Interrupts stay off for the guest's life.

MB_MAGIC	equ 0x1BADB002
MB_FLAGS	equ (1 << 1) | (1 << 16)	; memory info wanted; address fields valid
IMAGE_BASE	equ 0x100000

CR0_PE		equ 1 << 0
CR0_PG		equ 1 << 31
CR4_PAE		equ 1 << 5
MSR_EFER	equ 0xC0000080
EFER_LME	equ 1 << 8

PTE_P		equ 1 << 0
PTE_W		equ 1 << 1
PTE_PS		equ 1 << 7
PD_COUNT	equ 5			; page directories: 5 x 1 GiB

GDT_CODE64	equ 0x08
GDT_DATA	equ 0x10

extern image_file_size, image_mem_size, image_start, image_load_end, image_end
extern guest_start, trap_common_c

global mb_entry32, boot_stack_top, boot_pml4, boot_pdpt, boot_pds
global trap_stub_table, boot_gdt_ptr

section .head progbits alloc exec write align=4
; ---- ELF32 header (System V ABI, "ELF Header"), 52 bytes
elf_header:
	db	0x7F, "ELF", 1, 1, 1, 0		; ELFCLASS32, ELFDATA2LSB, EV_CURRENT
	times 8 db 0
	dw	2				; e_type: ET_EXEC
	dw	3				; e_machine: EM_386
	dd	1				; e_version
	dd	mb_entry32			; e_entry
	dd	elf_phdr - elf_header		; e_phoff
	dd	0				; e_shoff: no sections
	dd	0				; e_flags
	dw	elf_phdr - elf_header		; e_ehsize
	dw	32				; e_phentsize
	dw	1				; e_phnum
	dw	40, 0, 0			; e_shentsize, e_shnum, e_shstrndx
; ---- the one program header, 32 bytes
elf_phdr:
	dd	1				; p_type: PT_LOAD
	dd	0				; p_offset: the whole file ...
	dd	IMAGE_BASE			; p_vaddr  ... at 1 MiB
	dd	IMAGE_BASE			; p_paddr
	dd	image_file_size			; p_filesz
	dd	image_mem_size			; p_memsz: with the bss
	dd	7				; p_flags: R W X
	dd	0x1000				; p_align
; ---- Multiboot v1 header (spec section 3.1), 4-aligned, in the first 8 KiB
	align	4
mb_header:
	dd	MB_MAGIC
	dd	MB_FLAGS
	dd	-(MB_MAGIC + MB_FLAGS)		; checksum
	dd	mb_header			; header_addr
	dd	image_start			; load_addr (= IMAGE_BASE)
	dd	image_load_end			; load_end_addr: end of the file
	dd	image_end			; bss_end_addr
	dd	mb_entry32			; entry_addr

section .text
BITS 32
mb_entry32:
	cli
	cld
	mov	esi, eax			; keep magic and MBI address
	mov	edi, ebx
	lgdt	[boot_gdt_ptr]
	mov	ax, GDT_DATA
	mov	ds, ax
	mov	es, ax
	mov	ss, ax
	mov	esp, boot_stack_top
	call	build_page_tables

	mov	eax, cr4
	or	eax, CR4_PAE
	mov	cr4, eax
	mov	eax, boot_pml4
	mov	cr3, eax
	mov	ecx, MSR_EFER
	rdmsr
	or	eax, EFER_LME
	wrmsr
	mov	eax, cr0
	or	eax, CR0_PG | CR0_PE		; activates long mode (EFER.LMA = 1)
	mov	cr0, eax
	jmp	GDT_CODE64:long_entry

; Identity map [0, PD_COUNT GiB) with 2 MiB pages:
;   PML4[0] -> PDPT; PDPT[i] -> PD i; PD i entry j maps (i * 512 + j) << 21.
; Every table page is written in full, so nothing depends on the loader
; having zeroed the bss.
build_page_tables:
	push	edi
	mov	edi, boot_pml4
	mov	ecx, (2 + PD_COUNT) * 4096 / 4
	xor	eax, eax
	rep stosd
	mov	dword [boot_pml4], boot_pdpt + PTE_P + PTE_W
	mov	eax, boot_pds + PTE_P + PTE_W
	xor	ecx, ecx
.pdpt:	mov	[boot_pdpt + ecx * 8], eax
	add	eax, 4096
	inc	ecx
	cmp	ecx, PD_COUNT
	jb	.pdpt
	xor	ecx, ecx			; ecx = index of the 2 MiB page
.pd:	mov	eax, ecx
	shl	eax, 21
	or	eax, PTE_P + PTE_W + PTE_PS
	mov	edx, ecx
	shr	edx, 32 - 21			; address bits 32 and up
	mov	[boot_pds + ecx * 8], eax
	mov	[boot_pds + ecx * 8 + 4], edx
	inc	ecx
	cmp	ecx, PD_COUNT * 512
	jb	.pd
	pop	edi
	ret

BITS 64
default rel
long_entry:
	mov	ax, GDT_DATA
	mov	ds, ax
	mov	es, ax
	mov	ss, ax
	mov	fs, ax
	mov	gs, ax
	lea	rsp, [boot_stack_top]
	; edi = Multiboot information address, esi = magic (both zero-extended)
	xchg	edi, esi
	call	guest_start
.halt:	cli
	hlt
	jmp	.halt

; Exception stubs, vectors 0-31. The CPU pushes an error code for these
; vectors only (Intel SDM Vol. 3A 6.15, Table 6-1); the others push a 0 so
; every frame has the same shape: struct trap_frame in trap.c.
%macro TRAP_STUB 1
trap_stub_%1:
%if !(%1 == 8 || (%1 >= 10 && %1 <= 14) || %1 == 17 || %1 == 21 || %1 == 29 || %1 == 30)
	push	0
%endif
	push	%1
	jmp	trap_common
%endmacro

%assign v 0
%rep 32
	TRAP_STUB v
%assign v v + 1
%endrep

; In 64-bit mode the CPU aligns RSP to 16 before pushing the 5-word frame;
; with error code, vector and 15 registers (22 words) it stays 16-aligned.
trap_common:
	push	rax
	push	rbx
	push	rcx
	push	rdx
	push	rsi
	push	rdi
	push	rbp
	push	r8
	push	r9
	push	r10
	push	r11
	push	r12
	push	r13
	push	r14
	push	r15
	mov	rdi, rsp
	cld
	call	trap_common_c
	pop	r15
	pop	r14
	pop	r13
	pop	r12
	pop	r11
	pop	r10
	pop	r9
	pop	r8
	pop	rbp
	pop	rdi
	pop	rsi
	pop	rdx
	pop	rcx
	pop	rbx
	pop	rax
	add	rsp, 16				; vector and error code
	iretq

section .rodata
align 8
trap_stub_table:
%assign v 0
%rep 32
	dq	trap_stub_ %+ v
%assign v v + 1
%endrep

; Flat GDT: null, 64-bit code (L=1, D=0), data.
align 8
gdt:
	dq	0
	dq	0x00AF9A000000FFFF		; code: P, DPL 0, L, G
	dq	0x00CF92000000FFFF		; data: P, DPL 0, writable, D/B, G
gdt_end:
boot_gdt_ptr:
	dw	gdt_end - gdt - 1
	dd	gdt

section .bss
alignb 4096
boot_pml4:	resb 4096
boot_pdpt:	resb 4096
boot_pds:	resb PD_COUNT * 4096
alignb 16
boot_stack:	resb 16384
boot_stack_top:

section .note.GNU-stack noalloc noexec nowrite progbits
