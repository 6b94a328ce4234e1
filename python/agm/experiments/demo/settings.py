"""Sizes of ``agm demo``: the :class:`DemoSettings` record, the full sizes :data:`FULL` and :data:`QUICK` (tests)."""

from __future__ import annotations

from dataclasses import dataclass

#: Data sets ``agm demo --dataset`` accepts (embedded, no files needed).
DEMO_DATASETS = ("glyph-loop", "circle")
#: Width h of the demo's models when the settings do not choose: by data set (images: conv nets; points: MLPs).
DEMO_HIDDEN = {"glyph-loop": 8, "circle": 32}


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo (the defaults take about 1-3 minutes on 2 CPU cores; :data:`QUICK` takes seconds).

    Attributes:
        charts: m of the atlas model.  latent_dim: d of both models (1: a loop cannot be embedded in R^1).
        n_train: training points.  epochs: training epochs of the atlas.  baseline_epochs: training epochs of the
        one-chart model (None: ``epochs``); the one-chart model gets more so that both reconstruct the loop
        about equally well away from the tear (the comparison is then about the tear, not about a weak baseline).
        hidden: width h of the atlas (None: :data:`DEMO_HIDDEN`, 8 for images and 32 for flat data, pinned here so
        that the demo does not change when the cpu preset does).  baseline_hidden: width of the one-chart model
        (None: ``hidden``).  batch_size: training batch.
        lr_milestones: epochs after which the learning rates (the cpu preset's) are halved; pinned here so that
        the demo does not change when the preset does.  graph_points: training points encoded as graph nodes.
        k, eps, n_steps: graph parameters (Algorithm 1); k must be large enough that the k-NN graph of random points
        on the loop has no gaps (k = 8 with 600 points leaves gaps of ~5 degrees unbridged).  n_pairs: pairs around
        the loop.  gap_deg: angular distance of each pair.  strip_steps: images per interpolation strip.
        track_steps: points per geodesic located on the loop (angle travelled, distance to the loop).
        tear_window_deg: loop angles within this many degrees of the tear count as "near the tear" in the
        reconstruction errors reported beside the result.
    """

    charts: int = 4
    latent_dim: int = 1
    n_train: int = 2048
    epochs: int = 8
    baseline_epochs: int | None = None
    hidden: int | None = None
    baseline_hidden: int | None = None
    batch_size: int = 32
    lr_milestones: tuple[int, ...] = (2, 4)
    graph_points: int = 500
    k: int = 16
    eps: float = 0.05
    n_steps: int = 8
    n_pairs: int = 12
    gap_deg: float = 90.0
    strip_steps: int = 12
    track_steps: int = 48
    tear_window_deg: float = 20.0

    def __post_init__(self) -> None:
        if self.charts < 2:
            raise ValueError(f"settings.charts: the atlas needs at least 2 charts, got {self.charts}")
        for name in ("n_train", "epochs", "batch_size", "graph_points", "k", "n_pairs", "strip_steps", "track_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"settings.{name} must be >= 1; got {getattr(self, name)!r}")
        for name in ("baseline_epochs", "hidden", "baseline_hidden"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"settings.{name} must be >= 1 or None; got {value!r}")
        if not 0.0 < self.gap_deg <= 180.0:
            raise ValueError(f"settings.gap_deg must be an angle in (0, 180]; got {self.gap_deg!r}")
        if not 0.0 < self.tear_window_deg < 180.0:
            raise ValueError(f"settings.tear_window_deg must be an angle in (0, 180); got {self.tear_window_deg!r}")

    @property
    def one_chart_epochs(self) -> int:
        """Training epochs of the one-chart model."""
        return self.epochs if self.baseline_epochs is None else self.baseline_epochs

    def atlas_hidden(self, dataset: str) -> int:
        """Width h of the atlas model on ``dataset``."""
        return DEMO_HIDDEN[dataset] if self.hidden is None else self.hidden

    def one_chart_hidden(self, dataset: str) -> int:
        """Width h of the one-chart model on ``dataset``."""
        return self.atlas_hidden(dataset) if self.baseline_hidden is None else self.baseline_hidden


#: The demo's default sizes (``agm demo``).
FULL = DemoSettings()
#: Sizes for a run of seconds (``agm demo --quick``, the tests).
QUICK = DemoSettings(
    n_train=192,
    epochs=1,
    hidden=4,
    lr_milestones=(1,),
    graph_points=96,
    k=4,
    n_steps=2,
    n_pairs=3,
    strip_steps=6,
    track_steps=8,
)
