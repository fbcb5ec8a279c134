# cnn-dist — see README.md. `make` builds, `make test` runs every test, `make run` trains CIFAR-10.
# Only src/comm.c and src/main.c are compiled with mpicc, so a stray #include <mpi.h> elsewhere fails.

CC      ?= gcc
MPICC   ?= mpicc
BUILD   ?= build
PKGS    := openblas hdf5 inih zlib
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Iinclude -Wall -Wextra -Wshadow -Wdouble-promotion \
	-Wstrict-prototypes -Wmissing-prototypes -MMD -MP -pthread
OPT     ?= -O3 -march=native -fno-math-errno -g
SAN     ?=
CFLAGS  := $(CFLAGS_BASE) $(OPT) $(SAN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
	-I/usr/include/hdf5/serial
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

CORE_SRC := $(filter-out src/main.c src/comm.c src/comm_serial.c, \
	$(wildcard src/*.c src/nn/*.c src/data/*.c src/io/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps run test unit-test mpi-test asan bench clean data
# comm_serial.o is only a prerequisite of the test binaries; keep it, or make deletes and rebuilds it
.SECONDARY: $(BUILD)/src/comm_serial.o

all: $(BUILD)/cnn-dist $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/src/comm.o: src/comm.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -c $< -o $@

$(BUILD)/src/main.o: src/main.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -c $< -o $@

$(BUILD)/libcnn.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cnn-dist: $(BUILD)/src/main.o $(BUILD)/src/comm.o $(BUILD)/libcnn.a
	$(MPICC) $(CFLAGS) $^ -o $@ $(LDLIBS)
	ln -sf $(BUILD)/cnn-dist cnn-dist 2>/dev/null || true

$(BUILD)/tests/%: tests/%.c $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a -o $@ $(LDLIBS) $(TESTLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a -o $@ $(LDLIBS)

# Installs Debian's packages when something is missing (needs root, as on a fresh machine).
deps:
	@scripts/install-deps

# Unit tests (cmocka, one process) then multi-rank tests under real mpirun.
test: deps
	$(MAKE) all
	scripts/run-tests $(BUILD)

unit-test: all
	scripts/run-tests $(BUILD) --unit-only

# The whole unit suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	$(MAKE) BUILD=build-asan OPT="-O1 -g -march=native -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" all
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		scripts/run-tests build-asan --unit-only

# Downloads (or takes with CIFAR10_FROM=FILE|DIR) CIFAR-10, builds, trains configs/cifar10.ini.
run: deps
	$(MAKE) $(BUILD)/cnn-dist
	scripts/get-cifar10 $(if $(CIFAR10_FROM),--from $(CIFAR10_FROM)) data
	scripts/cnn-run configs/cifar10.ini --resume latest

bench: deps
	$(MAKE) $(BUILD)/cnn-dist $(BENCH_BIN)
	scripts/bench $(BUILD)

clean:
	rm -rf build build-asan cnn-dist

-include $(CORE_OBJ:.o=.d) $(BUILD)/src/main.d $(BUILD)/src/comm.d $(BUILD)/src/comm_serial.d
