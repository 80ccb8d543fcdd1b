/* The exit dispatcher (hv/exit.c). */
#pragma once

struct vcpu;
struct vm_exit;

/* Decide on the exit `e` of the vCPU `v`, which just left guest mode on
 * this CPU (its VM's state is VM_RUNNING). May end the VM. */
void exit_handle(struct vcpu *v, struct vm_exit *e);
