/* The guest's emulated devices (hv/devices.c): COM1 console, exit port. */
#pragma once

struct vcpu;
struct vm;
struct vm_exit;

/* An IN or OUT (not string) of `v`, RIP already past it. */
void devices_io(struct vcpu *v, const struct vm_exit *e);
/* Log the VM's partial console line, if any. */
void devices_flush_console(struct vcpu *v);
