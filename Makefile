# ragws build. `make` builds ./ragws; `make test`, `make run`, `make bench`,
# `make fuzz` do what README.md says. Every target that needs packages runs
# scripts/deps.sh first, which installs only what is missing.

CC      ?= cc
PKGS    := jansson libjwt libcurl libpq libsystemd inih zlib libcrypto libxml-2.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wno-unused-parameter
CSTD    := -std=c11 -D_GNU_SOURCE
INC     := -I. $(PKG_CFLAGS)
LIBS    := $(PKG_LIBS) -lwslay -lm
OPT     ?= -O2 -g

# Every .c under these folders except the program entry point is library
# code. Layers and their include rules: README.md "Architecture" (checked by
# scripts/check-layers.py in make test).
SRC_DIRS := base io shm protocol worker worker/net worker/svc worker/api master cli
LIB_SRC  := $(filter-out cli/main.c,$(wildcard $(addsuffix /*.c,$(SRC_DIRS))))

REL_OBJ  := $(patsubst %.c,build/rel/%.o,$(LIB_SRC))
ASAN_OBJ := $(patsubst %.c,build/asan/%.o,$(LIB_SRC))

# sql/*.sql embedded as C strings (ragws migrate, schema check); the
# build/rel/%.o and build/asan/%.o rules compile the generated file
# (its rule is below the build/asan/%.o rule).
REL_OBJ  += build/rel/build/gen/migrations.o
ASAN_OBJ += build/asan/build/gen/migrations.o

# The API documentation page (GET /docs, worker/api/rest_docs.h): web/docs/*
# and the Swagger UI renderer from npm, embedded the same way.
SWAGGER_UI  := node_modules/swagger-ui-dist
DOCS_ASSETS := web/docs/index.html web/docs/docs-init.js $(SWAGGER_UI)/swagger-ui-bundle.js \
               $(SWAGGER_UI)/swagger-ui.css
REL_OBJ  += build/rel/build/gen/docs_assets.o
ASAN_OBJ += build/asan/build/gen/docs_assets.o

# The browser UI (GET / and /ui/{file}, worker/api/rest_ui.h): web/ui/* and
# the uPlot charting library from npm, embedded the same way.
UPLOT     := node_modules/uplot/dist
UI_ASSETS := $(sort $(wildcard web/ui/*.html web/ui/*.js web/ui/*.css web/ui/*.svg)) \
             $(UPLOT)/uPlot.iife.min.js $(UPLOT)/uPlot.min.css
REL_OBJ  += build/rel/build/gen/ui_assets.o
ASAN_OBJ += build/asan/build/gen/ui_assets.o

ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

# tests/unit/ mirrors the source tree: tests/unit/base/test_utf8.c tests base/utf8.c.
UNIT_SRC  := $(shell find tests/unit -name 'test_*.c' | sort)
UNIT_BINS := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))
UNIT_HDRS := $(shell find tests/unit -name '*.h')

.PHONY: all deps test unit run bench fuzz clean asan check-config check-layers

all: ragws

deps:
	@scripts/deps.sh

ragws: build/rel/cli/main.o build/rel/libragws.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)

build/rel/libragws.a: $(REL_OBJ)
	@rm -f $@ && ar rcs $@ $^

# -MMD: each object's header dependencies (build/**/*.d, included below).
build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(WARN) $(INC) -MMD -MP -c -o $@ $<

# Sanitizer build used by the test suite.
asan: build/asan/ragws $(UNIT_BINS)

build/asan/ragws: build/asan/cli/main.o build/asan/libragws.a
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/asan/libragws.a: $(ASAN_OBJ)
	@rm -f $@ && ar rcs $@ $^

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(ASAN_FLAGS) $(WARN) $(INC) -DRAGWS_RING_TESTING -MMD -MP -c -o $@ $<

build/gen/migrations.c: scripts/embed-sql.sh $(wildcard sql/*.sql)
	sh scripts/embed-sql.sh $@ $(wildcard sql/*.sql)

# npm keeps the tarballs' old mtimes: the lockfile says when the renderer
# changed. A clean clone gets node_modules from scripts/deps.sh (npm ci).
build/gen/docs_assets.c: scripts/embed-assets.sh $(DOCS_ASSETS) package-lock.json
	sh scripts/embed-assets.sh $@ docs $(DOCS_ASSETS)

build/gen/ui_assets.c: scripts/embed-assets.sh $(UI_ASSETS) package-lock.json
	sh scripts/embed-assets.sh $@ ui $(UI_ASSETS)

$(SWAGGER_UI)/swagger-ui-bundle.js $(SWAGGER_UI)/swagger-ui.css $(UPLOT)/uPlot.iife.min.js \
$(UPLOT)/uPlot.min.css &:
	@scripts/deps.sh

build/asan/tests/%: tests/unit/%.c build/asan/libragws.a $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(ASAN_FLAGS) $(WARN) $(INC) -DRAGWS_RING_TESTING -o $@ $< build/asan/libragws.a $(LIBS) -lpthread

# Fuzz targets (clang + libFuzzer).
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(wildcard $(addsuffix /*.h,$(SRC_DIRS)))
	@mkdir -p $(dir $@)
	clang $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined $(INC) -o $@ $< $(FUZZ_LIB_SRC_$*) $(LIBS)

FUZZ_LIB_SRC_fuzz_http_parser := protocol/http_parser.c
FUZZ_LIB_SRC_fuzz_llm_stream := base/buf.c
FUZZ_LIB_SRC_fuzz_chunked := protocol/http_chunked.c
FUZZ_LIB_SRC_fuzz_multipart := protocol/multipart.c
FUZZ_LIB_SRC_fuzz_protocol_msgs := protocol/query.c protocol/chat.c protocol/conversation.c protocol/conversation_out.c protocol/publish.c protocol/json_msg.c protocol/envelope.c protocol/socketio.c base/utf8.c
FUZZ_LIB_SRC_fuzz_protocol_errors := protocol/query.c protocol/chat.c protocol/publish.c protocol/json_msg.c protocol/envelope.c protocol/socketio.c protocol/apiv1.c protocol/monitor.c protocol/ingest_events.c base/utf8.c

fuzz: deps $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  $$f -max_total_time=$${FUZZ_SECONDS:-60} build/fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

unit: $(UNIT_BINS)

test: deps
	@scripts/test.sh

run: deps ragws
	@scripts/run.sh

bench: deps ragws
	@scripts/bench.sh

check-config: ragws
	./ragws check-config -c ragws.conf

# The layer rules (README, "Architecture"): include directions, SQL and
# wire JSON placement, function and file sizes.
check-layers:
	@/usr/bin/python3 scripts/check-layers.py

clean:
	rm -rf build ragws

# Header dependencies written by -MMD.
-include $(shell find build -name '*.d' 2>/dev/null)
