# The two commands of the README: `make run` starts the suite, `make test` runs every test.
# Both do all set-up on a fresh machine (venv, pinned install, code generation, migrations).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto')
GEN_STAMP := ipss/.generated
# The console's gettext catalogues, compiled from their .po files (the .mo files are not kept in git).
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard console/locale/*/LC_MESSAGES/messages.po))
BUF := .tools/node_modules/.bin/buf
# A real OpenID Connect provider for the console's sign-in test (tests/oidc/provider.mjs).
OIDC_PROVIDER := .tools/node_modules/oidc-provider/package.json

.PHONY: install gen run demo test lint-proto browser oidc-provider bench clean

install: $(STAMP) $(GEN_STAMP) $(CATALOGUES)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

# Python code (messages, gRPC stubs, type stubs) is generated from proto/, never edited.
$(GEN_STAMP): $(STAMP) $(PROTOS)
	rm -rf ipss
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m grpc_tools.protoc -I proto \
		--python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. $(PROTOS)
	touch $@

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

gen: $(GEN_STAMP) $(CATALOGUES)

run: install
	$(BIN)/ipss up

demo: install
	$(BIN)/ipss up --demo

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@1.75.0

$(OIDC_PROVIDER):
	npm install --silent --no-audit --no-fund --save-exact --prefix .tools oidc-provider@9.13.3

oidc-provider: $(OIDC_PROVIDER)

lint-proto: $(BUF)
	cd proto && ../$(BUF) lint

# The console's browser test drives Debian's Chromium (Playwright cannot download its own here),
# with a CJK font so that screenshots show the Chinese pages.
CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc

browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -f $(CJK_FONT) ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei; \
		else echo "need $(CHROMIUM): run as root, or apt-get install chromium fonts-wqy-microhei"; exit 1; fi; fi

test: install lint-proto browser oidc-provider
	$(BIN)/pytest

# Every benchmark once; writes bench/RESULTS.md and the README's table (ARGS='--only draw --quick').
bench: install
	$(BIN)/python -m bench.all $(ARGS)

clean:
	rm -rf $(VENV) ipss .tools var
