"""``python -m agm``: the ``agm`` console script (:func:`agm.cli.main`)."""

from __future__ import annotations

import sys

from agm.cli import main

sys.exit(main())
