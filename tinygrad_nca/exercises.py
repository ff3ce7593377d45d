"""The course exercises as code: each function computes the numbers a tutorial prints.

1. :func:`knn_loo_exercise` — the k-NN leave-one-out error is piecewise
   constant in A, so its derivative is zero almost everywhere.
2. :func:`semicircle_autoencoders` — which half of an autoencoder must be
   non-linear to reconstruct a curve.
3. :func:`parameter_tying_exercise` and :func:`tied_autoencoder_vs_pca` —
   tying as gradient accumulation; the tied linear autoencoder finds PCA's
   subspace but not PCA's basis.
4. :func:`nca_as_reduction_layer` — NCA is the reduction layer Z = XA followed
   by a classifier loss of Z.

Nothing here prints; every function returns a dict of plain results. Models
are built from engine operations only. SciPy and scikit-learn are imported
inside the functions that need them.
"""

from __future__ import annotations

import numpy as np

from . import ops as tg
from .optim import minimize
from .tensor import as_tensor, primitive, value_of
from .transforms import grad, value_and_grad
from .validation import check_int, check_real

__all__ = [
    "two_feature_data",
    "loo_1nn_error",
    "knn_loo_exercise",
    "semicircle",
    "semicircle_autoencoders",
    "parameter_tying_exercise",
    "tied_autoencoder_vs_pca",
    "nca_classifier_loss",
    "nca_as_reduction_layer",
]


