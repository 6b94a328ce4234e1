"""Training configurations: the :class:`TrainConfig` record and the ``paper`` / ``cpu`` / ``tiny`` presets.

``paper`` (Appendix A of the paper): Adam betas (0.5, 0.999), lambda = 10, 80 epochs,
    MNIST:          batch 100, lr 2e-4 (encoders, psi, decoders) / 1e-4 (discriminators), halved after epochs 5, 25, 50;
    Fashion-MNIST:  batch 128, lr 1e-4 / 5e-5, halved after epochs 15, 30, 50, 70;
    other data:     the MNIST settings.  Width h from the paper's table (:data:`agm.models.PAPER_HIDDEN`).
``cpu``: the same structure at equal model size across chart counts, as the paper's comparison: width
    ``matched_hidden(m, CPU_REFERENCE_HIDDEN)`` for images (36, 24, 18, 13, 9 for m = 1, 2, 4, 8, 16: 1.80M-1.86M
    parameters, each within 2 % of the one-chart model), 32 for flat data; 6,000 training points (images), 3 epochs,
    batch 64, lr 2e-3 / 1e-3 halved after epoch 2.  Sized so that a whole reproduction (5 models, one data set)
    takes at most 60 CPU minutes: measured on this project's 2-core Xeon (idle, load 1.3; 1 torch thread; batch 64
    of 1x28x28; 6 steps per model after 2 warm-up steps), CPU seconds per step 0.69, 0.71, 1.11, 1.72, 2.74 for
    m = 1, 2, 4, 8, 16, so 3 epochs of 94 steps cost about 33 CPU minutes for the five models, leaving the rest for
    the graphs, geodesics and reconstruction errors.  Time grows with m at equal size: every chart decodes every
    sample at 28x28 with narrower (less efficient) layers.
``tiny``: h = 4 / 8, 256 points, 2 epochs, batch 32 (tests; seconds).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

#: Names of the training presets (see the module docstring): ``make_config(preset, ...)`` takes one of them.
PRESETS: tuple[str, ...] = ("paper", "cpu", "tiny")

#: Width h_1 of the one-chart model of the ``cpu`` preset on images; the m-chart models get
#: ``agm.models.backbones.matched_hidden(m, CPU_REFERENCE_HIDDEN)``, the width that holds the model size equal
#: (36 -> h = 36, 24, 18, 13, 9 for m = 1, 2, 4, 8, 16: 1.83M, 1.80M, 1.82M, 1.86M, 1.86M encoder + psi + decoder
#: parameters, each within 2 % of the one-chart model's; smaller h_1 cannot hold 2 % with integer widths).
CPU_REFERENCE_HIDDEN = 36

#: Optimizer names that get the preset's main rate (encoders, psi, decoders, generators); every other optimizer name
#: a model uses must be in ADVERSARY_OPTIMIZERS or be added to the config's lr dict explicitly.
MAIN_OPTIMIZERS: tuple[str, ...] = ("autoencoder", "generator")
#: Optimizer names that get the preset's adversary rate (discriminators, critics).
ADVERSARY_OPTIMIZERS: tuple[str, ...] = ("discriminator",)


def preset_lr(main: float, adversary: float) -> dict[str, float]:
    """Learning rates by optimizer name: ``main`` for :data:`MAIN_OPTIMIZERS`, ``adversary`` for the rest.

    A model family picks the names it needs (the AWAE-GAN: "autoencoder", "discriminator"; InfoGAN: "generator",
    "discriminator"); unused names are ignored by the trainer.
    """
    return {**{k: main for k in MAIN_OPTIMIZERS}, **{k: adversary for k in ADVERSARY_OPTIMIZERS}}


IMAGE_DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "glyph-loop")

#: Default divergence weight lambda of a config (the paper's 10).  It is passed to the families that take ``lam``
#: (AWAE-GAN, WAE-GAN, InfoGAN); for the others (CAE, Atlas VAE) only this default is allowed, so that an explicit
#: lam is never ignored silently.
DEFAULT_LAM = 10.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (saved as JSON in every checkpoint).

    Attributes:
        model: registry name ("awae", "wae", ...).  n_charts: m.  dataset: ``agm.data`` name.  preset: origin.
        hidden / latent_dim: architecture overrides (None: the model's default).  lam: divergence weight of the
        families that have one (others accept only :data:`DEFAULT_LAM`).
        epochs: total epochs.  batch_size: B.  lr: learning rate by optimizer name.  lr_milestones: epochs after
        which the rates are multiplied by lr_factor.  betas: Adam betas.
        n_train: number of training points (None: all).  seed: RNG seed.  device: "auto", "cpu" or "cuda".
        data_dir: where the data sets live (None: agm.data's default search).
    """

    model: str = "awae"
    n_charts: int = 8
    dataset: str = "mnist"
    preset: str = "cpu"
    hidden: int | None = None
    latent_dim: int | None = None
    lam: float = DEFAULT_LAM
    epochs: int = 5
    batch_size: int = 64
    lr: dict[str, float] = field(default_factory=lambda: preset_lr(2e-3, 1e-3))
    lr_milestones: tuple[int, ...] = (2, 4)
    lr_factor: float = 0.5
    betas: tuple[float, float] = (0.5, 0.999)
    n_train: int | None = None
    seed: int = 0
    device: str = "auto"
    data_dir: str | None = None

    def __post_init__(self) -> None:
        lr: Any = self.lr
        if not isinstance(lr, dict) or not all(isinstance(k, str) for k in lr):
            raise TypeError(
                f"TrainConfig.lr must be a dict of learning rates by optimizer name (e.g. preset_lr(2e-3, 1e-3)); "
                f"got {type(lr).__name__} {lr!r:.80}"
            )
        if not all(not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v < math.inf for v in lr.values()):
            raise ValueError(f"TrainConfig.lr must hold finite learning rates > 0; got {lr!r:.200}")
        checks = [
            ("n_charts", self.n_charts >= 1, "an int >= 1"),
            ("epochs", self.epochs >= 0, "an int >= 0"),
            ("batch_size", self.batch_size >= 2, "an int >= 2"),
            ("lr_factor", self.lr_factor > 0, "a number > 0"),
            ("n_train", self.n_train is None or self.n_train >= 2, "None or an int >= 2"),
            ("device", self.device in ("auto", "cpu", "cuda"), "one of 'auto', 'cpu', 'cuda'"),
            ("lr", all(v > 0 for v in self.lr.values()), "learning rates > 0"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"TrainConfig.{name} must be {allowed}; got {getattr(self, name)!r}")

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``build_model`` beyond name / n_charts / data_shape.

        ``lam`` is included when the family takes it (:func:`agm.models.model_options`).

        Raises:
            ValueError: unknown model, or ``lam`` other than :data:`DEFAULT_LAM` for a family without that option.
        """
        from agm.models.registry import model_options  # lazily: configs are built before torch is needed

        kw: dict[str, Any] = {}
        options = model_options(self.model)
        if options is None or "lam" in options:
            kw["lam"] = self.lam
        elif self.lam != DEFAULT_LAM:
            raise ValueError(f"model {self.model!r} has no divergence weight lam; got lam={self.lam}")
        if self.hidden is not None:
            kw["hidden"] = self.hidden
        if self.latent_dim is not None:
            kw["latent_dim"] = self.latent_dim
        return kw

    def to_json(self) -> str:
        """The config as a JSON string (round-trips through :meth:`from_json`)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Inverse of :meth:`to_json` (raises ValueError on a malformed string)."""
        try:
            d = json.loads(text)
            d["lr_milestones"] = tuple(d["lr_milestones"])
            d["betas"] = tuple(d["betas"])
            return cls(**d)
        except (TypeError, KeyError, json.JSONDecodeError) as err:
            raise ValueError(f"not a TrainConfig JSON string: {err}") from err

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _cpu_image_hidden(n_charts: int) -> int:
    from agm.models.backbones import matched_hidden  # lazily: configs are built before torch is needed

    return matched_hidden(n_charts, CPU_REFERENCE_HIDDEN)


def make_config(
    preset: str, model: str = "awae", n_charts: int = 8, dataset: str = "mnist", **overrides: Any
) -> TrainConfig:
    """The preset's configuration for (model, n_charts, dataset), with explicit overrides applied last.

    Args:
        preset: "paper", "cpu" or "tiny".
        overrides: any :class:`TrainConfig` field; None values are ignored (so CLI defaults do not override).

    Raises:
        ValueError: unknown preset or invalid values.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}; got {preset!r}")
    image = dataset in IMAGE_DATASETS
    base: dict[str, Any] = {"model": model, "n_charts": n_charts, "dataset": dataset, "preset": preset}
    if preset == "paper":
        if dataset == "fashion-mnist":
            base.update(batch_size=128, lr=preset_lr(1e-4, 5e-5), lr_milestones=(15, 30, 50, 70))
        else:
            base.update(batch_size=100, lr=preset_lr(2e-4, 1e-4), lr_milestones=(5, 25, 50))
        base.update(epochs=80, hidden=None if image else 32)
    elif preset == "cpu":
        base.update(
            hidden=_cpu_image_hidden(n_charts) if image else 32,
            epochs=3,
            batch_size=64,
            n_train=6000 if image else None,
            lr=preset_lr(2e-3, 1e-3),
            lr_milestones=(2,),
        )
    else:
        base.update(
            hidden=4 if image else 8, epochs=2, batch_size=32, n_train=256, lr=preset_lr(2e-3, 1e-3), lr_milestones=(1,)
        )
    base.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**base)
