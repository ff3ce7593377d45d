"""Models beyond NCA, each built from engine operations with no derivative code.

* :mod:`.autoencoder` — :class:`LinearAutoencoder`, tied or untied, and its
  relation to PCA.
* :mod:`.reduction` — :class:`LinearReduction`: the layer Z = XA composed with
  any differentiable loss of Z.

The estimators import scikit-learn, so this package imports nothing itself:
reach them as ``tinygrad_nca.LinearAutoencoder`` / ``tinygrad_nca.LinearReduction``
(loaded on first use) or from their modules.
"""

__all__: list[str] = []  # nothing here: the estimators live in the submodules
