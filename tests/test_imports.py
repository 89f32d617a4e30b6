"""What importing the library costs: counting needs neither JAX nor matplotlib nor Dask, and the
simulation leaves the caller's JAX configuration as it found it. Each check runs in a fresh
interpreter, since this test process has imported everything already."""

import json
import subprocess
import sys

import pytest

HEAVY = ("jax", "matplotlib", "dask", "distributed", "companion")


def _modules_after(code: str) -> dict:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy(modules) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_the_check_sees_a_heavy_import():
    assert _heavy(_modules_after("import matplotlib")) != []


def test_import_conservation_laws_is_light():
    assert _heavy(_modules_after("import conservation_laws as cl\ncl.make_model('linear', [2, 2, 2])")) == []


@pytest.mark.parametrize("argv", [
    ["count", "--model", "linear", "--dims", "2,3,2", "--flow", "momentum", "--tau", "1"],
    ["laws", "--model", "nmf", "--dims", "2,2,2", "--degree", "1"],
])
def test_count_and_laws_through_the_cli_import_no_jax_matplotlib_or_dask(argv):
    code = ("import contextlib, io\nfrom conservation_laws.interfaces import cli\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    assert cli.main({argv!r}) == 0")
    assert _heavy(_modules_after(code)) == []


def test_count_and_polynomial_laws_from_python_import_no_jax():
    code = ("from conservation_laws.engine import laws, lie\n"
            "assert lie.count_laws('linear', 'gradient', dims=[2, 2, 2]).laws == 3\n"
            "assert laws.polynomial_laws(__import__('conservation_laws').make_model('nmf', [2, 2, 2]),"
            " degree=1).complete")
    assert _heavy(_modules_after(code)) == []


def test_simulation_keeps_float64_without_changing_the_callers_setting():
    code = """
import jax, jax.numpy as jnp, numpy as np
from conservation_laws.simulation import simulate
assert not jax.config.jax_enable_x64  # importing changed nothing
run = simulate.integrate(lambda t, y: -y, np.ones(2), 0.0, 1.0, 100)
assert run.y.dtype == np.float64
assert abs(run.y[-1, 0] - np.exp(-1.0)) < 1e-9  # RK4 with h = 0.01 in float64 (error ~ h^4)
assert not jax.config.jax_enable_x64 and jnp.zeros(1).dtype == jnp.float32  # the caller's setting
"""
    _modules_after(code)


def test_a_missing_extra_is_one_line_naming_it():
    from conservation_laws.errors import ConservationLawsError, require

    require("json", "sweep")  # present: nothing happens
    with pytest.raises(ConservationLawsError, match=r"pip install 'conservation-laws\[sweep\]'"):
        require("no_such_module_for_this_test", "sweep")
