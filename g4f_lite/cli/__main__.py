"""``python -m g4f_lite.cli``: the ``g4f-lite`` command."""

import sys

from . import main

sys.exit(main())
