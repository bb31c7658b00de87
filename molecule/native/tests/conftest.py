"""The shared scenario fixtures (molecule/shared/scenario.py) for this scenario's tests."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from scenario import client, conf, endpoint, users  # noqa: E402,F401  (pytest fixtures)  # pylint: disable=unused-import
