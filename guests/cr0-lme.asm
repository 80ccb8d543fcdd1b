; cr0-lme: a 32-bit guest (no guest library: it never enters long mode) that
; checks the CR0/EFER rules on the way into long mode, as a hostile guest
; meets them (docs/abi.md "Instructions and registers"):
;   native-de, injected-ud      exceptions still work (one native, one the
;                               hypervisor reflects)
;   native-de-lme               after WRMSR EFER.LME = 1 with paging off (an
;                               exit in that state: under QEMU it once made
;                               the host's CR0 reload be skipped and every
;                               other VM die), the guest still runs
;   cr0-pg-lme-no-pae-gp        paging on with LME and without PAE: #GP
;   cr0-nw-no-cd-gp             NW without CD: #GP
;   cr0-pg-no-pe-gp             PG without PE: #GP
;   cr0-prefixed-mov-emulated   a prefixed MOV to CR0 (66 2E 0F 22 C0) takes
;                               effect and resumes after itself
;   cr0-clts-emulated, cr0-lmsw-emulated   CLTS and LMSW reg take effect
;   efer-lme-with-pg-gp         LME set while paging is on: #GP
; Its companions in the scenario must finish. A Multiboot a.out-kludge
; image (nasm -f bin), entered in 32-bit protected mode.
bits 32
org 0x100000
MBF equ (1 << 16)
mb:	dd 0x1BADB002, MBF, -(0x1BADB002 + MBF)
	dd mb, mb, load_end, bss_end, start
start:
	cli
	lgdt [gdtr]
	jmp 0x08:.cs
.cs:	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, stack_top
	lidt [idtr]
	mov dword [resume], .z_done
	mov dword [fault], -1
	xor ecx, ecx
	div ecx
.z_done:
	mov ebx, msg_z
	cmp dword [fault], 0
	jne .z_bad
	call ok
	jmp .z_end
.z_bad:	call notok
.z_end:
	mov dword [resume], .u_done
	mov dword [fault], -1
	ud2
.u_done:
	mov ebx, msg_u
	cmp dword [fault], 6
	jne .u_bad
	call ok
	jmp .u_end
.u_bad:	call notok
.u_end:
	; a. PAE=0, LME=1, then PG|PE: #GP
	mov ecx, 0xC0000080
	rdmsr
	or eax, 1 << 8
	wrmsr
	mov dword [resume], .y_done
	mov dword [fault], -1
	xor ecx, ecx
	div ecx
.y_done:
	mov ebx, msg_y
	cmp dword [fault], 0
	jne .y_bad
	call ok
	jmp .y_end
.y_bad:	call notok
.y_end:
	mov dword [resume], .a_done
	mov dword [fault], -1
	mov eax, cr0
	or eax, 0x80000001
	mov cr0, eax
.a_done:
	mov eax, cr0
	mov ebx, msg_a
	cmp dword [fault], 13
	jne .a_bad
	test eax, 0x80000000
	jnz .a_bad
	call ok
	jmp .b
.a_bad:	call notok
.b:	; b. NW without CD: #GP
	mov dword [resume], .b_done
	mov dword [fault], -1
	mov eax, cr0
	or eax, 1 << 29
	and eax, ~(1 << 30)
	mov cr0, eax
.b_done:
	mov ebx, msg_b
	cmp dword [fault], 13
	jne .b_bad
	call ok
	jmp .c
.b_bad:	call notok
.c:	; c. PG without PE: #GP
	mov dword [resume], .c_done
	mov dword [fault], -1
	mov eax, cr0
	or eax, 0x80000000
	and eax, ~1
	mov cr0, eax
.c_done:
	mov ebx, msg_c
	cmp dword [fault], 13
	jne .c_bad
	call ok
	jmp .d
.c_bad:	call notok
.d:	; d. prefixed mov cr0 setting WP (bit 16), then the next insn runs
	mov dword [fault], -1
	mov esi, 0
	mov eax, cr0
	or eax, 1 << 16
	db 0x66, 0x2e, 0x0f, 0x22, 0xc0	; o16 cs mov cr0, eax
	mov esi, 0x77
	mov eax, cr0
	mov ebx, msg_d
	cmp esi, 0x77
	jne .d_bad
	test eax, 1 << 16
	jz .d_bad
	cmp dword [fault], -1
	jne .d_bad
	call ok
	jmp .e
.d_bad:	call notok
.e:	; e. set TS by mov cr0, clear it by clts
	mov eax, cr0
	or eax, 1 << 3
	mov cr0, eax
	mov eax, cr0
	mov edi, eax
	clts
	mov eax, cr0
	mov ebx, msg_e
	test edi, 1 << 3
	jz .e_bad
	test eax, 1 << 3
	jnz .e_bad
	call ok
	jmp .f
