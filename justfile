# Recipes for building, testing and demonstrating fashion-search.
# Run them with ./just RECIPE, which installs just itself when it is missing.

set shell := ["bash", "-euo", "pipefail", "-c"]

models := "efficientnet-lite0 efficientnet-lite1 efficientnet-lite2"
demo_index := "target/demo.fidx"

# List the recipes.
default:
    @./just --list

# Fetch and convert the EfficientNet-Lite weights into models/cache/.
setup:
    python3 models/fetch.py {{models}}

# Build the command-line tools in release mode.
build:
    cargo build --release --workspace --bins

# Index the demo catalogue in dataset/ and query it with the sample photos.
demo: setup build
    target/release/fashion-index build dataset --index {{demo_index}}
    for query in fixtures/queries/*.jpg; do \
        echo "== $query"; \
        target/release/fashion-query --index {{demo_index}} -k 5 "$query"; \
    done

# Run every test; model tests run optimised, so this is a release build.
test: setup
    cargo test --release --workspace

# Check formatting (rustfmt.toml) and lints; needs the rustfmt and clippy
# components of the toolchain.
lint:
    cargo fmt --all -- --check
    cargo clippy --release --workspace --all-targets -- -D warnings

# Time the embedders; see docs/benchmarks.md.
bench: setup build
    bench/run.sh

# Run the browser test of fashion-serve in headless Chromium; installs
# chromium and chromium-driver with apt-get when chromedriver is missing.
test-browser: setup
    if [ ! -x /usr/bin/chromedriver ]; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
    fi
    cargo test --release -p fashion-serve -- --ignored
