"""``python -m vlab.cli``: the same as the ``vlab`` command."""

import sys

from vlab.cli import main

sys.exit(main())
