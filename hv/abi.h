/* The hypercall ABI v2 (docs/abi.md): numbers and Linux errno values. */
#pragma once

#define HC_VERSION     0x00
#define HC_SELF        0x01
#define HC_EXIT        0x02
#define HC_YIELD       0x03
#define HC_VCPU_ON     0x04 /* v2 */
#define HC_PAGE_ALLOC  0x10
#define HC_PAGE_FREE   0x11
#define HC_PAGE_DONATE 0x12
#define HC_PAGE_OWNED  0x13
#define HC_PAGE_ACCEPT 0x14
#define HC_MEM_STATS   0x20
#define HC_AUDIT       0x21

#define ABI_VERSION 3

#define LAB_EPERM  1
#define LAB_ENOENT 2
#define LAB_ESRCH  3
#define LAB_ENOMEM 12
#define LAB_EACCES 13
#define LAB_EFAULT 14
#define LAB_EBUSY  16
#define LAB_EEXIST 17
#define LAB_EINVAL 22
#define LAB_ENOSPC 28
#define LAB_ENOSYS 38
