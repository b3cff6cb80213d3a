# The two commands a person needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
# -p 1: packages run one after another. Several packages start whole
# platforms (workers, sandbox, subprocesses); on a 2-core machine running
# them side by side only adds CPU starvation, not speed.
GOTEST_FLAGS ?= -race -count=1 -p 1 -timeout 25m

.PHONY: run test test-go test-frontend bench services build frontend vet fmt

## run: start PostgreSQL/Redis if needed, migrate, apply the demo tenants, start the Telegram sandbox and the platform
run:
	./deploy/dev/run.sh

## test: every Go test against real PostgreSQL and Redis, then the console's unit and browser tests
test: services vet test-go test-frontend

services:
	./deploy/dev/services.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test $(GOTEST_FLAGS) ./...

test-frontend:
	@if [ -f frontend/package.json ]; then ./deploy/dev/frontend.sh test; else echo "frontend: no package.json yet, skipped"; fi

## bench: benchmarks printing figures and ratios (never timed assertions)
bench: services
	./deploy/dev/bench.sh

build:
	@if [ -f frontend/package.json ]; then ./deploy/dev/frontend.sh build; fi
	$(GO) build -o bin/helpdesk ./cmd/helpdesk
	$(GO) build -o bin/tgsandbox ./cmd/tgsandbox

fmt:
	gofmt -w $$(git ls-files '*.go')
