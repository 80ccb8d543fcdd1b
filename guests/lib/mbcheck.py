#!/usr/bin/env python3
"""mbcheck.py IMAGE: check that a guest image is what docs/guests.md promises.

The file must be, at the same time,
  - an ELF32 executable with one PT_LOAD segment that maps the whole file at
    its load address (so ELF loaders, which QEMU requires to be 32-bit, load it);
  - a Multiboot v1 image whose header (4-aligned, in the first 8 KiB) has the
    address fields (flags bit 16) describing the same layout.
Both views must agree. Exit status 0 if so; otherwise prints why and exits 1.
"""
import struct
import sys

MB_MAGIC = 0x1BADB002
LOAD_ADDR = 0x100000
MAX_SIZE = 64 * 1024


def fail(path, why):
    print(f"mbcheck: {path}: {why}", file=sys.stderr)
    sys.exit(1)


def find_multiboot(data):
    for off in range(0, min(len(data), 8192) - 31, 4):
        magic, flags, checksum = struct.unpack_from("<III", data, off)
        if magic == MB_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            return off, flags, struct.unpack_from("<5I", data, off + 12)
    return None


def main(path):
    data = open(path, "rb").read()
    size = len(data)
    if size > MAX_SIZE:
        fail(path, f"{size} bytes: guest images should stay small")
    if data[0x202:0x206] == b"HdrS":
        fail(path, "looks like a Linux kernel to QEMU (HdrS at 0x202)")

    mb = find_multiboot(data)
    if mb is None:
        fail(path, "no valid Multiboot header in the first 8 KiB")
    off, flags, (header_addr, load_addr, load_end, bss_end, entry) = mb
    if not flags & (1 << 16):
        fail(path, "Multiboot flags bit 16 (address fields) clear")
    if flags & (1 << 2):
        fail(path, "Multiboot flags bit 2 (video mode) set: QEMU refuses it")
    if load_addr != LOAD_ADDR:
        fail(path, f"load_addr {load_addr:#x}, want {LOAD_ADDR:#x}")
    if header_addr - load_addr != off:
        fail(path, f"header_addr {header_addr:#x} but header at offset {off:#x}")
    if load_end - load_addr != size:
        fail(path, f"load_end_addr {load_end:#x} but file is {size:#x} bytes")
    if bss_end < load_end or bss_end % 4096:
        fail(path, f"bss_end_addr {bss_end:#x} bad")
    if not load_addr <= entry < load_end:
        fail(path, f"entry_addr {entry:#x} outside the loaded file")

    ident = data[:16]
    if ident[:4] != b"\x7fELF" or ident[4] != 1 or ident[5] != 1:
        fail(path, "not a little-endian ELF32 file")
    (e_type, e_machine, _, e_entry, e_phoff, _, _, _, e_phentsize,
     e_phnum) = struct.unpack_from("<HHIIIIIHHH", data, 16)
    if e_type != 2 or e_machine != 3:
        fail(path, f"ELF type {e_type} machine {e_machine}: want EXEC, EM_386")
    if e_entry != entry:
        fail(path, f"ELF entry {e_entry:#x} != Multiboot entry {entry:#x}")
    loads = []
    for i in range(e_phnum):
        ph = struct.unpack_from("<8I", data, e_phoff + i * e_phentsize)
        if ph[0] == 1:
            loads.append(ph)
    if len(loads) != 1:
        fail(path, f"{len(loads)} PT_LOAD segments, want 1")
    _, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _, _ = loads[0]
    want = (0, load_addr, load_addr, size, bss_end - load_addr)
    if (p_offset, p_vaddr, p_paddr, p_filesz, p_memsz) != want:
        fail(path, "PT_LOAD (offset, vaddr, paddr, filesz, memsz) = "
             f"{(p_offset, p_vaddr, p_paddr, p_filesz, p_memsz)}, want {want}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
