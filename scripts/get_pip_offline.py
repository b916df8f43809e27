"""Stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test bootstraps pip in each sanity venv with a get-pip.py it downloads from a host
this project's machines cannot reach; scripts/ansible-test.sh puts this file in that cache
slot instead. It installs the pip bundled with Python (ensurepip), then the pip version
ansible-test asked for, from the package index. ansible-test runs it with a filtered
environment, so the machine's pip settings (CA bundle, find-links) that scripts/ansible-test.sh
wrote below are copied into the venv's own pip.conf, where every later pip run finds them.
"""

import ensurepip
import os
import subprocess
import sys

PIP_CONF = ""  # filled in by scripts/ansible-test.sh


def main():
    if PIP_CONF:
        with open(os.path.join(sys.prefix, "pip.conf"), "w") as handle:
            handle.write(PIP_CONF)
    ensurepip.bootstrap(upgrade=True)
    # get-pip.py's own options (not pip's) choose whether setuptools and wheel come along.
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    env = dict(os.environ)
    env.pop("PIP_CONFIG_FILE", None)  # ensurepip points it at /dev/null; the venv's pip.conf must count
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args, env=env)


if __name__ == "__main__":
    main()
