#!/usr/bin/env bash
# ansible-test sanity on a copy of the tracked tree placed where ansible-test
# wants a collection: .../ansible_collections/privreg/registry (a symlink is
# resolved away by ansible-test, hence the copy). ansible-test runs from a
# virtualenv of its own (.tmp/sanity-venv, the ansible-core of .venv) and,
# with --requirements, makes one virtualenv per test under
# ~/.ansible/test/venv with the versions it pins (kept: later runs reuse them).
# It bootstraps pip in each with a get-pip script from a host the test
# machines cannot reach; scripts/lib/get_pip_offline.py stands in for it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname "$0")/env.sh"
cd "$PRIVREG_ROOT"
# ansible-test skips its shellcheck test, with a mere warning, without it
if ! command -v shellcheck >/dev/null; then
    echo "sanity: shellcheck is missing (Debian package shellcheck, see scripts/install-packages.sh)" >&2
    exit 1
fi
SANITY_VENV="$PRIVREG_ROOT/.tmp/sanity-venv"
CORE_VERSION="$(python -c 'import ansible.release; print(ansible.release.__version__)')"
if ! "$SANITY_VENV/bin/python" -c "import sys, ansible.release; sys.exit(ansible.release.__version__ != '$CORE_VERSION')" 2>/dev/null; then
    python -m venv "$SANITY_VENV"
    "$SANITY_VENV/bin/pip" install --quiet --disable-pip-version-check "ansible-core==$CORE_VERSION"
fi
PIP_VERSION="$("$SANITY_VENV/bin/python" -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; import types; print(g(types.SimpleNamespace(version="3"))["pip"])')"
BOOTSTRAP="$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py"
mkdir -p "$(dirname "$BOOTSTRAP")"
cp "$PRIVREG_ROOT/scripts/lib/get_pip_offline.py" "$BOOTSTRAP"
# ansible-test runs pip with HOME, PATH and LC_ALL only: the CA bundle of a
# TLS-intercepting proxy or an index mirror reaches it through pip's
# configuration files (/etc/pip.conf), never through PIP_* variables.
stripped_pip_config="$(env -i HOME="$HOME" PATH="$PATH" "$SANITY_VENV/bin/pip" config list 2>/dev/null || true)"
for var in PIP_CERT PIP_INDEX_URL; do
    key="$(tr 'A-Z_' 'a-z-' <<<"${var#PIP_}")"
    if [ -n "${!var:-}" ] && ! grep -q "\.$key=" <<<"$stripped_pip_config"; then
        echo "WARNING: $var is set but no pip configuration file sets $key: ansible-test's pip will not see it (set it in /etc/pip.conf)" >&2
    fi
done
PY="$("$SANITY_VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
# outside the checkout: inside it, ansible-test asks git, which ignores .tmp/;
# one folder per run, so that runs side by side do not share a copy
WORK="$(mktemp -d "${TMPDIR:-/tmp}/privreg-sanity.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
DEST="$WORK/ansible_collections/privreg/registry"
mkdir -p "$DEST"
# tracked files plus new ones not ignored: what the next commit would hold
# (a tracked file deleted in the work tree is left out)
git ls-files --cached --others --exclude-standard -z \
    | while IFS= read -r -d '' file; do if [ -e "$file" ]; then printf '%s\0' "$file"; fi; done \
    | xargs -0 cp --parents -t "$DEST"
cd "$DEST"
"$SANITY_VENV/bin/ansible-test" sanity --requirements --python "$PY" --color no "$@"
