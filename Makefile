# thumbflow: one target, one job. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

WASM_TARGET := wasm32-wasip2
WASM_DIR    := target/$(WASM_TARGET)/release
CORES       := normalizer_core thumbnailer_core thumbnailer_core_simple notifier_core
GLUES       := gateway gateway_inline_glue normalizer thumbnailer notifier render_http_glue
PACKAGES    := normalizer-core thumbnailer-core thumbnailer-core-simple notifier-core gateway gateway-inline normalizer thumbnailer notifier render-http
# Composed at build time with wac (docs/hosts.md): render-http's glue with the thumbnail engine
# plugged in, and the HTTP-only gateway's glue with all three engines.
COMPOSED    := render_http gateway_inline
COMPOSE_RENDER_HTTP     = $(WAC) plug --plug $(WASM_DIR)/thumbnailer_core.wasm $(WASM_DIR)/render_http_glue.wasm -o $(WASM_DIR)/render_http.wasm
COMPOSE_GATEWAY_INLINE  = $(WAC) plug $(foreach c,normalizer_core thumbnailer_core notifier_core,--plug $(WASM_DIR)/$(c).wasm) $(WASM_DIR)/gateway_inline_glue.wasm -o $(WASM_DIR)/gateway_inline.wasm

# Tools installed by this Makefile live inside the clone.
TOOLS_DIR          := $(CURDIR)/.tools
WASM_TOOLS_VERSION := 1.243.0
WASM_TOOLS         := $(shell command -v wasm-tools 2>/dev/null || echo $(TOOLS_DIR)/bin/wasm-tools)
WAC_VERSION        := 0.12.0
WAC                := $(shell command -v wac 2>/dev/null || echo $(TOOLS_DIR)/bin/wac)
# jco (npm) for the tests on hosts this project did not write: versions locked in tests/node/package-lock.json
NPM_DIR            := $(TOOLS_DIR)/npm
JCO                := $(NPM_DIR)/node_modules/.bin/jco
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ         := $(shell command -v cargo-fuzz 2>/dev/null || echo $(TOOLS_DIR)/bin/cargo-fuzz)

# `make fuzz`: seconds per target, and the largest input each is fed (raw
# events are small; JPEGs need room for tables and a few scans).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := normalize probe jpeg_decode
FUZZ_MAX_LEN_normalize   := 16384
FUZZ_MAX_LEN_probe       := 16384
FUZZ_MAX_LEN_jpeg_decode := 32768

.PHONY: help wasm-target host build render-http gateway-inline jco check-components test test-native lint up bench bench-pipeline fmt fuzz

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(TOOLS_DIR)/bin/wasm-tools:
	cargo install wasm-tools --locked --version $(WASM_TOOLS_VERSION) --root $(TOOLS_DIR)

# No default features: the registry resolver (warg) is not needed to plug local files.
$(TOOLS_DIR)/bin/wac:
	cargo install wac-cli --locked --version $(WAC_VERSION) --no-default-features --root $(TOOLS_DIR)

$(JCO): tests/node/package.json tests/node/package-lock.json
	mkdir -p $(NPM_DIR)
	cp tests/node/package.json tests/node/package-lock.json $(NPM_DIR)/
	npm ci --prefix $(NPM_DIR) --no-audit --no-fund
	touch $(JCO)

jco: $(JCO) ## Install jco (npm, pinned) into .tools/npm for the portability tests

$(TOOLS_DIR)/bin/cargo-fuzz:
	cargo install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION) --root $(TOOLS_DIR)

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

build: wasm-target $(if $(filter $(TOOLS_DIR)/%,$(WAC)),$(TOOLS_DIR)/bin/wac) ## Build every component (and the alternative engine of docs/swap-a-component.md) into target/wasm32-wasip2/release (where spin.toml expects them), and compose render_http.wasm and gateway_inline.wasm with wac
	cargo build --target $(WASM_TARGET) --release $(addprefix -p ,$(PACKAGES))
	$(COMPOSE_RENDER_HTTP)
	$(COMPOSE_GATEWAY_INLINE)
	@for c in $(CORES) $(GLUES) $(COMPOSED); do test -f $(WASM_DIR)/$$c.wasm || { echo "missing $(WASM_DIR)/$$c.wasm"; exit 1; }; done
	@ls -l $(addprefix $(WASM_DIR)/,$(addsuffix .wasm,$(CORES) $(GLUES) $(COMPOSED)))

