"""``python -m distill_lib`` is the ``distill-study`` command."""

import sys

from .cli import main

sys.exit(main())
