# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for ansible-test's get-pip bootstrap script, whose download host is unreachable here.

ansible-test runs ~/.ansible/test/cache/get_pip_<version>.py in-process to put pip into the
fresh venvs it creates (--venv and --local). This stand-in installs the interpreter's bundled
pip with ensurepip (no network), then the pip version ansible-test asked for from the
configured package index. ensurepip sets PIP_CONFIG_FILE=/dev/null in os.environ, which would
hide the machine's pip configuration from the follow-up install, so the environment is saved
first.
"""

import ensurepip
import os
import subprocess
import sys

environment = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
arguments = [argument for argument in sys.argv[1:] if argument not in ("--no-setuptools", "--no-wheel")]
if arguments:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + arguments, env=environment)
