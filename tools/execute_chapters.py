"""Execute the book's chapters into Jupyter Book's execution cache, several at a time.

    .venv/bin/python tools/execute_chapters.py [--jobs N] [--fresh] [--all] [chapters/NN_name ...]

``make test`` and ``make book`` run this before ``jupyter-book build`` with ``execute_notebooks: cache``: every chapter
is executed once, here, with the parameters of its ``parameters`` cell (the book's full parameters),
``--jobs`` at a time (default: the cores this process may use), and stored in ``_build/.jupyter_cache``
exactly as myst-nb would store it (same cache, same notebook hash, same working directory: the
chapter's folder, where the chapters find the book's root by looking for ``_config.yml``). The build
then takes every chapter from the cache, so that nothing is executed twice; the build still fails
(``-W``) on any warning, and myst-nb re-executes a chapter whose source no longer matches its cached
run.

The pages whose notebook metadata asks for forced execution (``"mystnb": {"execution_mode": "force"}``:
the reproduction report and the provenance page, which summarise the other chapters' records) are
left to the build, which reads them after the chapters (sorted names); ``--all`` executes them here too,
after the others, one at a time, without caching them (to time them).

Without ``--fresh``, a chapter whose cached run matches its notebook is not executed again (``make
book``); ``--fresh`` first removes the cached runs of the chapters and executes them all (``make test``:
a test run reproduces every chapter instead of reusing an earlier run). The kernels run with
``CONSERVATION_LAWS_BOOK_BUILD=1``, as in the build (``tools/book_build_ext.py``), so that the
chapters' provenance records say "book build".

Order: longest first (from the times of the last run, ``_build/chapter_times.json``, else
``tools/chapter_times.json``), so that two workers finish together. Prints each chapter's time and
writes them to ``_build/chapter_times.json``. Exit status 1 if a chapter fails (its traceback is
printed), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
CACHE = BUILD / ".jupyter_cache"  # myst-nb's default: <outdir>/../.jupyter_cache
TIMES_OUT = BUILD / "chapter_times.json"
TIMES_DEFAULT = Path(__file__).with_name("chapter_times.json")
BOOK_BUILD_ENV = "CONSERVATION_LAWS_BOOK_BUILD"  # as in tools/book_build_ext.py


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The ``.ipynb`` documents of ``_toc.yml``, in reading order (``companion.provenance.toc_documents``)."""
    from companion.provenance import toc_documents

    paths = [root / f"{d}.ipynb" for d in toc_documents(root)]
    return [p for p in paths if p.exists()]


def forced(nb) -> bool:
    return nb.metadata.get("mystnb", {}).get("execution_mode") == "force"


def execute_settings(root: Path = ROOT) -> dict:
    """``timeout`` and ``allow_errors`` from ``_config.yml``'s ``execute`` section (myst-nb's defaults)."""
    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    execute = config.get("execute") or {}
    return {"timeout": execute.get("timeout", 30), "allow_errors": bool(execute.get("allow_errors", False))}


def _run(path: str, timeout: int, allow_errors: bool) -> tuple[str, object, float, str | None]:
    """Execute one notebook in its folder (a worker process): ``(path, executed nb, seconds, error)``."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=allow_errors,
                                 meta_override=True)
    return path, result.nb, result.time, result.exc_string if result.err is not None else None


def load_times() -> dict[str, float]:
    for path in (TIMES_OUT, TIMES_DEFAULT):
        try:
            return {k: float(v) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            continue
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="notebooks to execute (default: every chapter of _toc.yml)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                        help="chapters executed at a time (default: the usable cores)")
    parser.add_argument("--fresh", action="store_true", help="drop the cached runs of these chapters first")
    parser.add_argument("--all", action="store_true",
                        help="also execute the forced pages (report, provenance), after the others, uncached")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        print(f"execute_chapters: --jobs={args.jobs} is invalid: at least 1", file=sys.stderr)
        return 2
    paths = [Path(p).resolve() for p in args.chapters] or toc_notebooks()
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"execute_chapters: chapters={missing} is invalid: no such notebook", file=sys.stderr)
        return 2

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    settings = execute_settings()
    os.environ[BOOK_BUILD_ENV] = "1"  # inherited by the kernels
    BUILD.mkdir(exist_ok=True)
    cache = get_cache(str(CACHE))
    notebooks = {p: nbformat.read(p, as_version=4) for p in paths}
    cached = [p for p, nb in notebooks.items() if not forced(nb)]
    later = [p for p, nb in notebooks.items() if forced(nb)] if args.all else []
    for p in list(cached):
        try:
            record = cache.match_cache_notebook(notebooks[p])
        except KeyError:
            continue
        if args.fresh:
            cache.remove_cache(record.pk)
        else:
            cached.remove(p)  # its cached run matches the notebook: the build will use it
            print(f"{p.stem}: cached run {record.pk} matches, not executed", flush=True)
    times = load_times()
    cached.sort(key=lambda p: -times.get(p.stem, float("inf")))  # unknown chapters first, then longest first

    measured: dict[str, float] = {}
    failed: list[str] = []
    t0 = time.perf_counter()

    def done(path: str, nb, seconds: float, error: str | None, cache_it: bool) -> None:
        p = Path(path)
        measured[p.stem] = round(seconds, 1)
        if error is not None:
            failed.append(p.stem)
            print(f"{p.stem}: FAILED after {seconds:.0f} s\n{error}", flush=True)
            return
        if cache_it:
            cache.add_nb_to_project(str(p))
            cache.cache_notebook_bundle(CacheBundleIn(nb, str(p), data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
        print(f"{p.stem}: {seconds:.0f} s (at {time.perf_counter() - t0:.0f} s)", flush=True)

    if cached:
        with ProcessPoolExecutor(max_workers=min(args.jobs, len(cached)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:  # no forked cache DB
            futures = [pool.submit(_run, str(p), settings["timeout"], settings["allow_errors"]) for p in cached]
            for future in as_completed(futures):
                done(*future.result(), cache_it=True)
    for p in later:
        if failed:
            break
        done(*_run(str(p), settings["timeout"], settings["allow_errors"]), cache_it=False)

    previous = {}
    try:
        previous = json.loads(TIMES_OUT.read_text())
    except (OSError, ValueError):
        pass
    TIMES_OUT.write_text(json.dumps({**previous, **measured}, indent=1, sort_keys=True) + "\n")
    total = sum(measured.values())
    print(f"executed {len(measured)} notebooks with {args.jobs} jobs in {time.perf_counter() - t0:.0f} s "
          f"(their times add up to {total:.0f} s)" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
