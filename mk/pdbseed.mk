# pdbseed: the firmware memory map parser (boot/memmap.c) joins the host
# library so tests/host/test_memmap.c and test_pdb_seed.c exercise the real code.
HOST_LIB_SRCS += boot/memmap.c
