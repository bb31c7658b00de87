"""Fixtures for this scenario's tests and for nginx_proxy's client tests, which run here too."""

import pathlib
import sys

MOLECULE = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(MOLECULE / "shared"), str(MOLECULE / "nginx_proxy" / "tests")]
from proxy_scenario import nginx, registry  # noqa: E402,F401  (pytest fixtures)  # pylint: disable=unused-import
from scenario import client, conf, endpoint, users  # noqa: E402,F401  (pytest fixtures)  # pylint: disable=unused-import
