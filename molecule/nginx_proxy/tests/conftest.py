"""Fixtures for this scenario's tests (and custom_port's): molecule/shared/scenario.py and proxy_scenario.py."""

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1] / "shared"), str(HERE)]
from proxy_scenario import nginx, registry  # noqa: E402,F401  (pytest fixtures)  # pylint: disable=unused-import
from scenario import client, conf, endpoint, users  # noqa: E402,F401  (pytest fixtures)  # pylint: disable=unused-import