render-http: wasm-target $(if $(filter $(TOOLS_DIR)/%,$(WAC)),$(TOOLS_DIR)/bin/wac) ## Build render_http.wasm alone: the glue with thumbnailer_core.wasm plugged in
	cargo build --target $(WASM_TARGET) --release -p render-http -p thumbnailer-core
	$(COMPOSE_RENDER_HTTP)

gateway-inline: wasm-target $(if $(filter $(TOOLS_DIR)/%,$(WAC)),$(TOOLS_DIR)/bin/wac) ## Build gateway_inline.wasm alone (the HTTP-only app's gateway): the glue with the three engines plugged in
	cargo build --target $(WASM_TARGET) --release -p gateway-inline -p normalizer-core -p thumbnailer-core -p notifier-core
	$(COMPOSE_GATEWAY_INLINE)

check-components: build $(if $(filter $(TOOLS_DIR)/%,$(WASM_TOOLS)),$(TOOLS_DIR)/bin/wasm-tools) ## Prove cores import only WASI and glues export their Spin trigger interface
	WASM_TOOLS=$(WASM_TOOLS) tests/check-components.sh $(WASM_DIR)

test-native: ## Unit and component tests of the native crates (needs `make build` first); lists the tests that skipped
	@rm -f target/test-skips.txt
	@cargo test; status=$$?; \
	if [ -s target/test-skips.txt ]; then echo "== tests that skipped (a part they need is not here):"; cat target/test-skips.txt; \
	else echo "== no test skipped"; fi; exit $$status

test: check-components jco test-native ## Build everything, check the components, install jco, run every test

lint: wasm-target ## rustfmt and clippy (native crates and wasm components), warnings are errors
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) --release $(addprefix -p ,$(PACKAGES)) -p thumbflow-glue -- -D warnings

fmt: ## Format the code
	cargo fmt --all

host: ## Build the thumbflow host (profile `host`: optimized, no LTO; see Cargo.toml)
	cargo build --profile host -p thumbflow --bin thumbflow

up: build host ## Run the pipeline on thumbflow's host: REDIS_URL, or a local redis-server it starts; Ctrl-C stops both
	scripts/up.sh

bench: build ## Engine (wasm) vs Pillow vs vipsthumbnail on ../shared/corpus (or THUMBFLOW_CORPUS), start-up of render and up; writes docs/benchmarks.md
	cargo build --profile host -p thumbflow --bin thumbflow-bench --bin thumbflow
	python3 bench/run.py

bench-pipeline: build ## Per-stage host overhead and end-to-end upload latency on our host (needs redis-server); writes its section of docs/benchmarks.md
	cargo build --profile host -p thumbflow --bin thumbflow-pipeline-bench
	target/host/thumbflow-pipeline-bench

# cargo-fuzz wants nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# take them. Builds go to fuzz/target. New inputs go to fuzz/target/corpus
# (the committed seeds in fuzz/corpus stay as they are), crashes to
# fuzz/artifacts/<target>/. `nice` leaves the CPU to interactive work.
fuzz: $(if $(filter $(TOOLS_DIR)/%,$(CARGO_FUZZ)),$(TOOLS_DIR)/bin/cargo-fuzz) ## Fuzz the normalizer, the header probe and the JPEG decoder, FUZZ_SECONDS (60) each; fails on a crash
	@export PATH="$(dir $(CARGO_FUZZ)):$$PATH" RUSTC_BOOTSTRAP=1; \
	nice -n 10 cargo fuzz build || exit 1; \
	failed=; \
	$(foreach t,$(FUZZ_TARGETS),\
	  mkdir -p fuzz/target/corpus/$(t); \
	  echo "== fuzz $(t): $(FUZZ_SECONDS) s"; \
	  nice -n 10 cargo fuzz run $(t) fuzz/target/corpus/$(t) fuzz/corpus/$(t) -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN_$(t)) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 || failed="$$failed $(t)";) \
	if [ -n "$$failed" ]; then echo "fuzz: crash in:$$failed (inputs in fuzz/artifacts/)"; exit 1; fi
