"""``python -m conservation_laws.sweep SPEC ...``."""

import sys

from .cli import main

sys.exit(main())
