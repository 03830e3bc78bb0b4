"""The `grad_clip` hyperparameter of the submissions: global-norm clipping before the update rule.

With a maximum norm c, the gradients g are first scaled to g * min(1, c / ||g||_2), ||g||_2 the
norm of all of them together (Pascanu et al. 2013, arXiv 1211.5063), by `optax.clip_by_global_norm`;
then the update rule sees them. None leaves the update rule as it is.
"""

from __future__ import annotations

import optax


def with_grad_clip(
    optimizer: optax.GradientTransformation, max_norm: float | None
) -> optax.GradientTransformation:
    """`optimizer` fed gradients clipped to global norm `max_norm`; `optimizer` itself if None."""
    if max_norm is None:
        return optimizer
    return optax.chain(optax.clip_by_global_norm(max_norm), optimizer)
