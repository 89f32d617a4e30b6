"""``make lab``: JupyterLab on the book's chapters, with the project's kernel, fully offline.

    .venv/bin/python tools/lab.py [--port 8888] [--kernel-prefix PREFIX] [extra jupyter-lab options]

1. Registers the project's kernel, "Python (conservation-laws)" (``ipykernel install --sys-prefix``
   unless ``--kernel-prefix`` names another prefix), so notebooks run with this environment.
2. Starts JupyterLab on the loopback interface only (127.0.0.1), opening ``chapters/``, with
   nothing fetched from the network: no update check, no news feed, a read-only extension manager
   (the default one queries PyPI).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL_NAME = "conservation-laws"
KERNEL_DISPLAY = "Python (conservation-laws)"

#: JupyterLab options that keep the server local and offline.
OFFLINE_OPTIONS = (
    "--ServerApp.ip=127.0.0.1",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.news_url=None",
    "--LabApp.extension_manager=readonly",
)


def register_kernel(prefix: str | None = None) -> None:
    """``python -m ipykernel install`` of this interpreter as the kernel ``conservation-laws``."""
    where = ["--prefix", prefix] if prefix else ["--sys-prefix"]
    out = subprocess.run([sys.executable, "-m", "ipykernel", "install", *where, "--name", KERNEL_NAME,
                          "--display-name", KERNEL_DISPLAY], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"could not register the kernel: {out.stderr.strip()}")


def lab_command(port: int | None = None, root: Path = ROOT, extra: list[str] | None = None) -> list[str]:
    """The ``jupyter lab`` command line: the book's root as the server's root, ``chapters/`` opened."""
    cmd = [sys.executable, "-m", "jupyterlab", *OFFLINE_OPTIONS, f"--ServerApp.root_dir={root}",
           "--LabApp.default_url=/lab/tree/chapters", f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}"]
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        cmd.append("--allow-root")
    return cmd + list(extra or [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="port (default: JupyterLab's, 8888 or the next free)")
    parser.add_argument("--kernel-prefix", default=None, help="install the kernel spec under this prefix")
    args, extra = parser.parse_known_args(argv)
    register_kernel(args.kernel_prefix)
    env = dict(os.environ)
    if args.kernel_prefix:
        share = str(Path(args.kernel_prefix) / "share" / "jupyter")
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in (share, env.get("JUPYTER_PATH")) if p)
    os.chdir(ROOT)
    os.execvpe(sys.executable, lab_command(args.port, ROOT, extra), env)


if __name__ == "__main__":
    sys.exit(main())
