"""Models: the factorisations g(θ, x) = f(φ(θ), x) behind every conservation law.

The layer above ``algebra``, one module per family: ``base`` (``Model``, ``Block``), ``linear``,
``relu``, ``nmf``, ``icnn``, ``toy`` (the product toy), ``polynomial_model`` (a φ you type),
``blocks`` (the follow-up paper's attention, convolutions, softmax, residual and transformer blocks),
``model_file`` (your own model in YAML), ``jax_model`` (your own model as a JAX function,
``from_jax``) and ``registry`` (``make_model`` by name). Each model knows
its parameter blocks (named as the paper writes them), φ as exact polynomials, its forward map for
simulation and the laws the papers state for it. Nothing here counts or simulates: the ``engine``
and ``simulation`` layers import this one.
"""

from .base import (GEOMETRIES, Block, FunctionalSpan, Model, available_memory, check_dims, count_memory_estimate,
                   functional_span,
                   phi_jacobian, phi_jax, velocity_blocks, velocity_names)
from .blocks import (BLOCK_MODELS, MODEL_OPTIONS, RESIDUAL_PATTERNS, Attention, Conv1d, Conv2d, ConvNet, SoftmaxLayer,
                     ResidualReLU, TransformerBlock, conv_cooccurring_taps, conv_output_size, make_block_model)
from .icnn import ICNN, icnn_pre_activations
from .jax_model import JaxModel, UnsupportedPrimitive, from_jax
from .linear import LinearNet, linear_charges
from .model_file import FileModel, example_model_file, load_model_file
from .nmf import NMF, nmf_scalar_log_laws
from .polynomial_model import PolynomialModel
from .registry import MODEL_NAMES, _model_classes, bias_error, bias_models, make_model, random_architectures
from .relu import ReLUNet, neuron_rescalings, phi_invariant, rescaling_charge
from .toy import ProductToy
