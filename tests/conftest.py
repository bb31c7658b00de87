"""Makes the checkout importable as ansible_collections.privreg.registry.

scripts/env.sh does the same for the shell; this keeps a bare `pytest` run
from the checkout working too.
"""

import os
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COLLECTIONS = os.path.join(_ROOT, ".tmp", "collections")
_LINK = os.path.join(_COLLECTIONS, "ansible_collections", "privreg", "registry")

if not os.path.islink(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(_ROOT, _LINK)
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", _COLLECTIONS)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """pytest-xdist (--dist loadgroup) sends each xdist_group to one worker. A test that names no group
    (the shared deployments' tests name theirs: shared-<topology>) is grouped with its module, so that a
    module-scoped deployment is made once, on one worker. Unit tests stay free to spread."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None and "/tests/unit/" not in "/" + item.nodeid:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    # The workers take groups in collection order: the longest first, so that no long group starts
    # last on one worker while the others idle (a stable sort keeps each group's own order).
    items.sort(key=_longest_first)


# Groups by their seconds in a whole run (scripts/test.sh prints pytest's slowest tests), longest first;
# every other group after them, in collection order.
LONGEST_GROUPS = (
    "shared-nginx_proxy",
    "shared-native",
    "tests/functional/test_garbage_collection.py",
    "tests/functional/test_s3_redis_storage.py",
    "tests/functional/test_accounts_hardening.py",
    "tests/functional/test_access_rules.py",
    "tests/functional/test_upgrade_from_previous_release.py",
    "tests/functional/test_private_ca_backends.py",
    "tests/functional/test_nginx_template.py",
    "tests/functional/test_registry_htpasswd_module.py",
)


def _longest_first(item):
    mark = item.get_closest_marker("xdist_group")
    group = mark.args[0] if mark and mark.args else None
    return LONGEST_GROUPS.index(group) if group in LONGEST_GROUPS else len(LONGEST_GROUPS)


# Seconds per test module (setup, call and teardown of its tests, its fixtures included), printed at the
# end of the run: where the time of the suite goes, without --durations=0's thousand lines.
_MODULE_SECONDS = {}


def pytest_runtest_logreport(report):
    module = report.nodeid.split("::", 1)[0]
    _MODULE_SECONDS[module] = _MODULE_SECONDS.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _MODULE_SECONDS:
        return
    terminalreporter.section("seconds per test module")
    for module, seconds in sorted(_MODULE_SECONDS.items(), key=lambda entry: -entry[1]):
        terminalreporter.write_line("%8.1f  %s" % (seconds, module))
    terminalreporter.write_line("%8.1f  in all" % sum(_MODULE_SECONDS.values()))
