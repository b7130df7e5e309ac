#!/usr/bin/env bash
# Make sure Graphviz's `dot` program exists: the class diagrams need it.
# As root on Debian/Ubuntu it installs the `graphviz` package; otherwise it
# stops with the exact command to run.
set -euo pipefail
if command -v dot >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Graphviz (the 'dot' program) with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq graphviz >/dev/null
    command -v dot >/dev/null && exit 0
fi
cat >&2 <<'MSG'
Graphviz's `dot` program is missing; the course draws its class diagrams with it.
Install it with one of:
    sudo apt-get install graphviz          # Debian, Ubuntu
    brew install graphviz                  # macOS (Homebrew)
    conda install -c conda-forge graphviz  # conda / mamba
then run the make command again.
MSG
exit 1
