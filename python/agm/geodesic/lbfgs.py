"""A small L-BFGS (two-loop recursion, Armijo backtracking) for the refinement's smooth, unconstrained energies.

``torch.optim`` is not used: its first use imports ``torch._dynamo`` (seconds), which would dominate a refinement
of a few paths. The energies here are smooth sums of squares, for which this plain variant converges as well.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: f(x) -> (value (0-dim tensor), gradient (same shape as x)); both without autograd history.
Objective = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def minimise(fun: Objective, x0: torch.Tensor, max_iter: int, history: int = 20, tol: float = 1e-10) -> torch.Tensor:
    """Minimise ``fun`` from ``x0`` with at most ``max_iter`` L-BFGS iterations; returns the best x (x0's shape).

    Stops early when the step no longer lowers f by more than ``tol`` relative, or the line search fails.
    """
    x = x0.detach().clone()
    f, g = fun(x)
    s_list: list[torch.Tensor] = []
    y_list: list[torch.Tensor] = []
    for _ in range(max_iter):
        direction = -_two_loop(g, s_list, y_list)
        slope = float((direction * g).sum())
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_list.clear()
            y_list.clear()
            direction, slope = -g, -float((g * g).sum())
        if slope == 0.0:
            break
        step = 1.0 if s_list else min(1.0, 1.0 / max(float(g.abs().max()), 1e-30))
        while True:
            x_new = x + step * direction
            f_new, g_new = fun(x_new)
            if bool(torch.isfinite(f_new)) and float(f_new) <= float(f) + 1e-4 * step * slope:
                break
            step *= 0.5
            if step < 1e-12:
                return x
        s, yv = x_new - x, g_new - g
        if float((s * yv).sum()) > 1e-12 * float((yv * yv).sum()):
            s_list.append(s)
            y_list.append(yv)
            if len(s_list) > history:
                s_list.pop(0)
                y_list.pop(0)
        done = abs(float(f) - float(f_new)) <= tol * max(abs(float(f)), 1e-30)
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x


def _two_loop(g: torch.Tensor, s_list: list[torch.Tensor], y_list: list[torch.Tensor]) -> torch.Tensor:
    """H g for the L-BFGS inverse Hessian H of the stored pairs (g itself when none)."""
    q = g.clone()
    alphas = []
    for s, yv in zip(reversed(s_list), reversed(y_list)):
        rho = 1.0 / float((yv * s).sum())
        a = rho * float((s * q).sum())
        q -= a * yv
        alphas.append((rho, a))
    if s_list:
        s, yv = s_list[-1], y_list[-1]
        q *= float((s * yv).sum()) / float((yv * yv).sum())
    for (s, yv), (rho, a) in zip(zip(s_list, y_list), reversed(alphas)):
        b = rho * float((yv * q).sum())
        q += (a - b) * s
    return q
