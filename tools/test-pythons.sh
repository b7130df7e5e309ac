#!/usr/bin/env bash
# Run the unit tests on every other supported Python (3.11-3.13) that is
# installed beside the default one, each in its own virtual environment
# (.venv-3.12, .venv-3.13), and say which versions were skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
default_minor="$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
status=0
ran=()
skipped=()
find_python() {
    local v="$1" candidate
    for candidate in "python$v" ; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' >/dev/null 2>&1; then
            command -v "$candidate"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in "$(pyenv root)"/versions/"$v".*/bin/python"$v"; do
            [ -x "$candidate" ] && { echo "$candidate"; return 0; }
        done
    fi
    return 1
}
for v in 3.11 3.12 3.13; do
    [ "$v" = "$default_minor" ] && continue
    if ! py="$(find_python "$v")"; then
        skipped+=("$v (not installed)")
        continue
    fi
    venv=".venv-$v"
    stamp="$venv/.netlesson-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
        echo "== setting up $venv with $py"
        "$py" -m venv "$venv" && "$venv/bin/python" -m pip install -q --upgrade pip \
            && "$venv/bin/python" -m pip install -q -c constraints.txt -e '.[test]' && touch "$stamp" \
            || { echo "could not set up $venv"; status=1; skipped+=("$v (set-up failed)"); continue; }
    fi
    echo "== unit tests on Python $v ($py)"
    if "$venv/bin/python" -m pytest tests/unit -q -p no:cacheprovider; then
        ran+=("$v")
    else
        status=1
        ran+=("$v (FAILED)")
    fi
done
echo "== other Pythons: ran ${ran[*]:-none}; skipped ${skipped[*]:-none}"
exit $status
