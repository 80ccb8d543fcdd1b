#!/usr/bin/env bash
# The model suite: tests/model/shootdown.pml, palloc.pml and hold.pml
# checked exhaustively by Spin (no bitstate hashing; palloc's runs use
# -DCOLLAPSE, lossless state compression). The correct protocol must give 0 errors; each
# mutation must give at least one. Every check is one recorded test case
# (see tests/lib.sh); pan's output is kept in $B/test-model/NAME.log.
set -u
cd "$(dirname "$0")/../.."
SUITE=model
. tests/lib.sh
model=$PWD/tests/model/shootdown.pml
out=$B/test-model
mkdir -p "$out"

# verify NAME KIND WANT SPIN-DEFINES...: KIND is safety (assertions and
# invalid end states) or liveness (ltl wait_ends, weak fairness); WANT is
# ok (0 errors) or caught (>= 1 error). Sets $states and $errors.
verify() {
	local name=$1 kind=$2 want=$3 dir=$out/$1 log=$out/$1.log cflags run
	shift 3
	rm -rf "$dir" && mkdir -p "$dir"
	if [ "$kind" = safety ]; then
		cflags="-DSAFETY -DNOCLAIM"
		run="-m100000"
	else
		cflags=""
		run="-m100000 -a -f"
	fi
	(cd "$dir" && spin "$@" -a "$model" && gcc -O2 -w $cflags ${pan_cflags:-} -DMEMLIM=2048 \
		-o pan pan.c && ./pan $run) > "$log" 2>&1
	rm -rf "$dir"
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$log" | head -n 1)
	errors=$(sed -n 's/.*errors: \([0-9]*\)$/\1/p' "$log" | head -n 1)
	if [ -z "$errors" ]; then
		fail "$name" "spin or pan did not finish (see $log)"
	elif [ "$want" = ok ] && [ "$errors" -eq 0 ] && ! grep -q 'search not completed' "$log"; then
		pass "$name"
		echo "     $kind: $states states, 0 errors"
	elif [ "$want" = caught ] && [ "$errors" -ge 1 ]; then
		pass "$name"
		echo "     $kind: caught ($errors error: $(grep -m1 -E '^pan:1: ' "$log"))"
	else
		fail "$name" "$kind: $errors errors, $states states, expected $want (see $log)"
	fi
}

if ! command -v spin > /dev/null; then
	fail shootdown "spin is not installed (make test-model installs it)"
	exit 0
fi

# The correct protocol. 1vm: one VM on 3 CPUs, CPU 0 unmaps, 2 entries per
# CPU. 2vm: CPU 0 unmaps in VM 0 while vCPUs of a second VM (no leaf) run
# too, so the invalidator's guest_vm filter matters. 2inv: two VMs, CPUs 0
# and 1 unmap concurrently (one each), 1 entry on those, 2 on CPU 2.
verify shootdown-1vm-safety safety ok -DNVM=1
verify shootdown-1vm-liveness liveness ok -DNVM=1
verify shootdown-2vm-safety safety ok -DNVM=2 -DNINV=1
verify shootdown-2inv-safety safety ok -DNVM=2 -DMAXENT_INV=1
verify shootdown-2inv-liveness liveness ok -DNVM=2 -DMAXENT_INV=1

# Mutations: each must be caught.
verify mutation-skip-cpu safety caught -DNVM=1 -DMUTATION_SKIP_CPU
verify mutation-early-ack safety caught -DNVM=1 -DMUTATION_EARLY_ACK
verify mutation-gen-first safety caught -DNVM=1 -DMUTATION_GEN_FIRST
verify mutation-no-rekick liveness caught -DNVM=1 -DMUTATION_NO_REKICK
verify mutation-ack-only liveness caught -DNVM=1 -DMUTATION_ACK_ONLY
verify mutation-skip-cpu-2inv safety caught -DNVM=2 -DMAXENT_INV=1 -DMUTATION_SKIP_CPU

