# salient — the one-command entry points. Each installs missing Debian packages first.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test test-asan test-torch bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(BUILD)/salient demo --out $(BUILD)/demo --force

test: build
	@scripts/deps.sh --test
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	@scripts/deps.sh --test
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSAL_SANITIZE=ON > /dev/null
	@cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 SAL_TEST_QUICK=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS)

# Full-size torchvision exports (tools/export_models.py --full, with PyTorch's float32 and float64
# results) run by `salient run` and judged by issue 3's criteria against PyTorch float32
# (tools/compare_models.py prints the table; docs/formats.md, "Agreement with PyTorch"), then by
# the plan API with the same rules (tests/test_onnx_models.c).
test-torch: build
	@scripts/deps.sh --torch-full
	@/usr/bin/python3 tools/export_models.py --full $(BUILD)/onnx-full
	@/usr/bin/python3 tools/compare_models.py --salient $(BUILD)/salient $(BUILD)/onnx-full
	@SAL_ONNX_MODELS=$(BUILD)/onnx-full $(BUILD)/test_onnx_models

bench: build
	@scripts/deps.sh --torch || echo "bench: PyTorch could not be installed; its column will be skipped"
	@bench/run_engine.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
