"""laws.check_law on non-polynomial laws (simplify=True): the scalar-output NMF's logarithmic laws."""

import sympy

from conservation_laws import flows, make_model
from conservation_laws.engine import laws


def test_logarithmic_law_of_scalar_nmf():
    # φ = Σ_k U_k V_k under the mirror metric: d/dt log(V_k/U_k) = −a (U_k − V_k) for every k, so
    # log(V_0/U_0)/(U_0 − V_0) − log(V_1/U_1)/(U_1 − V_1) is a (non-polynomial) law.
    model = make_model("nmf", (1, 2, 1))
    family = flows.vector_fields(model, "gradient")
    B = model.symbolic_blocks()
    U, V = B["U"], B["V"]
    ell = [sympy.log(V[k, 0] / U[0, k]) / (U[0, k] - V[k, 0]) for k in range(2)]
    assert laws.check_law(ell[0] - ell[1], family, simplify=True)
    assert not laws.check_law(ell[0], family, simplify=True)
    # the polynomial path is unchanged
    assert all(laws.check_law(h, family) for h in model.paper_laws("gradient"))
    assert not laws.check_law(U[0, 0] ** 2 - V[0, 0] ** 2, family)


def test_linear_coefficients_of_the_column_sums():
    import numpy as np
    import pytest

    from conservation_laws.errors import ConservationLawsError

    model = make_model("nmf", (3, 2, 4))
    C, c = laws.linear_coefficients(model.paper_laws("gradient"), model.variable_names)
    assert C.shape == (2, model.D) and not c.any()
    theta = np.random.default_rng(0).uniform(size=model.D)
    B = model.unflatten(theta)
    assert np.allclose(C @ theta + c, B["U"].sum(axis=0) - B["V"].sum(axis=1))
    x, y = sympy.symbols("x y")
    C2, c2 = laws.linear_coefficients([2 * x - y + 3], ["x", "y"])
    assert C2.tolist() == [[2.0, -1.0]] and c2.tolist() == [3.0]
    with pytest.raises(ConservationLawsError):
        laws.linear_coefficients([x * y], ["x", "y"])
