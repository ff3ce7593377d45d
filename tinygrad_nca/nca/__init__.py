"""Neighbourhood Components Analysis built on the engine.

``loss`` (the objective from engine operations) and ``reference`` (the paper's
closed-form gradient, for tests) import NumPy only. The scikit-learn estimator
lives in ``estimator`` and is imported on first use, through the package's
lazy names (``tinygrad_nca.NeighborhoodComponentsAnalysis``).
"""

from .loss import encode_labels, nca_loss

__all__ = ["nca_loss", "encode_labels"]
