# flowcast: the commands a newcomer needs. `make demo` and `make test` install what is missing
# (Debian 12, apt), build, and run.
PRESET ?= release
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all bootstrap configure build test unit demo bench format format-check debug asan clean help

all: build

help:
	@echo "make demo     install, build, run the live taxi pipeline (Ctrl-C to stop)"
	@echo "make test     install, build, run every test"
	@echo "make build    build (PRESET=release|debug|asan)"
	@echo "make unit     run only the unit tests"
	@echo "make bench    run the benchmarks (see docs/BENCHMARKS.md)"
	@echo "make format   clang-format the sources"

bootstrap:
	@scripts/bootstrap

$(BUILD)/CMakeCache.txt:
	cmake --preset $(PRESET)

configure: bootstrap $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && $(CURDIR)/scripts/with-postgres ctest --output-on-failure --timeout 600 -j$(JOBS) $(CTEST_ARGS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j$(JOBS)

# A fresh demo each time: the taxi pipeline from an empty bus and store.
demo: build
	rm -rf .flowcast/taxi
	$(BUILD)/flowcast run examples/taxi.yaml

bench: build
	$(BUILD)/bench/bus_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true

format:
	find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

format-check:
	find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run --Werror

debug:
	$(MAKE) build PRESET=debug

asan:
	$(MAKE) test PRESET=asan

clean:
	rm -rf build
