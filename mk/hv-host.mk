# hv/ on the host: the hv/ sources that run unchanged against the fake arch
# join the host library (tests/host/test_gmem.c walks guest page tables, test_loader.c loads images).
HOST_HV_SRCS := hv/gmem.c hv/loader.c hv/manifest.c
