"""Models: the factorisations g(θ, x) = f(φ(θ), x) behind every conservation law.

The layer above ``algebra``: each model knows its parameter blocks (named as the paper writes them),
φ as exact polynomials, its forward map for simulation and the laws the papers state for it.
Nothing here counts or simulates (that is ``engine`` and ``simulation``, which import this layer).
"""

from .base import (BLOCK_MODELS, GEOMETRIES, MAX_PARAMETERS, MODEL_NAMES, MODEL_OPTIONS, RESIDUAL_PATTERNS, ICNN,
                   NMF, Attention, Block, Conv1d, Conv2d, ConvNet, FunctionalSpan, LinearNet, Model,
                   PolynomialModel, ProductToy, ReLUNet, ResidualReLU, SoftmaxLayer, TransformerBlock,
                   _model_classes, bias_error, bias_models, check_dims, conv_cooccurring_taps, conv_output_size,
                   exhibited_laws, functional_span, icnn_pre_activations, linear_charges, make_block_model,
                   make_model, neuron_rescalings, nmf_scalar_log_laws, phi_invariant, phi_jacobian, phi_jax,
                   random_architectures, rescaling_charge, velocity_blocks, velocity_names)
