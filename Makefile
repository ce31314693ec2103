# siamese_pg: PGXS build of the extension, plus the pure-C core library, unit
# tests, fuzzers and benchmarks.
#
#   make                  build the core library and the extension module
#   make install          install the module, SQL scripts and models
#   make unit             build and run the core unit tests
#   make unit-valgrind    the same under valgrind (leaks and bad reads fail)
#   make unit-asan        the same built by clang with ASan + UBSan and -Werror
#   make unit-tsan        the threaded tests built with ThreadSanitizer
#   make fuzz             libFuzzer harnesses; FUZZ_SECONDS=N runs each for N s
#   make installcheck     pg_regress tests against a running server (PGHOST/PGPORT)
#   make tap              TAP tests (PostgreSQL::Test::Cluster); run as a non-root user
#                         (TAP_TESTS=test/t/060_citus.pl for one file)
#   make bench            build and run every benchmark (prints figures)
#   make experiments      the seed's claims on Fashion-MNIST, 5 seeds (docs/experiments.md)
#   make WERROR=1         any compiler warning is an error (CI builds this way)
#   scripts/test          everything above on a scratch cluster (what CI runs)

EXTENSION   = siamese_pg
EXTVERSION  = 0.2.0

MODULE_big  = siamese_pg
PG_SRCS     = src/siamese_pg.c $(sort $(wildcard src/pg/*.c src/pg/*/*.c src/hnsw/*.c))
OBJS        = $(PG_SRCS:.c=.o)

# The install script of the current version is assembled from one fragment per
# area (sql/install/NN_*.sql), so each area owns its own file.  Earlier versions
# ship as committed files in sql/upgrade/: the frozen install script of each
# released version and the update script from each version to the next
# (siamese_pg--A--B.sql), so ALTER EXTENSION siamese_pg UPDATE has a path.
INSTALL_SQL_PARTS = $(sort $(wildcard sql/install/*.sql))
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
DATA        = $(sort $(wildcard sql/upgrade/$(EXTENSION)--*.sql))

# pg_regress: every sql/*.sql is a test with expected/<name>.out.
REGRESS      = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

# Models ship in the extension's share directory (read only from there).
MODEL_FILES = $(wildcard models/*.safetensors models/*.json)

# ---------------------------------------------------------------------------
# Pure-C core: built with its own strict flags (C11, no PostgreSQL headers)
# into a static library that the module, unit tests, fuzzers, benchmarks and
# tools link.
# One folder per capability (src/core/<room>/*.c; docs/architecture.md).
CORE_SRCS   = $(sort $(wildcard src/core/*/*.c src/core/*/*/*.c))
# protobuf-c code for ONNX, generated at build time from Debian's onnx.proto
# (libonnx-dev) by protoc-c, like PostGIS does for its vector tiles.
ONNX_PROTO  ?= /usr/include/onnx/onnx.proto
ONNX_GEN    = build/onnx/onnx.pb-c.c
CORE_OBJS   = $(CORE_SRCS:.c=.o) build/onnx/onnx.pb-c.o
CORE_LIB    = src/core/libsiamese_core.a
CORE_LIBS   = -lpng -ljpeg -lopenblas -lblis -lprotobuf-c -lcrypto -lz -lm
CORE_CFLAGS = -std=gnu11 -O2 -g -fPIC -fno-strict-aliasing -fwrapv \
              -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Isrc/core -Ibuild/onnx $(CORE_EXTRA_CFLAGS)

PG_CPPFLAGS = -Isrc/core -Isrc -MMD -MP
PG_CFLAGS   = -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
SHLIB_LINK  = $(CORE_LIB) $(CORE_LIBS)

EXTRA_CLEAN = build test/unit/run_unit_asan test/unit/run_unit_tsan $(CORE_OBJS) $(CORE_OBJS:.o=.d) $(OBJS:.o=.d) $(CORE_LIB) test/unit/run_unit bench/bin test/fuzz/bin tools/bin \
              $(EXTENSION)--$(EXTVERSION).sql results regression.diffs regression.out tmp_check log

# make WERROR=1 (what CI runs): any compiler warning fails the build, in the
# core (its own flags) and in the glue (PGXS's COPT).
ifeq ($(WERROR),1)
COPT += -Werror
CORE_EXTRA_CFLAGS += -Werror
endif

# JIT bitcode would require the exact clang PostgreSQL was built with; the
# extension gains nothing from inlining into JIT-compiled expressions.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Install models next to the extension's SQL scripts: share/extension/siamese_pg/
MODEL_DIR = $(DESTDIR)$(datadir)/extension/siamese_pg

$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_SQL_PARTS)
	cat $^ > $@

# Each object depends on exactly the headers it includes (-MMD writes them to
# the .d file next to the object; -MP keeps a deleted header from breaking make).
src/core/%.o: src/core/%.c | $(ONNX_GEN)
	$(CC) $(CORE_CFLAGS) -MMD -MP -c -o $@ $<

build/onnx/onnx.pb-c.c build/onnx/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p build/onnx
	protoc-c --c_out=build/onnx --proto_path=$(dir $(ONNX_PROTO)) $(notdir $(ONNX_PROTO))

