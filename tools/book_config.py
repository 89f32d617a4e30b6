"""Print _config.yml with execution forced (used by `make test`: every chapter is re-executed)."""

import sys
from pathlib import Path

import yaml

mode = sys.argv[1] if len(sys.argv) > 1 else "force"
config = yaml.safe_load((Path(__file__).resolve().parents[1] / "_config.yml").read_text())
config.setdefault("execute", {})["execute_notebooks"] = mode
print(yaml.safe_dump(config, sort_keys=False))
