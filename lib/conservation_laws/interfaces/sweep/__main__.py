"""``python -m conservation_laws.interfaces.sweep SPEC ...``."""

import sys

from .cli import main

sys.exit(main())