# generated code: compiled without the strict warnings of our own code
build/onnx/onnx.pb-c.o: build/onnx/onnx.pb-c.c
	$(CC) -std=gnu11 -O2 -g -fPIC -Ibuild/onnx -c -o $@ $<

-include $(CORE_OBJS:.o=.d) $(OBJS:.o=.d)

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(shlib): $(CORE_LIB)

install: install-models
install-models:
	$(MKDIR_P) '$(MODEL_DIR)'
	$(if $(MODEL_FILES),$(INSTALL_DATA) $(MODEL_FILES) '$(MODEL_DIR)/')

# ---------------------------------------------------------------------------
# Unit tests of the core.
UNIT_SRCS = $(sort $(wildcard test/unit/*.c))
UNIT_BIN  = test/unit/run_unit

$(UNIT_BIN): $(UNIT_SRCS) $(wildcard test/unit/*.h src/core/*/*.h src/core/*/*/*.h) $(CORE_LIB)
	$(CC) $(CORE_CFLAGS) -Itest/unit -o $@ $(UNIT_SRCS) $(CORE_LIB) $(CORE_LIBS)

unit: $(UNIT_BIN)
	./$(UNIT_BIN)

unit-valgrind: $(UNIT_BIN)
	valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		./$(UNIT_BIN)

# ---------------------------------------------------------------------------
# Benchmarks: each bench/bench_*.c is a program that prints figures.
BENCH_SRCS = $(sort $(wildcard bench/bench_*.c))
BENCH_BINS = $(patsubst bench/%.c,bench/bin/%,$(BENCH_SRCS))

# Benchmarks may use the tools' support code (IDX reader, metrics).
TOOL_LIB_SRCS = $(sort $(wildcard tools/lib/*.c))
bench/bin/%: bench/%.c bench/bench_util.h $(TOOL_LIB_SRCS) $(wildcard tools/lib/*.h src/core/*/*.h) $(CORE_LIB)
	@mkdir -p bench/bin
	$(CC) $(CORE_CFLAGS) -Ibench -Itools/lib -o $@ $< $(TOOL_LIB_SRCS) $(CORE_LIB) $(CORE_LIBS)

bench: $(BENCH_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; ./$$b || exit 1; done

# ---------------------------------------------------------------------------
# Command-line tools (trainer, data exporters): tools/*.c are programs that
# share the support code in tools/lib/.
TOOL_SRCS     = $(sort $(wildcard tools/*.c))
TOOL_BINS     = $(patsubst tools/%.c,tools/bin/%,$(TOOL_SRCS))

tools/bin/%: tools/%.c $(TOOL_LIB_SRCS) $(wildcard tools/lib/*.h src/core/*/*.h) $(CORE_LIB)
	@mkdir -p tools/bin
	$(CC) $(CORE_CFLAGS) -Itools/lib -o $@ $< $(TOOL_LIB_SRCS) $(CORE_LIB) $(CORE_LIBS)

tools: $(TOOL_BINS)

# ---------------------------------------------------------------------------
# libFuzzer harnesses (clang, ASan + UBSan): make fuzz builds test/fuzz/bin/*
# against a sanitizer build of the core (build/fuzz/, compiled once), and with
# FUZZ_SECONDS=N runs each harness for N seconds on a working copy of its seeds
# (test/fuzz/run.sh), failing on any crash, leak or timeout.
FUZZ_SRCS   = $(sort $(wildcard test/fuzz/fuzz_*.c))
FUZZ_BINS   = $(patsubst test/fuzz/%.c,test/fuzz/bin/%,$(FUZZ_SRCS))
FUZZ_CFLAGS = -std=gnu11 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -Isrc/core -Ibuild/onnx
FUZZ_OBJS   = $(patsubst %.c,build/fuzz/%.o,$(CORE_SRCS) $(ONNX_GEN))
build/fuzz/%.o: %.c $(ONNX_GEN) $(wildcard src/core/*/*.h src/core/*/*/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/libsiamese_core.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^
test/fuzz/bin/%: test/fuzz/%.c test/fuzz/fuzz_env.h build/fuzz/libsiamese_core.a
	@mkdir -p test/fuzz/bin
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libsiamese_core.a $(CORE_LIBS)
fuzz: $(FUZZ_BINS)
	@if [ -n "$(FUZZ_SECONDS)" ]; then bash test/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS); fi
.PHONY: fuzz

# The core and its unit tests built by clang with ASan + UBSan and -Werror
# (the gcc build is checked with WERROR=1): make unit-asan runs them.
ASAN_CFLAGS = -std=gnu11 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer -Isrc/core -Ibuild/onnx
ASAN_WARN   = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
ASAN_OBJS   = $(patsubst %.c,build/asan/%.o,$(CORE_SRCS)) build/asan/onnx.pb-c.o
build/asan/%.o: %.c $(ONNX_GEN) $(wildcard src/core/*/*.h src/core/*/*/*.h)
	@mkdir -p $(dir $@)
	clang $(ASAN_CFLAGS) $(ASAN_WARN) -c -o $@ $<
build/asan/onnx.pb-c.o: $(ONNX_GEN)
	@mkdir -p $(dir $@)
	clang $(ASAN_CFLAGS) -c -o $@ $<
test/unit/run_unit_asan: $(UNIT_SRCS) $(wildcard test/unit/*.h) $(ASAN_OBJS)
	clang $(ASAN_CFLAGS) $(ASAN_WARN) -Itest/unit -o $@ $(UNIT_SRCS) $(ASAN_OBJS) $(CORE_LIBS)
unit-asan: test/unit/run_unit_asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./test/unit/run_unit_asan
.PHONY: unit-asan

# The same tests built with ThreadSanitizer, run on the tests whose names
# contain "team": the compute threads (util/team.h) and the ops they split.
# Without address-space randomisation (setarch -R): clang 14's TSan cannot
# map its shadow memory on kernels with many random mmap bits.
TSAN_CFLAGS = -std=gnu11 -g -O1 -fsanitize=thread -Isrc/core -Ibuild/onnx
TSAN_OBJS   = $(patsubst %.c,build/tsan/%.o,$(CORE_SRCS)) build/tsan/onnx.pb-c.o
build/tsan/%.o: %.c $(ONNX_GEN) $(wildcard src/core/*/*.h src/core/*/*/*.h)
	@mkdir -p $(dir $@)
	clang $(TSAN_CFLAGS) $(ASAN_WARN) -c -o $@ $<
build/tsan/onnx.pb-c.o: $(ONNX_GEN)
	@mkdir -p $(dir $@)
	clang $(TSAN_CFLAGS) -c -o $@ $<
test/unit/run_unit_tsan: $(UNIT_SRCS) $(wildcard test/unit/*.h) $(TSAN_OBJS)
	clang $(TSAN_CFLAGS) $(ASAN_WARN) -Itest/unit -o $@ $(UNIT_SRCS) $(TSAN_OBJS) $(CORE_LIBS)
unit-tsan: test/unit/run_unit_tsan
	TSAN_OPTIONS=halt_on_error=1 setarch $$(uname -m) -R ./test/unit/run_unit_tsan team
.PHONY: unit-tsan

# TAP tests (test/t/*.pl) use PostgreSQL::Test::Cluster against the installed
# server binaries.  initdb refuses root, so run this as an unprivileged user
# (scripts/test does it as postgres) with TAP_TMP pointing at a directory that
# user can write.
TAP_TMP ?= $(CURDIR)
TAP_TESTS ?= test/t/*.pl
PG_BINDIR := $(shell $(PG_CONFIG) --bindir)
tap:
	rm -rf '$(TAP_TMP)/tmp_check' && mkdir -p '$(TAP_TMP)/tmp_check'
	TESTDIR='$(TAP_TMP)' PATH='$(PG_BINDIR)':"$$PATH" PG_REGRESS='$(pgxsdir)/src/test/regress/pg_regress' \
		SIAMESE_SRCDIR='$(CURDIR)' prove -I '$(pgxsdir)/src/test/perl' -I test/perl $(PROVE_FLAGS) $(TAP_TESTS)

# Shipped models: retrain all of them with fixed seeds (docs/training.md).
models: tools
	scripts/make-models

# Benchmarks that need a server or PyTorch (see docs/performance.md).
bench-sql: install tools/bin/fmnist_export
	bash bench/embed_sql_bench.sh $(MODEL)
bench-torch: bench/bin/bench_embed
	bash bench/torch_compare.sh
bench-onnx: bench/bin/bench_graph
	bash bench/onnx_compare.sh
bench-hnsw: install
	bash bench/hnsw_bench.sh
bench-hnsw-fashion: install tools/bin/fmnist_export
	DATA=fashion bash bench/hnsw_bench.sh

# Mutation testing (test/mutation/README.md): the kill rate of the mutants of
# test/mutation/mutants_*.txt; MUTANTS=substring runs a subset.  As root.
mutation:
	python3 test/mutation/run.py $(if $(MUTANTS),--only $(MUTANTS))

# The seed's claims as experiments on Fashion-MNIST, 5 seeds each, mean +- std
# (docs/experiments.md records the figures): the losses side by side, metric
# losses against a softmax classifier's embeddings; few-shot classification,
# a classifier and their ensemble; and a class cut to 4 training images.
# About 25 minutes on 2 cores.
EXPERIMENT_SEEDS ?= 1,2,3,4,5
experiments: tools
	python3 bench/loss_compare.py --arch mlp --epochs 5 --seeds $(EXPERIMENT_SEEDS) --ensemble batch_all:cosface
	python3 bench/loss_compare.py --arch mlp --epochs 15 --seeds $(EXPERIMENT_SEEDS) \
		--losses batch_all,multi_similarity,softmax,cosface --imbalance 8:4

.PHONY: experiments mutation models unit unit-valgrind bench bench-sql bench-torch bench-onnx bench-hnsw bench-hnsw-fashion fuzz install-models tap tools
