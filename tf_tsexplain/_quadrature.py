"""Quadrature rules and sampling schemes for path methods.

Integrated gradients integrate the gradient along the straight path,
``int_0^1 g(x' + a (x - x')) da``: a Gauss-Legendre rule on [0, 1] is exact for
polynomials of degree 2n - 1 in ``a`` and converges far faster than the uniform grid.

Integrated Hessians (Janizek et al., 2021) are double integrals over two path
variables ``a, b`` of quantities evaluated at ``x' + a b (x - x')`` and multiplied by
``a b`` or 1. They depend on ``(a, b)`` only through ``s = a b``, and integrating out
one variable gives exactly

    int_0^1 int_0^1 h(a b) da db = int_0^1 h(s) (-log s) ds.

So the two-variable quadrature is the Gauss rule for the weight ``-log s`` on [0, 1]:
n nodes, exact for polynomials of degree 2n - 1 in ``s``. Its nodes and weights come
from the recurrence coefficients of the orthogonal polynomials of that weight
(discretised Stieltjes procedure on a tensor Gauss-Legendre grid in (a, b), which
reproduces every moment up to the degree needed) and the Golub-Welsch eigenvalue
method.

Expected gradients / Hessians sample ``a`` (and ``s = a b``) at random instead.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=64)
def gauss_legendre_01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss-Legendre nodes and weights on [0, 1]; weights sum to 1."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1.0) / 2.0, weights / 2.0


@functools.lru_cache(maxsize=64)
def gauss_log_01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss rule for ``int_0^1 h(s) (-log s) ds``; weights sum to 1."""
    # Discrete measure with the same moments as -log(s) ds up to degree 2m - 1:
    # the push-forward of the m x m Gauss-Legendre grid in (a, b) under s = a b.
    m = n + 8
    u, v = gauss_legendre_01(m)
    # (a, b) and (b, a) give the same s: keep one of each pair, doubling its mass.
    i, j = np.triu_indices(m)
    points = u[i] * u[j]
    mass = v[i] * v[j] * np.where(i == j, 1.0, 2.0)
    # Discretised Stieltjes procedure with orthonormal polynomial values.
    alpha = np.zeros(n)
    beta = np.zeros(n)
    q_prev = np.zeros_like(points)
    q = np.full_like(points, 1.0 / np.sqrt(mass.sum()))
    for k in range(n):
        alpha[k] = np.sum(mass * points * q * q)
        r = (points - alpha[k]) * q - (beta[k] if k else 0.0) * q_prev
        if k + 1 < n:
            norm = np.sqrt(np.sum(mass * r * r))
            beta[k + 1] = norm
            q_prev, q = q, r / norm
    jacobi = np.diag(alpha) + np.diag(beta[1:], 1) + np.diag(beta[1:], -1)
    nodes, vectors = np.linalg.eigh(jacobi)
    weights = vectors[0] ** 2  # total mass of -log(s) ds on [0, 1] is 1
    return nodes, weights
