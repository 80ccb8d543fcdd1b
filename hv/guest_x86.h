/*
 * The architecture the guests see: x86 register bits and MSR numbers that
 * hv/ decides on (Intel SDM vol. 3A §2.5, vol. 4; AMD APM vol. 2 §3.1).
 * These describe the guest's state as the backends report it; hv/ reaches
 * the host's hardware only through arch/arch.h.
 */
#pragma once

#define GUEST_CR0_PG      (1ull << 31)
#define GUEST_CR4_PSE     (1ull << 4)
#define GUEST_CR4_PAE     (1ull << 5)
#define GUEST_CR4_LA57    (1ull << 12)
#define GUEST_CR4_OSXSAVE (1ull << 18)
#define GUEST_CR4_PKE     (1ull << 22)
#define GUEST_EFER_LMA    (1ull << 10)
#define GUEST_RFLAGS_TF   (1ull << 8)
#define GUEST_RFLAGS_DF   (1ull << 10)
#define GUEST_MSR_EFER    0xc0000080u

#define GUEST_VECTOR_DB 1
#define GUEST_VECTOR_UD 6
#define GUEST_VECTOR_GP 13

/* Segment registers in the order of the SDM's encodings (vol. 2 §2.1.2;
 * VMX instruction information, vol. 3C §28.2.5; SVM IOIO SEG, APM vol. 2
 * §15.10.2; the VMCS and VMCB fields are in this order too). */
enum guest_seg {
	GUEST_SEG_ES,
	GUEST_SEG_CS,
	GUEST_SEG_SS,
	GUEST_SEG_DS,
	GUEST_SEG_FS,
	GUEST_SEG_GS
};