.e_bad:	call notok
.f:	; f. lmsw cx sets MP (bit 1), keeps PE
	mov eax, cr0
	mov ecx, eax
	or ecx, 2
	and ecx, 0xf
	lmsw cx
	mov eax, cr0
	mov ebx, msg_f
	test eax, 2
	jz .f_bad
	test eax, 1
	jz .f_bad
	call ok
	jmp .g
.f_bad:	call notok
.g:	; g. LME=0; 32-bit paging with PSE (4 MiB page identity); LME=1 while PG=1: #GP
	mov ecx, 0xC0000080
	rdmsr
	and eax, ~(1 << 8)
	wrmsr
	mov dword [pd], 0x83		; 4 MiB page at 0, P W PS
	mov eax, pd
	mov cr3, eax
	mov eax, cr4
	or eax, 1 << 4			; PSE
	mov cr4, eax
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	mov dword [resume], .g_done
	mov dword [fault], -1
	mov ecx, 0xC0000080
	rdmsr
	or eax, 1 << 8
	wrmsr
.g_done:
	mov ebx, msg_g
	cmp dword [fault], 13
	jne .g_bad
	call ok
	jmp .end
.g_bad:	call notok
.end:	mov ebx, msg_done
	call puts
	mov eax, [passes]
	call putdec
	mov ebx, msg_passed
	call puts
	mov eax, [fails]
	call putdec
	mov ebx, msg_failed
	call puts
	mov dx, 0xf4
	mov eax, [fails]
	test eax, eax
	setnz al
	movzx eax, al
	out dx, eax			; status (v << 1) | 1: exit 0 or 1
	hlt

ok:	inc dword [passes]
	push ebx
	mov ebx, msg_ok
	call puts
	pop ebx
	call puts
	mov ebx, msg_nl
	jmp puts
notok:	inc dword [fails]
	push ebx
	mov ebx, msg_notok
	call puts
	pop ebx
	call puts
	mov ebx, msg_why
	jmp puts
; EAX (< 1000) in decimal on COM1.
putdec:	mov ecx, 100
	xor edi, edi			; a digit printed yet
.d:	xor edx, edx
	div ecx
	push edx
	test eax, eax
	jnz .p
	test edi, edi
	jnz .p
	cmp ecx, 1
	jne .n
.p:	add al, '0'
	mov dx, 0x3f8
	out dx, al
	mov edi, 1
.n:	pop eax
	push eax
	mov eax, ecx
	xor edx, edx
	mov ecx, 10
	div ecx
	mov ecx, eax
	pop eax
	test ecx, ecx
	jnz .d
	ret
puts:	mov dx, 0x3f8
.l:	mov al, [ebx]
	test al, al
	jz .r
	out dx, al
	inc ebx
	jmp .l
.r:	ret

gp_handler:
	add esp, 4			; error code
	mov dword [fault], 13
	push eax
	mov eax, [resume]
	mov [esp + 4], eax
	pop eax
	iret
de_handler:
	mov dword [fault], 0
	push eax
	mov eax, [resume]
	mov [esp + 4], eax
	pop eax
	iret
ud_handler:
	mov dword [fault], 6
	push eax
	mov eax, [resume]
	mov [esp + 4], eax
	pop eax
	iret

align 8
idt:
	dw de_handler - 0x100000, 0x08
	db 0, 0x8e
	dw 0x0010
	times 5 dq 0
	dw ud_handler - 0x100000 + 0x0000, 0x08
	db 0, 0x8e
	dw 0x0010
	times 6 dq 0
	dw gp_handler - 0x100000, 0x08
	db 0, 0x8e
	dw 0x0010
idt_end:
gdt:	dq 0
	dq 0x00cf9a000000ffff
	dq 0x00cf92000000ffff
gdtr:	dw 23
	dd gdt
idtr:	dw idt_end - idt - 1
	dd idt
msg_ok:	db "ok ", 0
msg_notok: db "not ok ", 0
msg_nl:	db 10, 0
msg_z:	db "native-de", 0
msg_u:	db "injected-ud", 0
msg_y:	db "native-de-lme", 0
msg_a:	db "cr0-pg-lme-no-pae-gp", 0
msg_b:	db "cr0-nw-no-cd-gp", 0
msg_c:	db "cr0-pg-no-pe-gp", 0
msg_d:	db "cr0-prefixed-mov-emulated", 0
msg_e:	db "cr0-clts-emulated", 0
msg_f:	db "cr0-lmsw-emulated", 0
msg_g:	db "efer-lme-with-pg-gp", 0
msg_done: db "done cr0-lme: ", 0
msg_passed: db " passed, ", 0
msg_failed: db " failed", 10, 0
msg_why: db ": unexpected outcome (no #GP, or the write did not take effect)", 10, 0
resume:	dd 0
fault:	dd 0
passes:	dd 0
fails:	dd 0
load_end:
align 4096
pd:	times 1024 dd 0
	times 1024 dd 0
stack_top:
bss_end:
