"""Stand-in for pypa's get-pip.py, which ansible-test downloads from a host the
test machines cannot reach. ansible-test runs it in a new, empty virtualenv
with pip's install arguments; this installs the pip that Python's ensurepip
carries, then runs `pip install` with those arguments (PyPI is reachable).

ensurepip.bootstrap() drops every PIP_* variable from os.environ and sets
PIP_CONFIG_FILE=/dev/null (bpo-19734, bpo-20053), so the pip install after it
must run with the environment as it was before, or it loses the pip
configuration (the CA bundle of a TLS-intercepting proxy, an index mirror).
"""

import ensurepip
import os
import subprocess
import sys

# get-pip.py's own switches, which pip install does not know
_GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

environment = dict(os.environ)
ensurepip.bootstrap()
sys.exit(
    subprocess.call(  # noqa: S603 - this interpreter running pip with ansible-test's arguments
        [sys.executable, "-m", "pip", "install"] + [arg for arg in sys.argv[1:] if arg not in _GET_PIP_ONLY],
        env=environment,
    )
)
