#!/usr/bin/env python3
"""Write the committed seed inputs (tests/fuzz/corpus/T/seed-*) in each
target's input format (fuzz/hypercalls.c, fuzz/exits.c, fuzz/loader.c).
Run from the top of the tree; the output is deterministic."""
import os
import struct

OUT = "tests/fuzz/corpus"

# fuzz_value() encodings
def small(v): return bytes([0x60 | v])
def heap(i): return bytes([0x00, i])
def ram(g, shift=0): return bytes([0x20 | shift]) + struct.pack("<H", g >> shift)

NR = {"VERSION": 0, "SELF": 1, "EXIT": 2, "YIELD": 3, "VCPU_ON": 4, "ALLOC": 5,
      "FREE": 6, "DONATE": 9, "OWNED": 10, "ACCEPT": 11, "MEM_STATS": 12, "AUDIT": 15}

def hc(vm, nr, *args, vcpu=0, mode=0, high=None):
    b = bytes([vm | vcpu << 2, mode, NR[nr]])
    if mode & 4:
        b += bytes([high or 0])
    vals = list(args) + [small(0)] * (4 - len(args))
    return b + b"".join(vals)

def hypercalls():
    three = bytes([2, 2, 0, 0, 0, 0, 0])  # 3 VMs, the first with 3 vCPUs
    prog = three + b"".join([
        hc(0, "ALLOC", heap(0)), hc(1, "ACCEPT", heap(0), small(2)),
        hc(0, "DONATE", heap(0), small(2), heap(0)), hc(1, "OWNED", heap(0)),
        hc(1, "FREE", heap(0)), hc(0, "VCPU_ON", small(1), ram(0x8000)),
        hc(0, "SELF", vcpu=1), bytes([0xb2, 0, 0x00, 0x00, 0x20, 1]),  # fault at 0x200000? no: 0x2000
        hc(2, "MEM_STATS", ram(0x9000)), hc(0, "ALLOC", heap(1), mode=4, high=0x12),
        hc(0, "EXIT", mode=3), hc(2, "AUDIT"), bytes([0xf0, 0x08]), bytes([0xe1, 0]),
        hc(0, "EXIT", small(5))])
    greedy = bytes([0, 0x90, 0]) + b"".join(hc(0, "ALLOC", heap(i)) for i in range(24))
    fails = bytes([1, 0, 0, 0, 0]) + b"".join([
        hc(0, "ALLOC", heap(2), mode=0x80) + b"\x01",
        hc(1, "ACCEPT", heap(0), small(1)), hc(0, "ALLOC", heap(3)),
        hc(0, "DONATE", heap(3), small(2), heap(0), mode=0x80) + b"\x00",
        bytes([0xb0, 0x80, 0x00, 0x00, 0x30, 0, 0])])
    return {"program": prog, "greedy": greedy, "failures": fails}

def chunk(page, off, data): return bytes([page]) + struct.pack("<H", off) + bytes([len(data)]) + data

def op_for(kind, decode):
    for op in range(256):
        if op % 17 == kind and bool(op & 0x80) == decode:
            return op

def exits():
    insns = b"\x0f\x01\xd9" + b"\x2e\x0f\xa2" + b"\x0f\x32" + b"\xf4"
    flat = bytes([0]) + bytes([2]) + chunk(16, 0, insns) + chunk(17, 0, b"\x0f\x01\xc1") + \
        bytes([0, 0, 0])  # paging: PE, CR3 page 0
    flat += bytes([op_for(1, True), 0x28]) + small(0) + small(0) + small(0) + ram(0x10000, 4) + b"\0"
    flat += bytes([op_for(3, True), 0x00, 0])
    flat += bytes([op_for(4, True), 0x00, 1])  # RDMSR EFER
    flat += bytes([16, 0x20]) + ram(0x11000, 4)  # #UD: VMCALL
    flat += bytes([op_for(6, True), 0x20]) + ram(0x10008, 3) + b"\0"  # HLT
    io = bytes([0, 0, 0, 0, 0])
    for c in b"Hi\n":
        io += bytes([2, 0x00, 0x40, 0, c])
    io += bytes([2, 0x00, 0x40 | 8 << 1, 0, 7])  # exit port
    pml4 = struct.pack("<Q", 0x2003)
    pdpt = struct.pack("<Q", 0x3003)
    pd = struct.pack("<Q", 0x83)
    lm = bytes([3]) + chunk(1, 0, pml4) + chunk(2, 0, pdpt) + chunk(3, 0, pd) + \
        chunk(16, 0, b"\x48\x0f\x01\xc1\x0f\x01\xd1")
    lm += bytes([0x11 | 0x10, 0x02, 1])  # CR0 PG|PE, LME|LMA, CR4.PAE, CR3 page 1
    lm += bytes([16, 0x24]) + ram(0x10000, 4)
    lm += bytes([op_for(13, False), 0x0c]) + small(0) + small(0) + small(0) + b"\0"  # XSETBV
    lm += bytes([op_for(7, False), 0x04, 0x01]) + small(0) + b"\x01"  # S2 fault
    lm += bytes([op_for(5, False), 0x0c]) + small(0) + small(0) + small(0) + b"\x01"  # WRMSR EFER
    return {"flat": flat, "io": io, "longmode": lm}

def elf(entry=0x100000):
    img = bytearray(0x200)
    img[0:7] = b"\x7fELF\x01\x01\x01"
    struct.pack_into("<HHIIIIIHHH", img, 16, 2, 3, 1, entry, 52, 0, 0, 52, 32, 1)
    struct.pack_into("<8I", img, 52, 1, 0, 0x100000, 0x100000, 0x200, 0x1000, 5, 0x1000)
    struct.pack_into("<3I", img, 0x100, 0x1badb002, 0, (-0x1badb002) & 0xffffffff)
    return bytes(img)

def aout():
    img = bytearray(0x400)
    flags = 1 << 16
    struct.pack_into("<8I", img, 0x40, 0x1badb002, flags, (-(0x1badb002 + flags)) & 0xffffffff,
                     0x100040, 0x100000, 0, 0x102000, 0x100080)
    return bytes(img)

def loader_input(text, image):
    t = text.encode()
    return struct.pack("<H", len(t)) + t + image

def loader():
    return {
        "elf": loader_input("vm name=a image=/a.elf mem=2M\n", elf()),
        "modules": loader_input('# two modules\nvm name=m image=/m.elf mem=4M budget=2000 vcpus=2 '
                                'cpus=0,1 module=/mod1 module="/mod2 arg" cmdline=root=x y\n', elf()),
        "aout": loader_input("vm name=k image=/k.elf mem=2M until=others\n", aout()),
        "refused": loader_input("crash=ud\nfix_off=none\nvm name=\nvm mem=1G\nbogus\n"
                                "vm name=b image=/b mem=3G\n", elf(0x80000)),
    }

for target, seeds in (("hypercalls", hypercalls()), ("exits", exits()), ("loader", loader())):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(OUT, target, "seed-" + name), "wb") as f:
            f.write(data)
