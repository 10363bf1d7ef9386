"""Learning curves: the median per-image score as an inverse power law of the number of training
images (the sample-size literature for medical imaging: Figueroa et al. 2012, Cho et al. 2015).

Two laws, both written against ``x = n / n_ref`` (``n_ref`` = the largest training set fitted, so
``b`` is the gap below the asymptote there and the fit is well conditioned):

- ``ipl3``: ``score = a - b * x**(-c)``, asymptote ``a`` fitted in [0, the metric's maximum];
- ``ipl2``: ``score = top - b * x**(-c)``, the asymptote fixed at the metric's maximum (1 for every
  score here), for 2-3 points, where three parameters cannot be fitted honestly.

``b >= 0`` and ``0 <= c <= C_MAX``: a fitted curve never decreases with more data (a decreasing
sequence of medians gets a flat curve, which says "no gain" rather than inventing a loss).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

IPL3, IPL2 = "ipl3", "ipl2"
MODELS = (IPL3, IPL2)
MODEL_NAMES = {IPL3: "a - b (n/n_ref)^-c", IPL2: "1 - b (n/n_ref)^-c (asymptote fixed at 1)"}
C_MAX = 5.0
MIN_POINTS = {IPL3: 3, IPL2: 2}


@dataclasses.dataclass(frozen=True)
class Fit:
    model: str
    a: float
    b: float
    c: float
    n_ref: float
    rmse: float  # of the fitted medians (0 for an exact fit through as many points as parameters)
    n_points: int

    def predict(self, n) -> np.ndarray:
        x = np.asarray(n, dtype=float) / self.n_ref
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return self.a - self.b * x ** (-self.c)

    def images_for(self, target: float) -> float:
        """The training images n at which the curve reaches ``target``: 0 when a flat curve is already
        there, inf when its asymptote is not above the target."""
        if self.b <= 0 or self.c <= 0:  # flat at a - b
            return 0.0 if self.a - self.b >= target else math.inf
        if self.a <= target:
            return math.inf
        log_n = math.log(self.n_ref) + (math.log(self.b) - math.log(self.a - target)) / self.c
        return math.exp(log_n) if log_n < 700 else math.inf  # a tiny c: beyond any float


def choose_model(n_points: int, model: str = "auto", min_points_3p: int = 4) -> str | None:
    """``auto``: ipl3 from ``min_points_3p`` points, ipl2 from 2; None when too few points for ``model``."""
    if model == "auto":
        model = IPL3 if n_points >= min_points_3p else IPL2
    return model if n_points >= MIN_POINTS[model] else None


def _jac2(x, b, c):
    """d/db and d/dc of -b x^-c (analytic: the bootstrap refits thousands of curves)."""
    g = x ** (-c)
    return np.column_stack([-g, b * g * np.log(x)])


def fit(n, y, model: str, *, top: float = 1.0, n_ref: float | None = None) -> Fit | None:
    """Least-squares fit of ``model`` to medians ``y`` at ``n`` training images (NaN points dropped):
    the global grid solution of :func:`fit_many`, polished by ``scipy.optimize.curve_fit`` with the
    bounds (kept when it does not lower the sum of squares: curve_fit alone can stop in a local
    minimum of these flat, ill-determined laws). None when there are too few points."""
    from scipy.optimize import OptimizeWarning, curve_fit

    n, y = np.asarray(n, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(n) & np.isfinite(y) & (n > 0)
    n, y = n[ok], y[ok]
    if model not in MODELS:
        raise ValueError(f"unknown learning-curve model {model!r}; choose one of {MODELS}")
    if np.unique(n).size < MIN_POINTS[model]:
        return None
    n_ref = float(n_ref or n.max())
    start = fit_many(n, y[None, :], model, top=top, n_ref=n_ref)[0]
    x = n / n_ref
    b0, c0 = max(start.b, 1e-9), min(max(start.c, 1e-6), C_MAX - 1e-6)  # strictly inside the bounds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)  # no covariance from an exact fit: not needed
        try:
            if model == IPL2:
                (b, c), _ = curve_fit(lambda x, b, c: top - b * x ** (-c), x, y, p0=[b0, c0], jac=_jac2,
                                      bounds=([0.0, 0.0], [np.inf, C_MAX]))
                a = top
            else:
                a0 = min(max(start.a, 1e-9), top - 1e-9)
                (a, b, c), _ = curve_fit(lambda x, a, b, c: a - b * x ** (-c), x, y, p0=[a0, b0, c0],
                                         jac=lambda x, a, b, c: np.column_stack([np.ones_like(x), _jac2(x, b, c)]),
                                         bounds=([0.0, 0.0, 0.0], [top, np.inf, C_MAX]))
        except (RuntimeError, ValueError):
            return start
    polished = Fit(model, float(a), float(b), float(c), n_ref, 0.0, start.n_points)
    rmse = float(np.sqrt(np.mean((polished.predict(n) - y) ** 2)))
    return dataclasses.replace(polished, rmse=rmse) if rmse <= start.rmse else start


def _solve(y: np.ndarray, g: np.ndarray, model: str, top: float):
    """The least-squares (a, b) of ``y ~ a - b g`` under the bounds, and its sum of squares, for every
    curve: ``y`` (B, 1, P), ``g = x^-c`` (B or 1, K, P) -> each (B, K). With c fixed the law is linear in
    (a, b), so the bounded optimum is the unconstrained one when feasible, else the best of the faces."""
    gg = (g * g).sum(-1)

    def b_at(a):  # the best b >= 0 for a given a
        return np.clip(((a[..., None] - y) * g).sum(-1) / gg, 0.0, None)

    def sse(a, b):
        return ((y - a[..., None] + b[..., None] * g) ** 2).sum(-1)

    shape = np.broadcast_shapes(y.shape[:-1], g.shape[:-1])
    a_top = np.full(shape, top)
    b_top = b_at(a_top)
    if model == IPL2:
        return a_top, b_top, sse(a_top, b_top)
    ym, gm = y.mean(-1), g.mean(-1)
    var = (g * g).mean(-1) - gm * gm
    cov = (y * g).mean(-1) - ym * gm
    with np.errstate(divide="ignore", invalid="ignore"):
        b_in = np.where(var > 1e-12, -cov / var, 0.0)
    a_in = ym + b_in * gm
    zero = np.zeros(shape)
    best_a, best_b, best = a_top, b_top, sse(a_top, b_top)
    for a, b in ((a_in, b_in), (np.clip(ym + zero, 0.0, top), zero), (zero, b_at(zero))):
        err = np.where((a >= 0) & (a <= top) & (b >= 0), sse(a, b), np.inf)
        take = err < best
        best_a, best_b, best = np.where(take, a, best_a), np.where(take, b, best_b), np.where(take, err, best)
    return best_a, best_b, best


def fit_many(n, y, model: str, *, top: float = 1.0, n_ref: float, grid: int = 251) -> list[Fit | None]:
    """:func:`fit` for many curves on the same ``n`` at once (``y``: (B, P), e.g. bootstrap replicates):
    the exponent by a grid over [0, C_MAX] refined once around each curve's best, (a, b) exactly for each
    exponent (:func:`_solve`). Tests check it against ``curve_fit``. None for a row with a NaN."""
    n = np.asarray(n, dtype=float)
    y = np.atleast_2d(np.asarray(y, dtype=float))
    out: list[Fit | None] = [None] * y.shape[0]
    rows = np.flatnonzero(np.isfinite(y).all(1))
    n_points = int(np.unique(n).size)
    if not rows.size or n_points < MIN_POINTS[model]:
        return out
    x, yr = n / n_ref, y[rows][:, None, :]
    cs = np.linspace(0.0, C_MAX, grid)
    _, _, err = _solve(yr, x[None, None, :] ** (-cs[None, :, None]), model, top)
    best = cs[np.argmin(err, axis=1)]
    step = cs[1] - cs[0]
    fine = np.clip(best[:, None] + np.linspace(-step, step, 41)[None, :], 0.0, C_MAX)  # (B, 41)
    a, b, err = _solve(yr, x[None, None, :] ** (-fine[:, :, None]), model, top)
    k = np.argmin(err, axis=1)
    for i, row in enumerate(rows):
        out[row] = Fit(model, float(a[i, k[i]]), float(b[i, k[i]]), float(fine[i, k[i]]), float(n_ref),
                       float(np.sqrt(err[i, k[i]] / x.size)), n_points)
    return out


def crossings(first: Fit, second: Fit, low: float, high: float, grid: int = 400) -> list[float]:
    """Training set sizes in [low, high] where two curves cross (sign changes of their difference on a
    log grid, refined with ``scipy.optimize.brentq``)."""
    from scipy.optimize import brentq

    n = np.geomspace(low, high, grid)
    d = first.predict(n) - second.predict(n)
    out = []
    for i in np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0):
        out.append(float(brentq(lambda v: float(first.predict(v) - second.predict(v)), n[i], n[i + 1])))
    return out


def percentile_interval(samples, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap samples that may hold inf ("never"): order statistics, no
    interpolation between a finite value and inf. (NaN, NaN) without samples."""
    s = np.asarray(samples, dtype=float)
    s = s[~np.isnan(s)]
    if not s.size:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(s, [alpha, 1.0 - alpha], method="inverted_cdf")
    return float(low), float(high)
