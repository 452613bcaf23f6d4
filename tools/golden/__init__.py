"""Generate tapegrad's own golden reference cases (schema 1) into tests/golden/.

Each case is one ``.safetensors`` file in exactly the schema documented in
schema 1 (the contract shared with the public cases that ``GOLDEN_DIR``
points to; summarised in ``tests/golden/README.md``):

* ``__metadata__``: ``"op"``, ``"schema" = "1"``, the op's own keys
  (``"stride"``, ``"padding"``, ``"dilation"``, ``"kernel"``, pair-valued as
  ``"rows,cols"``) plus the informational ``"seed"`` and ``"generator"`` (and
  ``"mnist_t10k_indices"`` for ``lenet5``);
* layouts: activations NHWC ``[N,H,W,C]``, conv kernels ``[Cout,KH,KW,Cin]``,
  dense weights ``[In,Out]``; every float tensor is F64, ``labels`` is I64,
  scalar losses have shape ``[]``;
* ``gy`` is a random upstream gradient; ``gx``/``gw``/``gb``/``grad.<param>``
  are the vector-Jacobian products of ``gy`` (of the scalar loss for
  ``softmax_cross_entropy`` and ``lenet5``).

The cases complement the public ones, which only cover square kernels,
dilation 1, symmetric stride/padding, unpadded max pooling and avg pooling
with stride == kernel or stride 1: here there are dilated, non-square,
asymmetrically strided/padded convolutions, padded/overlapping/gapped pooling,
degenerate dense shapes, numerically extreme softmax logits and two more
LeNet-5 batches on real MNIST digits.

How the values are produced (as the contract describes):

* PyTorch on the CPU in float64, gradients by ``torch.autograd.grad``; the
  stored tensors are created in the schema's layouts and the NHWC -> NCHW /
  ``[Cout,KH,KW,Cin]`` -> ``[Cout,Cin,KH,KW]`` permutations are part of the
  autograd graph, so gradients come back in the stored layouts. ``lenet5``
  permutes ``[N,16,5,5]`` to NHWC before flattening.
* Random data from ``numpy.random.default_rng(seed)``, one fixed seed per case:
  ``x``, ``gy`` ~ N(0,1); conv/dense ``w`` ~ N(0,1)/sqrt(fan_in), ``b`` ~
  N(0, 0.5^2); softmax logits ``scale*N(0,1) + offset``; labels uniform.
  Max-pool inputs are redrawn until every window's top two real elements are
  at least 1e-6 apart (and, for padded cases, until some window touching the
  padding has a negative maximum, so zero-padding would be caught).
* ``lenet5``: parameters uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
  (PyTorch's default init); inputs are MNIST t10k digits with dequantization
  noise ``(byte + U[0,1)) / 256``, normalized ``(p - 0.1307) / 0.3081``; the
  noise is redrawn until every ReLU input has ``|v| >= 1e-6`` and every
  pooling window with a positive maximum has its top two pre-activations at
  least 1e-6 apart.

Independent cross-check: every file is read back with the ``safetensors``
library, and ``y`` plus every gradient is recomputed with naive numpy float64
loops written directly in the schema's layout (no PyTorch). Every element must
satisfy ``|numpy - torch| <= 1e-12 + 1e-10 * |torch|``; input positions that
no output reads must have a gradient of exactly 0. Any failure aborts with a
non-zero exit status.

Reproducibility: running the script twice gives byte-identical files. PyTorch
runs single-threaded, and the files are serialized here (metadata keys and
tensor names sorted) rather than by ``safetensors.numpy.save``, whose
metadata order follows a randomly seeded hash map; each written file is
checked to hold exactly what ``safetensors.numpy.save`` would have written,
up to that order.

Usage::

    pip install torch numpy safetensors
    python3 tools/make_golden.py [--out tests/golden] [--mnist-dir "$MNIST_DIR"]

The script also writes ``<out>/README.md`` with the table of cases and the
cross-check summary.
"""
