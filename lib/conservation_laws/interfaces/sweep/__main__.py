"""``python -m conservation_laws.interfaces.sweep SPEC ...``: the same as ``conservation-laws sweep``,
through the command line's one error path."""

import sys

from ..cli import main

sys.exit(main(["sweep", *sys.argv[1:]]))
