"""Stand-in for pypa's get-pip.py, which ansible-test downloads from a host the
test machines cannot reach. ansible-test runs it in a new, empty virtualenv
with pip's install arguments; this installs the pip that Python's ensurepip
carries, then runs `pip install` with those arguments (PyPI is reachable).
"""

import ensurepip
import subprocess
import sys

# get-pip.py's own switches, which pip install does not know
_GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap()
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + [arg for arg in sys.argv[1:] if arg not in _GET_PIP_ONLY]))
