"""``python -m bertedu ...``: the command line (see :mod:`bertedu.cli`)."""

import sys

from bertedu.cli import main

sys.exit(main())
