# pdbseed: the firmware memory map parser (boot/memmap.c) joins the host
# library so tests/host/test_memmap.c and test_pdb_seed.c exercise the real
# code. The top-level rule for $(HOST_LIB) expanded its prerequisite list
# before this fragment was read, so name the object there too ($^ collects
# the prerequisites of every rule for the target).
HOST_LIB_SRCS += boot/memmap.c
$(HOST_LIB): $(BUILD)/host/boot/memmap.o
