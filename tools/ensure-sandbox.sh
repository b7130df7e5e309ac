#!/usr/bin/env bash
# Make sure bubblewrap's `bwrap` program exists: the grader runs student code in
# a bwrap sandbox (netlesson/grading/_sandbox.py).  As root on Debian/Ubuntu it
# installs the `bubblewrap` package; otherwise it stops with the exact command to run.
set -euo pipefail
if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing bubblewrap (the 'bwrap' program) with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq bubblewrap >/dev/null
    command -v bwrap >/dev/null && exit 0
fi
cat >&2 <<'MSG'
bubblewrap's `bwrap` program is missing; the grader runs student code in a bwrap sandbox.
Install it with one of:
    sudo apt-get install bubblewrap        # Debian, Ubuntu
    sudo dnf install bubblewrap            # Fedora, RHEL
    sudo pacman -S bubblewrap              # Arch
It also needs unprivileged user namespaces (on by default on most distributions;
on Ubuntu 23.10+ see kernel.apparmor_restrict_unprivileged_userns).
Without it, the grader can still run student code UNSANDBOXED if you pass
--allow-unsandboxed (student code then runs with your rights).
MSG
exit 1