# The allocator's claim protocol (docs/allocator.md, "The model"). Two
# CPUs; OPS calls per thread; NIRQ CPUs with an interrupt that may land
# at any step while busy is set; INIT_* the frames' initial places.
# pan.c of this model takes 15 s to compile at -O2, 7 s at -O1 and 2 s at
# -O0: the longest run is built with -O2, the two of about 30 s with -O1
# (23 s instead of 34 s of run), the mutations with -O0 (a few seconds).
model=$PWD/tests/model/palloc.pml
pan_cflags=-DCOLLAPSE
# mixed-2irq: both CPUs' interrupts (about 18 million states, 40 s);
# steal-2ops: two calls per thread, CPU 1 must steal from CPU 0's dirty
# cache. PALLOC_MODEL_FULL=1 adds the other initial placements (about
# 110 s more).
verify palloc-mixed-2irq safety ok -DOPS=1 -DNIRQ=2
pan_cflags="-DCOLLAPSE -O1"
verify palloc-steal-2ops safety ok -DOPS=2 -DNO_IRQ -DINIT_STEAL
if [ "${PALLOC_MODEL_FULL:-0}" = 1 ]; then
	verify palloc-caches-2irq safety ok -DOPS=1 -DNIRQ=2 -DINIT_CACHES
	verify palloc-dirty-1irq safety ok -DOPS=1 -DNIRQ=1 -DINIT_DIRTY
	verify palloc-steal-1irq safety ok -DOPS=1 -DNIRQ=1 -DINIT_STEAL
	verify palloc-mixed-2ops safety ok -DOPS=2 -DNO_IRQ
fi

# Mutations of the allocator model: each must be caught (each in a few
# seconds: -O0, which compiles fastest).
pan_cflags="-DCOLLAPSE -O0"
verify palloc-mutation-no-busy safety caught -DOPS=1 -DNIRQ=1 -DMUT_NO_BUSY
verify palloc-mutation-steal-no-claim safety caught -DOPS=1 -DNIRQ=1 -DMUT_STEAL_NO_CLAIM
verify palloc-mutation-steal-no-slotcas safety caught -DOPS=2 -DNO_IRQ -DINIT_STEAL -DMUT_STEAL_NO_SLOTCAS
verify palloc-mutation-reserve-after safety caught -DOPS=1 -DNIRQ=1 -DMUT_RESERVE_AFTER
verify palloc-mutation-free-push-first safety caught -DOPS=2 -DNO_IRQ -DMUT_FREE_PUSH_FIRST
# The batch claim (palloc_alloc_batch) beside every other call: 2 calls per
# thread, no interrupt (it keeps off the caches and the busy flag).
pan_cflags="-DCOLLAPSE -O1"
verify palloc-batch-2ops safety ok -DOPS=2 -DNO_IRQ -DBATCH
pan_cflags="-DCOLLAPSE -O0"
verify palloc-mutation-batch-no-take safety caught -DOPS=2 -DNO_IRQ -DBATCH -DMUT_BATCH_NO_TAKE
verify palloc-mutation-batch-no-claim safety caught -DOPS=2 -DNO_IRQ -DBATCH -DMUT_BATCH_NO_CLAIM

# Every cross-CPU wait together: the shootdown's tlb_wait, the VM table
# locks (donation's two), sched_hold_others / sched_hold_still and the end
# of the run (docs/security.md, "Cross-CPU waits: why none deadlocks").
# Three CPUs, two VMs; STEPS scheduler passes per CPU, each a scheduling
# point, a guest session and a host action; ACTSn: the actions CPU n may
# take (1 table operation with a shootdown, 2 donation, 4 AUDIT; all by
# default). 1pass: every action on every CPU, one pass each; audit2-2pass:
# CPUs 0 and 1 audit twice while CPU 2 unmaps or donates twice. pan.c of
# this model builds in 0.6 s at -O0 and 4 s at -O2: -O1 for the liveness
# run (2 s), -O0 for the others (about 15 s of CPU in all).
model=$PWD/tests/model/hold.pml
pan_cflags=-O0
verify hold-1pass-safety safety ok -DSTEPS=1
verify hold-audit2-2pass-safety safety ok -DSTEPS=2 -DACTS0=4 -DACTS1=4 -DACTS2=3
pan_cflags=-O1
verify hold-1pass-liveness liveness ok -DSTEPS=1
pan_cflags=-O0

# Mutations of the waits: each must be caught.
verify hold-mutation-plain-spin safety caught -DSTEPS=1 -DMUTATION_PLAIN_SPIN
verify hold-mutation-caller-first safety caught -DSTEPS=1 -DMUTATION_CALLER_FIRST
verify hold-mutation-hold-in-wait safety caught -DSTEPS=1 -DMUTATION_HOLD_IN_WAIT
verify hold-mutation-late-exit safety caught -DSTEPS=1 -DMUTATION_LATE_EXIT
verify hold-mutation-wait-host safety caught -DSTEPS=1 -DMUTATION_WAIT_HOST
verify hold-mutation-no-rekick liveness caught -DSTEPS=1 -DMUTATION_NO_REKICK
