# cnn-dist — see README.md. `make` builds, `make test` runs every test, `make run` trains CIFAR-10.
# Only src/comm.c and src/main.c are compiled with mpicc, so a stray #include <mpi.h> elsewhere fails.
#
# One binary for every x86-64 CPU: the program is built for a baseline (x86-64-v2, SSE4.2) and the
# sources in src/nn/kernels/ once more per instruction set (KERNEL_ISAS: generic = x86-64-v2, avx2 =
# x86-64-v3, avx512 = x86-64-v4); at start the program picks the best the CPU runs (src/cpu.c,
# CNN_ISA caps it). `make NATIVE=1` builds the baseline with -march=native instead (the kernels
# keep their own flags), for whoever wants that; it is not needed for speed.

# The version: a release tarball's VERSION file (make dist writes it), else git describe: the newest
# v* tag and the commits since, or BASE_VERSION and the commit when there is no tag.
BASE_VERSION := 0.9.0
VERSION := $(shell cat VERSION 2>/dev/null || \
	{ d=$$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null) && echo "$${d\#v}"; } || \
	{ h=$$(git describe --always --dirty 2>/dev/null) && echo "$(BASE_VERSION)-g$$h"; } || \
	echo "$(BASE_VERSION)")

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

.PHONY: all deps run test unit-test asan fuzz bench clean data FORCE install uninstall dist man
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

# version.h changes only when the version does, so a new commit relinks instead of rebuilding
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define CNN_VERSION "$(VERSION)"' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/src/version.o: $(BUILD)/gen/version.h
$(BUILD)/src/version.o: BASE_CFLAGS += -I$(BUILD)/gen
FORCE:
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

$(BUILD)/bench/%: bench/%.c bench/timing.h $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $< $(BUILD)/src/comm_serial.o $(BUILD)/libcnn.a -o $@ $(LDLIBS)

# Installs Debian's packages when something is missing (needs root, as on a fresh machine).
deps:
	@scripts/install-deps

# Unit tests (cmocka, one process) then multi-rank tests under real mpirun.
test: deps
	@scripts/install-deps test
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
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 CNN_TEST_LIGHT=1 \
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

# The manual page, from --help and --version and man/cnn-dist.h2m (help2man).
man: $(BUILD)/cnn-dist.1
$(BUILD)/cnn-dist.1: $(BUILD)/cnn-dist man/cnn-dist.h2m
	help2man --no-info --name='train convolutional networks data-parallel over MPI on CPUs' \
		--include=man/cnn-dist.h2m --output=$@ $(BUILD)/cnn-dist

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary and its tools in PREFIX/bin (cnn-dist, cnn-run,
# cnn-plot-metrics, cnn-export), the configs and Slurm scripts in PREFIX/share/cnn-dist, the manual
# page, the README. The installed Slurm scripts point at PREFIX; cnn-dist finds the installed configs
# relative to its own place, so a tree installed with DESTDIR and moved into place works.
PREFIX  ?= /usr/local
SHAREDIR = $(PREFIX)/share/cnn-dist
INSTALLED = $(PREFIX)/bin/cnn-dist $(PREFIX)/bin/cnn-run $(PREFIX)/bin/cnn-plot-metrics $(PREFIX)/bin/cnn-export \
	$(addprefix $(SHAREDIR)/,$(wildcard configs/*.ini)) \
	$(addprefix $(SHAREDIR)/slurm/,$(notdir $(wildcard scripts/slurm/*.sbatch))) \
	$(PREFIX)/share/man/man1/cnn-dist.1 $(PREFIX)/share/doc/cnn-dist/README.md
install: $(BUILD)/cnn-dist $(BUILD)/cnn-dist.1
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SHAREDIR)/configs $(DESTDIR)$(SHAREDIR)/slurm \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/doc/cnn-dist
	install -m 755 $(BUILD)/cnn-dist $(DESTDIR)$(PREFIX)/bin/cnn-dist
	install -m 755 scripts/cnn-run $(DESTDIR)$(PREFIX)/bin/cnn-run
	install -m 755 scripts/plot-metrics $(DESTDIR)$(PREFIX)/bin/cnn-plot-metrics
	install -m 755 scripts/export $(DESTDIR)$(PREFIX)/bin/cnn-export
	install -m 644 configs/*.ini $(DESTDIR)$(SHAREDIR)/configs/
	sed -e 's|^here=.*/scripts/slurm$$|here=$(SHAREDIR)/slurm|' -e 's|configs/cifar10.ini}|cifar10.ini}|' \
		scripts/slurm/cifar10.sbatch >$(DESTDIR)$(SHAREDIR)/slurm/cifar10.sbatch
	sed -e 's|^bin=$${CNN_DIST:-build/cnn-dist}$$|bin=$${CNN_DIST:-$(PREFIX)/bin/cnn-dist}|' \
		scripts/slurm/template.sbatch >$(DESTDIR)$(SHAREDIR)/slurm/template.sbatch
	chmod 644 $(DESTDIR)$(SHAREDIR)/slurm/*.sbatch
	install -m 644 $(BUILD)/cnn-dist.1 $(DESTDIR)$(PREFIX)/share/man/man1/cnn-dist.1
	install -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/cnn-dist/README.md
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(SHAREDIR)/configs $(DESTDIR)$(SHAREDIR)/slurm $(DESTDIR)$(SHAREDIR) \
		$(DESTDIR)$(PREFIX)/share/doc/cnn-dist 2>/dev/null

# make dist: cnn-dist-VERSION.tar.gz, the committed tree plus a VERSION file, so it builds without git.
dist:
	@git diff --quiet HEAD || echo "dist: uncommitted changes are not in the tarball" >&2
	rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist
	git archive --format=tar --prefix=cnn-dist-$(VERSION)/ HEAD | tar -x -C $(BUILD)/dist
	echo "$(VERSION)" >$(BUILD)/dist/cnn-dist-$(VERSION)/VERSION
	tar -C $(BUILD)/dist -czf cnn-dist-$(VERSION).tar.gz cnn-dist-$(VERSION)
	@echo "dist: cnn-dist-$(VERSION).tar.gz"

clean:
	rm -rf build build-asan build-fuzz cnn-dist

-include $(CORE_OBJ:.o=.d) $(KERNEL_OBJ:.o=.d) $(BUILD)/src/main.d $(BUILD)/src/comm.d $(BUILD)/src/comm_serial.d