def _check_labels(y, n_rows, what):
    """y as an array of one label per row of ``what``, or a ValueError saying what differs."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_rows:
        raise ValueError(
            f"y must hold one label per row of {what}: expected shape ({n_rows},), got {y.shape}"
        )
    return y


def _pairwise_sq_distances(Z):
    """d_ij = ‖z_i − z_j‖², by broadcasting z_i − z_j (N × N × K) as written."""
    n, k = Z.shape
    diff = tg.reshape(Z, (n, 1, k)) - tg.reshape(Z, (1, n, k))
    return tg.sum(diff * diff, axis=2)


# ------------------------------------------------------------------ exercise 1: k-NN LOO error
@primitive(name="step", flops=lambda ans, x: x.size)
def _step(x):
    """Heaviside step H(x): 1 for x > 0, 0 for x < 0, ½ at 0 (a tie)."""
    return np.where(x > 0, 1.0, np.where(x < 0, 0.0, 0.5)).astype(x.dtype)


# H'(x) = 0 for every x ≠ 0; at x = 0 the derivative does not exist.
_step.defvjp(lambda g, ans, x: g * 0.0)


def two_feature_data(n=40, noise=10.0, seed=0):
    """A 2-D two-class set where feature 1 separates the classes and feature 0 is noise.

    For i = 0, …, n − 1 the class is y = i mod 2 and

        x₀ ~ N(0, noise²)  (irrelevant, large),   x₁ = y + N(0, 0.1²)  (informative).

    Euclidean distances are dominated by x₀, so 1-NN errs often; dropping x₀
    (the map A = [[0, 0], [0, 1]]) separates the classes. The data set of
    exercise 1 (:func:`knn_loo_exercise`).

    Parameters
    ----------
    n : int, default 40
        Number of points (classes alternate, so they are balanced).
    noise : float, default 10.0
        Standard deviation of the irrelevant feature x₀.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    X : ndarray of shape (n, 2)
    y : ndarray of shape (n,), int, values 0 and 1

    Examples
    --------
    >>> X, y = two_feature_data(n=40)
    >>> X.shape, y[:6].tolist()
    ((40, 2), [0, 1, 0, 1, 0, 1])
    >>> float(loo_1nn_error(np.eye(2), X, y)) > 0.2          # Euclidean 1-NN errs
    True
    >>> float(loo_1nn_error(np.diag([0.0, 1.0]), X, y))      # feature 0 dropped
    0.0
    """
    check_int("n", n, 2)  # both classes
    check_real("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = np.column_stack([noise * rng.normal(size=n), y + 0.1 * rng.normal(size=n)])
    return X, y


def loo_1nn_error(A, X, y):
    r"""Leave-one-out error of the 1-nearest-neighbour rule in the space z = Ax.

    Built from engine operations so that the chain rule can be followed:

        d_ij = ‖A(x_i − x_j)‖²,
        m_i⁺ = min_{j≠i, y_j = y_i} d_ij,    m_i⁻ = min_{j: y_j ≠ y_i} d_ij,
        err(A) = (1/N) Σ_i H(m_i⁺ − m_i⁻),

    where H is the Heaviside step (½ for a tie): point i is misclassified when
    its nearest classmate is farther than its nearest point of another class.
    The margins m_i⁺ − m_i⁻ are differentiable almost everywhere and have a
    non-zero gradient, but H'(x) = 0 for x ≠ 0, so every path from A to the
    error is multiplied by zero: ∂err/∂A = 0 wherever it exists. A small change
    of A changes no neighbour ranking, so the error does not move at all.

    Parameters
    ----------
    A : array_like or Tensor of shape (K, D)
        The linear map.
    X : ndarray of shape (N, D)
    y : array_like of shape (N,)
        Class labels.

    Returns
    -------
    Tensor
        A scalar: the fraction of points misclassified, in [0, 1].

    Raises
    ------
    ValueError
        If ``A`` or ``X`` contains NaN or inf, or ``y`` has not one label per
        row of ``X``.

    Examples
    --------
    Four points; feature 0 is large and says nothing about the class:

    >>> import numpy as np
    >>> X, y = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 0.0], [5.0, 1.0]]), np.array([0, 1, 0, 1])
    >>> float(loo_1nn_error(np.eye(2), X, y)), float(loo_1nn_error(np.diag([0.0, 1.0]), X, y))
    (1.0, 0.0)
    """
    A = as_tensor(A)
    y = _check_labels(y, np.shape(X)[0], "X")
    # NaN distances would make every comparison false and count each point as half a mistake
    for name, value in (("A", A.value), ("X", value_of(X))):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} contains NaN or inf")
    Z = tg.matmul(X, tg.transpose(A))
    d = _pairwise_sq_distances(Z)
    others = ~np.eye(len(y), dtype=bool)
    same = (y[:, None] == y[None, :]) & others
    different = y[:, None] != y[None, :]
    # Pairs outside a mask get an infinite distance: they are never the minimum.
    m_same = tg.min(tg.where(same, d, np.inf), axis=1)
    m_other = tg.min(tg.where(different, d, np.inf), axis=1)
    return tg.mean(_step(m_same - m_other))


def knn_loo_exercise(n=40, noise=10.0, seed=0, eps=1e-6, n_path=201):
    """Exercise 1: the 1-NN leave-one-out error is a step function of A.

    On :func:`two_feature_data`, evaluates the LOO error at A = I (Euclidean)
    and at A = [[0, 0], [0, 1]] (feature 0 dropped), the engine's gradient and
    a central finite-difference gradient of the error at A = I (both zero),
    the gradient of the summed margins Σ_i (m_i⁺ − m_i⁻) (not zero: the
    distances do respond to A, the count of mistakes does not), and the error
    along the path A(t) = diag(1 − t, 1), t ∈ [0, 1]: flat pieces and jumps.

    Parameters
    ----------
    n, noise, seed
        Passed to :func:`two_feature_data`.
    eps : float, default 1e-6
        Step of the central finite differences.
    n_path : int, default 201
        Number of points t on the path.

    Returns
    -------
    dict
        With keys ``X``, ``y``, ``error_identity``, ``error_dropped``,
        ``engine_gradient``, ``finite_difference_gradient``,
        ``margin_gradient`` (each gradient of shape (2, 2)), ``path_t`` and
        ``path_error`` (arrays of ``n_path`` values).

    Examples
    --------
    >>> r = knn_loo_exercise(n=20, n_path=11)
    >>> r["error_identity"] > r["error_dropped"] == 0.0        # dropping x₀ helps...
    True
    >>> float(np.max(np.abs(r["engine_gradient"])))              # ...but no gradient says so
    0.0
    >>> float(np.max(np.abs(r["finite_difference_gradient"])))   # (and the engine is right)
    0.0
    >>> bool(np.max(np.abs(r["margin_gradient"])) > 1.0)         # the distances do respond
    True
    >>> float(r["path_error"][0]) == r["error_identity"], float(r["path_error"][-1])
    (True, 0.0)
    """
    check_real("eps", eps, 0.0, low_open=True)
    check_int("n_path", n_path, 0)
    X, y = two_feature_data(n, noise, seed)
    identity, dropped = np.eye(2), np.array([[0.0, 0.0], [0.0, 1.0]])
    error = lambda A: float(value_of(loo_1nn_error(A, X, y)))
    value, engine_gradient = value_and_grad(lambda A: loo_1nn_error(A, X, y))(identity)
    fd = np.zeros_like(identity)
    for index in np.ndindex(identity.shape):
        step = np.zeros_like(identity)
        step[index] = eps
        fd[index] = (error(identity + step) - error(identity - step)) / (2 * eps)

    def summed_margins(A):
        Z = tg.matmul(X, tg.transpose(A))
        d = _pairwise_sq_distances(Z)
        same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
        return tg.sum(
            tg.min(tg.where(same, d, np.inf), axis=1)
            - tg.min(tg.where(y[:, None] != y[None, :], d, np.inf), axis=1)
        )

    t = np.linspace(0.0, 1.0, n_path)
    return {
        "X": X,
        "y": y,
        "error_identity": float(value),
        "error_dropped": error(dropped),
        "engine_gradient": engine_gradient,
        "finite_difference_gradient": fd,
        "margin_gradient": grad(summed_margins)(identity),
        "path_t": t,
        "path_error": np.array([error(np.diag([1.0 - s, 1.0])) for s in t]),
    }


# ------------------------------------------------------------------ exercise 2: the semicircle
def semicircle(n=100, seed=0):
    """Points on the upper half of the unit circle: x₁ ~ U[−1, 1], x₂ = √(1 − x₁²).

    A curve in 2-D whose points are determined by one number (x₁): the data
    of exercise 2 (:func:`semicircle_autoencoders`).

    Parameters
    ----------
    n : int, default 100
        Number of points.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray of shape (n, 2)

    Examples
    --------
    >>> X = semicircle(5)
    >>> X.shape, bool(np.allclose(np.hypot(X[:, 0], X[:, 1]), 1.0)), bool(np.all(X[:, 1] >= 0))
    ((5, 2), True, True)
    """
    check_int("n", n, 0)
    x1 = np.random.default_rng(seed).uniform(-1.0, 1.0, size=n)
    return np.column_stack([x1, np.sqrt(1.0 - x1**2)])


def _affine(x, W, b):
    return x @ W + b


def _mlp(x, W1, b1, W2, b2):
    """One hidden tanh layer: tanh(x W1 + b1) W2 + b2."""
    return _affine(tg.tanh(_affine(x, W1, b1)), W2, b2)


def _init_affine(rng, n_in, n_out):
    return [rng.normal(scale=1 / np.sqrt(n_in), size=(n_in, n_out)), np.zeros(n_out)]


def semicircle_autoencoders(n=60, hidden=8, seed=0, max_iter=300):
    r"""Exercise 2: three K = 1 autoencoders of the semicircle.

    Code h ∈ ℝ, reconstruction x̂ ∈ ℝ², error E = (1/N) Σ_n ‖x̂_n − x_n‖².

    * "linear": h = xw + b, x̂ = h d + c. Every reconstruction lies on one line,
      so the best it can do is PCA's: project onto the first principal axis.
    * "linear_encoder_mlp_decoder": h = xw + b, x̂ = tanh(h W₁ + b₁) W₂ + b₂.
      x₁ alone determines the point (x₂ = √(1 − x₁²)), so a linear code
      suffices and the decoder can bend the line into the arc.
    * "mlp_encoder_linear_decoder": h = tanh(x V₁ + c₁) V₂ + c₂, x̂ = h d + c.
      However clever the code, a linear decoder puts x̂ on a line: E can be no
      lower than PCA's (a line's best is the orthogonal projection).

    Each is fitted with L-BFGS from a seeded random start.

    Parameters
    ----------
    n : int, default 60
        Number of points of :func:`semicircle`.
    hidden : int, default 8
        Number of tanh units of the non-linear halves.
    seed : int, default 0
        Seed of the data and of the initial weights.
    max_iter : int, default 300
        L-BFGS iterations at most, per model.

    Returns
    -------
    dict
        With keys ``X``, ``pca_error`` (E of the best line: the smaller
        eigenvalue of the covariance matrix, the variance the line leaves
        out), one key per model, ``linear``, ``linear_encoder_mlp_decoder``,
        ``mlp_encoder_linear_decoder`` (its E), and ``reconstructions`` (a
        dict of x̂ per model).

    Examples
    --------
    Small sizes, so that it runs in a fraction of a second:

    >>> r = semicircle_autoencoders(n=10, hidden=3, max_iter=30)
    >>> round(r["linear"] / r["pca_error"], 4)             # the linear one is PCA
    1.0
    >>> r["linear_encoder_mlp_decoder"] < 0.1 * r["pca_error"]       # bends the line
    True
    >>> r["mlp_encoder_linear_decoder"] >= r["pca_error"] - 1e-12    # cannot beat a line
    True
    """
    check_int("n", n, 2)  # a covariance needs two points
    check_int("hidden", hidden, 1)
    X = semicircle(n, seed)
    rng = np.random.default_rng(seed)
    covariance = np.cov(X, rowvar=False, bias=True)
    pca_error = float(np.linalg.eigvalsh(covariance)[0])  # variance left off the best line

    models = {
        "linear": (
            lambda X, p: _affine(_affine(X, p[0], p[1]), p[2], p[3]),
            _init_affine(rng, 2, 1) + _init_affine(rng, 1, 2),
        ),
        "linear_encoder_mlp_decoder": (
            lambda X, p: _mlp(_affine(X, p[0], p[1]), *p[2:]),
            _init_affine(rng, 2, 1) + _init_affine(rng, 1, hidden) + _init_affine(rng, hidden, 2),
        ),
        "mlp_encoder_linear_decoder": (
            lambda X, p: _affine(_mlp(X, *p[:4]), p[4], p[5]),
            _init_affine(rng, 2, hidden) + _init_affine(rng, hidden, 1) + _init_affine(rng, 1, 2),
        ),
    }
    results = {"X": X, "pca_error": pca_error, "reconstructions": {}}
    for name, (reconstruct, params) in models.items():
        loss = lambda p, X, reconstruct=reconstruct: tg.mean(
            tg.sum((reconstruct(X, p) - X) ** 2, axis=1)
        )
        fitted = minimize(loss, tuple(params), args=(X,), max_iter=max_iter, tol=1e-9).x
        results[name] = float(value_of(loss(fitted, X)))
        results["reconstructions"][name] = value_of(reconstruct(X, fitted))
    return results


# ------------------------------------------------------------------ exercise 3: tying and PCA
def parameter_tying_exercise(n=30, n_features=5, n_components=2, seed=0):
    r"""Exercise 3a: a tied parameter's gradient is the sum over its uses.

    E(W⁽¹⁾, W⁽²⁾) = Σ (X W⁽¹⁾ᵀ W⁽²⁾ᵀ − X)². The tied model evaluates the same
    function at W⁽¹⁾ = Uᵀ, W⁽²⁾ = U; the engine accumulates the two cotangents
    reaching U, so Ū = W̄⁽¹⁾ᵀ + W̄⁽²⁾ without any code for it. Here the
    untied gradients are computed separately at (Uᵀ, U) and compared.

    Parameters
    ----------
    n : int, default 30
        Number of random points X (N × D).
    n_features : int, default 5
        D.
    n_components : int, default 2
        K, the code size: U is D × K.
    seed : int, default 0
        Seed of X and U.

    Returns
    -------
    dict
        With keys ``tied_gradient`` (Ū), ``encoder_gradient`` (W̄⁽¹⁾),
        ``decoder_gradient`` (W̄⁽²⁾), ``max_abs_difference`` (‖Ū − (W̄⁽¹⁾ᵀ + W̄⁽²⁾)‖_max,
        rounding error) and ``decoder_only_difference`` (‖Ū − W̄⁽²⁾‖_max, not small:
        either use alone is not the tied gradient).

    Examples
    --------
    >>> r = parameter_tying_exercise()
    >>> r["tied_gradient"].shape, r["encoder_gradient"].shape
    ((5, 2), (2, 5))
    >>> r["max_abs_difference"] < 1e-9, r["decoder_only_difference"] > 1.0
    (True, True)
    """
    from .models.autoencoder import reconstruction_error, tied_reconstruction_error

    for name, value in (("n", n), ("n_features", n_features), ("n_components", n_components)):
        check_int(name, value, 1)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    U = rng.normal(size=(n_features, n_components))
    tied = grad(tied_reconstruction_error)(U, X)
    W1_bar, W2_bar = grad(reconstruction_error, argnums=(0, 1))(U.T.copy(), U.copy(), X)
    return {
        "tied_gradient": tied,
        "encoder_gradient": W1_bar,
        "decoder_gradient": W2_bar,
        "max_abs_difference": float(np.max(np.abs(tied - (W1_bar.T + W2_bar)))),
        "decoder_only_difference": float(np.max(np.abs(tied - W2_bar))),
    }


def tied_autoencoder_vs_pca(X=None, n_components=2, random_state=0):
    r"""Exercise 3b: the tied linear autoencoder learns PCA's subspace, not PCA's basis.

    With V (D × K) the top principal directions and U the fitted tied weights:

    * both reconstruct with the same error, since E(U) is minimised exactly by
      the orthogonal projections onto the top-K subspace;
    * the principal angles between span(U) and span(V) are zero;
    * E(UQ) = E(U) for every orthogonal Q (UQ Qᵀ Uᵀ = U Uᵀ), so the fit lands
      on some U = VQ: Q = VᵀU is orthogonal, but generally not the identity,
      nor a signed permutation (PCA's axes up to sign and order).

    ``X`` defaults to 80 points in 6-D with distinct variances. Returns a dict
    with ``autoencoder_error``, ``pca_error`` (both Σ ‖x̂ − x‖² on centred data),
    ``relative_gap``, ``principal_angles`` (radians), ``U``, ``V``, ``Q``,
    ``orthogonality_error`` (‖QᵀQ − I‖_max) and ``distance_from_signed_permutation``
    (1 − min_i max_j |Q_ij|: 0 exactly when the orthogonal Q is a signed permutation).

    Parameters
    ----------
    X : array_like of shape (N, D), optional
        The data; centred here before both fits.
    n_components : int, default 2
        K.
    random_state : int, default 0
        Seed of the autoencoder's initial weights.

    Examples
    --------
    >>> r = tied_autoencoder_vs_pca()
    >>> abs(r["relative_gap"]) < 1e-6                  # the same reconstruction error
    True
    >>> bool(np.max(r["principal_angles"]) < 1e-4)     # the same subspace
    True
    >>> r["orthogonality_error"] < 1e-6                # Q = VᵀU is orthogonal...
    True
    >>> r["distance_from_signed_permutation"] > 0.01   # ...but U is not PCA's basis
    True
    """
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA

    from .models.autoencoder import LinearAutoencoder

    if X is None:
        rng = np.random.default_rng(0)
        rotation = np.linalg.qr(rng.normal(size=(6, 6)))[0]
        X = rng.normal(size=(80, 6)) * [3.0, 2.0, 1.5, 1.0, 0.5, 0.2] @ rotation
    X = np.asarray(X, dtype=np.float64)
    X = X - X.mean(axis=0)
    pca = PCA(n_components=n_components).fit(X)
    pca_error = float(np.sum((pca.inverse_transform(pca.transform(X)) - X) ** 2))
    ae = LinearAutoencoder(n_components=n_components, random_state=random_state).fit(X)
    U, V = ae.decoder_, pca.components_.T
    Q = V.T @ U
    return {
        "autoencoder_error": ae.reconstruction_error_,
        "pca_error": pca_error,
        "relative_gap": (ae.reconstruction_error_ - pca_error) / pca_error,
        "principal_angles": subspace_angles(U, V),
        "U": U,
        "V": V,
        "Q": Q,
        "orthogonality_error": float(np.max(np.abs(Q.T @ Q - np.eye(n_components)))),
        "distance_from_signed_permutation": float(1 - np.min(np.max(np.abs(Q), axis=1))),
    }


# ------------------------------------------------------------------ NCA as a reduction layer
def nca_classifier_loss(Z, y):
    r"""NCA's classifier loss of the projected points Z (N × K), to minimise.

    p_ij = softmax_j(−‖z_i − z_j‖²) over j ≠ i (the diagonal masked out),
    p_i = Σ_{j ≠ i, y_j = y_i} p_ij, and the loss is −Σ_i p_i: minus the
    expected number of points the stochastic nearest-neighbour rule gets right.
    With Z = XA this is NCA: pass it to :class:`~tinygrad_nca.LinearReduction`.

    Parameters
    ----------
    Z : array_like or Tensor of shape (N, K)
        The projected points.
    y : array_like of shape (N,)
        Class labels.

    Returns
    -------
    Tensor
        A scalar in [−N, 0].

    Examples
    --------
    Two tight pairs far apart: each point's neighbour is its classmate with
    probability ≈ 1, so the loss is ≈ −N.

    >>> import numpy as np
    >>> Z = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> round(float(nca_classifier_loss(Z, [0, 0, 1, 1])), 4)
    -4.0
    """
    Z = as_tensor(Z)
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-D (n_samples, n_components), got shape {Z.shape}")
    y = _check_labels(y, Z.shape[0], "Z")
    others = ~np.eye(len(y), dtype=bool)
    P = tg.softmax(-_pairwise_sq_distances(Z), axis=1, where=others)
    return -tg.sum(P, where=(y[:, None] == y[None, :]) & others)


def nca_as_reduction_layer(X=None, y=None, n_components=2, seed=0):
    r"""Exercise 4: NCA = the reduction layer Z = XA + NCA's classifier loss.

    At a random A (D × K), evaluates the reduction objective L(XA) with
    L = :func:`nca_classifier_loss` and its engine gradient Ā = Xᵀ Z̄, and
    compares them with the NCA objective f(Aᵀ) of :func:`tinygrad_nca.nca_loss`
    (its map is K × D, z = Aᵀx, and it is maximised: L(XA) = −f(Aᵀ)) and with
    the paper's closed-form gradient (eq. 5), −(∂f/∂Aᵀ)ᵀ.

    Parameters
    ----------
    X : array_like of shape (N, D), optional
    y : array_like of shape (N,), optional
        Give both or neither. Default: 10 points of scikit-learn's iris data
        set (every 15th, so every class), standardised.
    n_components : int, default 2
        K.
    seed : int, default 0
        Seed of the random A.

    Returns
    -------
    dict
        With ``A``, ``value``, ``gradient``, ``nca_value``, ``paper_gradient``,
        ``value_difference`` (|L(XA) + f(Aᵀ)|) and ``max_gradient_difference``
        (the largest |Ā − (−(∂f/∂Aᵀ)ᵀ)|): both rounding error.

    Raises
    ------
    ValueError
        If only one of ``X`` and ``y`` is given, ``X`` is not a finite 2-D
        array with one label in ``y`` per row, ``y`` has a single class, or
        ``n_components`` is not an integer >= 1.

    Examples
    --------
    >>> r = nca_as_reduction_layer()
    >>> r["gradient"].shape, r["value"] < 0 < r["nca_value"]
    ((4, 2), True)
    >>> r["value_difference"] < 1e-12, r["max_gradient_difference"] < 1e-10
    (True, True)
    """
    from .models.reduction import reduction_objective
    from .nca.loss import nca_loss
    from .nca.reference import nca_loss_and_grad_reference

    n_components = check_int("n_components", n_components, 1)
    if (X is None) != (y is None):
        given, missing = ("X", "y") if y is None else ("y", "X")
        raise ValueError(
            f"{given} is given without {missing}: give both X and its labels y, "
            "or neither for the default iris points"
        )
    if X is None:
        from sklearn.datasets import load_iris

        X, y = load_iris(return_X_y=True)
        X, y = X[::15] + 0.0, y[::15]  # 10 points, every class
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    from sklearn.utils import check_X_y

    X, y = check_X_y(X, y, dtype=np.float64)  # 2-D, finite, one label per row
    if len(np.unique(y)) < 2:
        raise ValueError(f"y has a single class ({y[0].item()!r}); NCA needs at least two classes")
    A = np.random.default_rng(seed).normal(scale=0.5, size=(X.shape[1], n_components))
    value, gradient = value_and_grad(lambda A: reduction_objective(A, X, nca_classifier_loss, y))(A)
    nca_value = float(value_of(nca_loss(A.T, X, y)))
    _, paper = nca_loss_and_grad_reference(A.T, X, y)
    paper_gradient = -paper.T
    return {
        "A": A,
        "value": float(value),
        "gradient": gradient,
        "nca_value": nca_value,
        "paper_gradient": paper_gradient,
        "value_difference": abs(float(value) + nca_value),
        "max_gradient_difference": float(np.max(np.abs(gradient - paper_gradient))),
    }
