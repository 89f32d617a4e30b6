"""tools/execute_chapters.py: what `make test` and `make book` execute before the build (the execution
itself is exercised by `make test`, whose build must find every chapter in the cache)."""

import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "execute_chapters.py"
sys.path.insert(0, str(TOOL.parent))
import execute_chapters  # noqa: E402


def test_the_notebooks_of_the_toc_in_reading_order():
    from test_chapters import CHAPTERS

    assert execute_chapters.toc_notebooks() == CHAPTERS


def test_forced_pages_are_left_to_the_build():
    """The pages that summarise the others force their execution in the build; no chapter does."""
    forced = [p.stem for p in execute_chapters.toc_notebooks()
              if execute_chapters.forced(nbformat.read(p, as_version=4))]
    assert forced == ["90_report", "99_provenance"]
    # Sphinx reads documents in sorted docname order (chapters/..., then the root page intro): the
    # forced pages run after every chapter; a page read after them (the landing page) is not forced,
    # so tools/execute_chapters.py has executed it before the build starts
    docs = sorted(p.relative_to(ROOT).with_suffix("").as_posix() for p in execute_chapters.toc_notebooks())
    chapters = [d for d in docs if d.startswith("chapters/")]
    assert [Path(d).name for d in chapters[-len(forced):]] == forced
    after = docs[docs.index(chapters[-1]) + 1:]
    assert not [d for d in after if execute_chapters.forced(nbformat.read(ROOT / f"{d}.ipynb", as_version=4))]


def test_settings_come_from_the_config():
    import yaml

    execute = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]
    assert execute_chapters.execute_settings() == {"timeout": execute["timeout"],
                                                  "allow_errors": bool(execute["allow_errors"])}


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    for argv in (["--jobs", "0"], [str(tmp_path / "missing.ipynb")]):
        out = subprocess.run([sys.executable, str(TOOL), *argv], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out
        assert out.stderr.count("\n") == 1 and "is invalid" in out.stderr and "Traceback" not in out.stderr
