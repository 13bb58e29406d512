from __future__ import annotations

import sys

from integration_core.cli import main

sys.exit(main())
