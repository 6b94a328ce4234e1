"""Parameters of ``agm reproduce``: the :class:`ReproduceSettings` record."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Data sets ``agm reproduce --dataset`` accepts (the paper's two).
REPRODUCE_DATASETS = ("mnist", "fashion-mnist")
#: eps values tried when eps is chosen to match the paper's node counts (the paper does not give eps).
EPS_GRID: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4)


@dataclass(frozen=True)
class ReproduceSettings:
    """Parameters of a reproduction.

    Attributes:
        dataset: "mnist" or "fashion-mnist".  charts: chart counts m (1 = the WAE-GAN).
        preset: training preset ("paper", "cpu", "tiny").  data_dir: folder of the IDX files (None: agm.data's
        search).  points: encoded training points in each graph.  pairs: random test pairs.  k, n_steps: graph
        parameters.  eps: partition threshold of every graph, or None to choose it per model from ``eps_grid``
        so that the node count is closest to the paper's for that chart count (scaled to ``points`` /
        2,000; the paper does not give eps).  eps_grid: the candidates.  seed: seed of training, point and pair
        choice.  device: "auto", "cpu", "cuda".  epochs / n_train: overrides of the preset.  n_test: test points
        (None: the whole test split).  verify: check the IDX files' SHA-256 (False for self-generated files).
        strip_pairs / strip_steps: Fig. 3b size.  straight_steps: decodings along the straight latent line.
        batch_size: decoded points per call (None: the geodesic module's default).  progress: progress bars.
        refine_steps / refine_points: the refinement of Fig. 3b's strip pairs (most Gauss-Newton evaluations,
        segments per curve; :func:`agm.geodesic.refine_paths`), a refined row beside each graph row; refine_steps
        0: no refined rows; the default 20 keeps the refinement of the WAE-GAN's and
        the 8-chart model's 5 strips to minutes at the cpu preset (100 steps had not finished the WAE-GAN's strips
        after 8 CPU minutes).  Neither enters the cache keys of the graphs and geodesics.
        single_eps: the one eps of every model's second graph (Fig. 3a and the length and diameter claims compare
        models at it); None: ``eps`` when given, else the grid value whose node counts are closest to the paper's
        over all models together (the summed |log(nodes / paper nodes)|).
        attach: how the geodesic queries attach the test points: "paper" (default: only in the most likely chart,
        the paper's rule) or "all" (every chart with psi > eps, the package's default).
    """

    dataset: str = "mnist"
    charts: tuple[int, ...] = (1, 2, 4, 8, 16)
    preset: str = "cpu"
    data_dir: str | None = None
    points: int = 2000
    pairs: int = 100
    k: int = 20
    eps: float | None = None
    eps_grid: tuple[float, ...] = EPS_GRID
    n_steps: int = 15
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None
    n_train: int | None = None
    n_test: int | None = None
    verify: bool = True
    strip_pairs: int = 5
    strip_steps: int = 10
    straight_steps: int = 200
    batch_size: int | None = None
    progress: bool = field(default=True, compare=False)
    refine_steps: int = 20
    refine_points: int = 16
    single_eps: float | None = None
    attach: str = "paper"

    def __post_init__(self) -> None:
        if self.dataset not in REPRODUCE_DATASETS:
            raise ValueError(f"dataset must be one of {REPRODUCE_DATASETS}; got {self.dataset!r}")
        if not self.charts or any(not isinstance(m, int) or m < 1 for m in self.charts):
            raise ValueError(f"charts must be positive ints; got {self.charts!r}")
        if len(set(self.charts)) != len(self.charts):
            raise ValueError(f"charts must be distinct chart counts; got {self.charts!r}")
        for name in ("points", "pairs", "k", "strip_steps", "straight_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)!r}")
        if self.refine_steps < 0:
            raise ValueError(f"refine_steps must be >= 0; got {self.refine_steps!r}")
        if self.refine_points < 2:
            raise ValueError(f"refine_points must be >= 2; got {self.refine_points!r}")
        if self.strip_steps < 2:
            raise ValueError(f"strip_steps must be >= 2; got {self.strip_steps}")
        if self.attach not in ("all", "paper"):
            raise ValueError(f"attach must be 'all' or 'paper'; got {self.attach!r}")
        single = () if self.single_eps is None else (self.single_eps,)
        for name, values in (
            ("eps", () if self.eps is None else (self.eps,)),
            ("eps_grid", self.eps_grid),
            ("single_eps", single),
        ):
            if any(not 0.0 <= v < 1.0 for v in values):
                raise ValueError(f"{name} must be values in [0, 1); got {getattr(self, name)!r}")
        if self.eps is None and not self.eps_grid:
            raise ValueError("eps_grid must hold at least one candidate when eps is None; got ()")
