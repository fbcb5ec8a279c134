# cnn-dist — see README.md. `make` builds, `make test` runs every test, `make run` trains CIFAR-10.
# Only src/comm.c and src/main.c are compiled with mpicc, so a stray #include <mpi.h> elsewhere fails.
#
# One binary for every x86-64 CPU: the program is built for a baseline (x86-64-v2, SSE4.2) and the
# sources in src/nn/kernels/ once more per instruction set (KERNEL_ISAS: generic = x86-64-v2, avx2 =
# x86-64-v3, avx512 = x86-64-v4); at start the program picks the best the CPU runs (src/cpu.c,
# CNN_ISA caps it). `make NATIVE=1` builds the baseline with -march=native instead (the kernels
# keep their own flags), for whoever wants that; it is not needed for speed.

CC      ?= gcc
MPICC   ?= mpicc
BUILD   ?= build
PKGS    := openblas hdf5 inih zlib stb
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Iinclude -Wall -Wextra -Wshadow -Wdouble-promotion \
	-Wstrict-prototypes -Wmissing-prototypes -MMD -MP -pthread
export NATIVE # tests/e2e/isa.sh skips the baseline instruction check then
ifeq ($(NATIVE),1)
ARCH    ?= -march=native
else
ARCH    ?= -march=x86-64-v2 -mtune=generic
endif
OPT     ?= -O3 -fno-math-errno -g
SAN     ?=
CFLAGS_NOSAN := $(CFLAGS_BASE) $(OPT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I/usr/include/hdf5/serial
CFLAGS  := $(CFLAGS_NOSAN) $(SAN)
# the kernels take the sanitizers too, unless told otherwise (make fuzz: clang instruments their
# unrolled tiles for minutes, and no fuzz target reaches them)
KERNEL_SAN ?= $(SAN)
BASE_CFLAGS := $(CFLAGS) $(ARCH)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# instruction set -> CNN_KERNEL_ISA and -march of its kernels
KERNEL_ISAS := generic avx2 avx512
ISA_generic := 0 -march=x86-64-v2 -mtune=generic
ISA_avx2    := 1 -march=x86-64-v3 -mtune=generic
ISA_avx512  := 2 -march=x86-64-v4 -mtune=generic -mprefer-vector-width=512
KERNEL_SRC  := $(wildcard src/nn/kernels/*.c)
KERNEL_OBJ  := $(foreach isa,$(KERNEL_ISAS),$(KERNEL_SRC:src/nn/kernels/%.c=$(BUILD)/kernels/$(isa)/%.o))

CORE_SRC := $(filter-out src/main.c src/comm.c src/comm_serial.c, \
	$(wildcard src/*.c src/*/*.c src/nn/layers/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps run test unit-test asan fuzz bench clean data
# comm_serial.o is only a prerequisite of the test binaries; keep it, or make deletes and rebuilds it
.SECONDARY: $(BUILD)/src/comm_serial.o

all: $(BUILD)/cnn-dist $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -c $< -o $@

define kernel_rule
$(BUILD)/kernels/$(1)/%.o: src/nn/kernels/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS_NOSAN) $$(KERNEL_SAN) -DCNN_KERNEL_ISA=$$(word 1,$$(ISA_$(1))) $$(wordlist 2,9,$$(ISA_$(1))) -c $$< -o $$@
endef
$(foreach isa,$(KERNEL_ISAS),$(eval $(call kernel_rule,$(isa))))

$(BUILD)/src/comm.o: src/comm.c
	@mkdir -p $(dir $@)
	$(MPICC) $(BASE_CFLAGS) -c $< -o $@

$(BUILD)/src/main.o: src/main.c
	@mkdir -p $(dir $@)
	$(MPICC) $(BASE_CFLAGS) -c $< -o $@

$(BUILD)/libcnn.a: $(CORE_OBJ) $(KERNEL_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cnn-dist: $(BUILD)/src/main.o $(BUILD)/src/comm.o $(BUILD)/libcnn.a
	$(MPICC) $(BASE_CFLAGS) $^ -o $@ $(LDLIBS)
	ln -sf $(BUILD)/cnn-dist cnn-dist 2>/dev/null || true

$(BUILD)/tests/%: tests/%.c $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $< $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a -o $@ $(LDLIBS) $(TESTLIBS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -fsanitize=fuzzer $< $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a -o $@ $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $< $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a -o $@ $(LDLIBS)

# Installs Debian's packages when something is missing (needs root, as on a fresh machine).
deps:
	@scripts/install-deps

# Unit tests (cmocka, one process) then multi-rank tests under real mpirun.
test: deps
	$(MAKE) all
	scripts/run-tests $(BUILD)

unit-test: all
	scripts/run-tests $(BUILD) --unit-only

# The whole unit suite, then the multi-rank tests (real mpirun), under AddressSanitizer and
# UndefinedBehaviorSanitizer. Open MPI's own allocations are not cnn-dist's leaks: LeakSanitizer runs
# on the unit suite only.
ASAN_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
asan: deps
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="$(ASAN_SAN)" all
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		scripts/run-tests build-asan --unit-only
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
		scripts/run-tests build-asan --mpi-only

# Coverage-guided fuzzing (clang's libFuzzer, with ASan and UBSan) of what reads untrusted input: the
# config's path to a built model, the CIFAR-10 and IDX loaders, the checkpoint reader. Each target runs
# FUZZ_SECONDS from its seed corpus (tests/fuzz/corpus/) after replaying the inputs that once crashed
# it (tests/fuzz/regressions/).
FUZZ_SECONDS ?= 60
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build-fuzz/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz: deps
	@scripts/install-deps fuzz
	$(MAKE) BUILD=build-fuzz CC=clang-14 OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=fuzzer-no-link $(ASAN_SAN)" KERNEL_SAN="" $(FUZZ_BIN)
	scripts/run-fuzz build-fuzz $(FUZZ_SECONDS)

# Downloads (or takes with CIFAR10_FROM=FILE|DIR) CIFAR-10, builds, trains configs/cifar10.ini.
run: deps
	$(MAKE) $(BUILD)/cnn-dist
	scripts/get-cifar10 $(if $(CIFAR10_FROM),--from $(CIFAR10_FROM)) data
	scripts/cnn-run configs/cifar10.ini --resume latest

bench: deps
	$(MAKE) $(BUILD)/cnn-dist $(BENCH_BIN)
	scripts/bench $(BUILD)

clean:
	rm -rf build build-asan build-fuzz cnn-dist

-include $(CORE_OBJ:.o=.d) $(KERNEL_OBJ:.o=.d) $(BUILD)/src/main.d $(BUILD)/src/comm.d $(BUILD)/src/comm_serial.d
