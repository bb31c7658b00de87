"""Fixtures of the tests on the test bed of scripts/testbed.sh: target hosts
reached over SSH as `deploy` with sudo, each with its own address, Docker
engine and filesystem.

The tests here need it up (scripts/testbed.sh build && scripts/testbed.sh up)
and are skipped otherwise (failed with PRIVREG_TESTBED_REQUIRED set, as
scripts/test.sh does); they are not in pytest.ini's testpaths: run them with
`pytest tests/remote`."""

import os
import subprocess
import time

import pytest
from testbed_hosts import NGINX_IMAGE, REGISTRY_IMAGE, TESTBED, TESTBED_DIR, Testbed


def _unavailable(reason):
    """Skipped, unless PRIVREG_TESTBED_REQUIRED is set (scripts/test.sh): then a failure."""
    if os.environ.get("PRIVREG_TESTBED_REQUIRED"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def testbed():
    """The test bed when every host answers over ssh with a Docker engine behind sudo."""
    inventory = os.path.join(TESTBED_DIR, "inventory.yml")
    if not os.path.exists(inventory):
        _unavailable("the test bed is not up: run scripts/testbed.sh build && scripts/testbed.sh up")
    done = subprocess.run([TESTBED, "status"], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        _unavailable("the test bed does not answer (%s): run scripts/testbed.sh up" % done.stderr.strip())
    return Testbed(inventory)


@pytest.fixture(scope="session")
def image_archives(testbed):
    """The local images and their `docker save` archives (scripts/testbed.sh up
    writes them), as the hosts can pull nothing."""
    archives = {"registry_image": REGISTRY_IMAGE, "nginx_image": NGINX_IMAGE}
    for key in ("registry", "nginx"):
        path = os.path.join(TESTBED_DIR, "images", "%s.tar" % key)
        if not os.path.exists(path):
            _unavailable("%s is missing: run scripts/testbed.sh up" % path)
        archives[key] = path
    return archives


_TIMINGS = []


@pytest.fixture(scope="session")
def timed():
    """timed(label, function, *args): runs it, keeps its seconds for the summary."""

    def run(label, function, *args, **kwargs):
        start = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            _TIMINGS.append((label, time.monotonic() - start))

    return run


def pytest_terminal_summary(terminalreporter):
    if _TIMINGS:
        terminalreporter.section("test bed timings")
        for label, seconds in _TIMINGS:
            terminalreporter.write_line("%6.1fs  %s" % (seconds, label))
