"""``python -m distill_lib`` is the ``distill-study`` command."""

import sys

from .runner.cli import main

sys.exit(main())
