"""The paper's claims of Section 4 (``shared/paper/table1.md``), each checked against a reproduction's numbers.

Every check states the rule it applies and the numbers it used, so a reader can disagree with the rule and still
see the evidence. A claim whose numbers are missing (e.g. the 8-chart model was not run) is "not checked". Each
check also says what the numbers show (``finding``: the direction, the magnitude and the size of the models and
data it was measured at), so that a claim whose direction is reproduced but whose magnitude is not reads as such.
The length and diameter claims use the graphs at the reproduction's one eps for every model (like with like) when
the result has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agm.experiments.reproduction.results import ReproductionModelResult, ReproductionResult

#: "Similar" reconstruction errors: within this relative difference of the WAE-GAN's.
SIMILAR_ERROR = 0.15
#: "Comparable" interpolation quality: the multi-chart strips' distance to the data within this ratio of the
#: WAE-GAN's.
COMPARABLE_DISTANCE = 1.25

SUPPORTED, NOT_SUPPORTED, NOT_CHECKED = "supported", "not supported", "not checked"
#: The direction of a claim is reproduced, its magnitude is not (e.g. longer, but more than "slightly").
DIRECTION_ONLY = "direction reproduced, magnitude differs"


@dataclass(frozen=True)
class ClaimCheck:
    """One claim and the verdict of our numbers.

    Attributes:
        claim: the paper's claim (as in ``table1.md``).  verdict: "supported", "not supported", "direction
        reproduced, magnitude differs" or "not checked".  evidence: the rule applied and the numbers, one sentence
        or two.  finding: what the numbers show, in words (direction and magnitude; :func:`check_claims` adds the
        size of the run).
    """

    claim: str
    verdict: str
    evidence: str
    finding: str = ""


def _atlases(r: ReproductionResult) -> list[ReproductionModelResult]:
    return sorted((m for m in r.models if m.charts > 1), key=lambda m: m.charts)


def check_reconstruction(r: ReproductionResult) -> ClaimCheck:
    """Reconstruction errors of the AWAE-GANs similar to the WAE-GAN's (within 15 %), some better."""
    claim = "Reconstruction errors of the AWAE-GANs similar to the WAE-GAN's, some better (Table 1)."
    wae, atlases = r.model(1), _atlases(r)
    if wae is None or not atlases:
        return ClaimCheck(claim, NOT_CHECKED, "needs the WAE-GAN and at least one AWAE-GAN")
    base = wae.reconstruction_error_per_pixel
    rel = {m.charts: m.reconstruction_error_per_pixel / base - 1.0 for m in atlases}
    similar = all(abs(v) <= SIMILAR_ERROR for v in rel.values())
    better = [m for m, v in rel.items() if v < 0]
    numbers = ", ".join(f"{m} charts {base * (1 + v):.4f} ({v:+.0%})" for m, v in rel.items())
    verdict = SUPPORTED if similar and better else NOT_SUPPORTED
    return ClaimCheck(
        claim,
        verdict,
        f"per-pixel MSE: WAE-GAN {base:.4f}; {numbers}. Rule: every AWAE-GAN within ±{SIMILAR_ERROR:.0%} of the "
        f"WAE-GAN and at least one below it ({len(better)} below).",
        f"AWAE-GAN errors {min(rel.values()):+.0%} to {max(rel.values()):+.0%} of the WAE-GAN's, {len(better)} of "
        f"{len(rel)} below it",
    )


def check_charts_per_class(r: ReproductionResult) -> ClaimCheck:
    """Fig. 2a: in the 8-chart model the same class typically appears in only 2-3 charts."""
    claim = "Fig. 2a: in the 8-chart model the same digit/item typically appears in only 2-3 charts."
    m8 = r.model(8)
    if m8 is None or not m8.charts_per_class:
        return ClaimCheck(claim, NOT_CHECKED, "needs the 8-chart model")
    counts = m8.charts_per_class
    median = float(np.median(counts))
    verdict = SUPPORTED if 2 <= median <= 3 else NOT_SUPPORTED
    return ClaimCheck(
        claim,
        verdict,
        f"charts holding >= 10% of a class's test points (most likely chart), per class: {counts}; median "
        f"{median:g}. Rule: median in [2, 3] (measured on the test points' chart assignment rather than by eye "
        "on the samples).",
        f"a class in a median of {median:g} charts of 8",
    )


def check_confidence(r: ReproductionResult) -> ClaimCheck:
    """Fig. 2b: max_y psi_y(x) close to 1 (> 0.9) for a large proportion (> 50 %) of the test points."""
    claim = "Fig. 2b: max_y psi_y(x) on the test points is close to 1 for a large proportion of the data."
    atlases = _atlases(r)
    if not atlases:
        return ClaimCheck(claim, NOT_CHECKED, "needs an AWAE-GAN")
    shown = r.model(8) or atlases[-1]
    numbers = ", ".join(f"{m.charts} charts {m.confident_fraction:.0%}" for m in atlases)
    verdict = SUPPORTED if shown.confident_fraction > 0.5 else NOT_SUPPORTED
    return ClaimCheck(
        claim,
        verdict,
        f"fraction of test points with max psi > 0.9: {numbers}. Rule: more than half for the "
        f"{shown.charts}-chart model.",
        f"{shown.confident_fraction:.0%} of the test points above 0.9 at {shown.charts} charts",
    )


def _median_length(m: ReproductionModelResult) -> float | None:
    return (m.single_eps_geodesics or m.geodesics).median


def _diameter(m: ReproductionModelResult) -> int:
    return (m.single_eps_graph or m.graph).diameter_hops


def _at_eps(r: ReproductionResult) -> str:
    return "" if r.single_eps is None else f" (every graph at eps = {r.single_eps:g})"


def check_lengths(r: ReproductionResult) -> list[ClaimCheck]:
    """Fig. 3a: AWAE-GAN geodesics slightly longer than the WAE-GAN's; more charts counter it; bigger diameters."""
    longer = "Fig. 3a: AWAE-GAN geodesics tend to be slightly longer than the WAE-GAN's."
    counter = "Fig. 3a: more charts seem to counter the lengthening."
    diameter = "AWAE-GAN graphs have a bigger diameter than the WAE-GAN's."
    wae, atlases = r.model(1), _atlases(r)
    if wae is None or not atlases or _median_length(wae) is None:
        return [ClaimCheck(c, NOT_CHECKED, "needs the WAE-GAN and an AWAE-GAN") for c in (longer, counter, diameter)]
    base = _median_length(wae)
    assert base is not None
    med = {m.charts: _median_length(m) for m in atlases}
    ratios = {m: v / base for m, v in med.items() if v is not None}
    numbers = ", ".join(f"{m} charts {base * v:.3g} ({v:.2f}x)" for m, v in ratios.items())
    slightly = bool(ratios) and all(1.0 < v <= 1.25 for v in ratios.values())
    every_longer = bool(ratios) and all(v > 1.0 for v in ratios.values())
    n_longer = sum(v > 1.0 for v in ratios.values())
    spread = f"{min(ratios.values()):.2f}-{max(ratios.values()):.2f}x" if ratios else "no lengths"
    out = [
        ClaimCheck(
            longer,
            SUPPORTED if slightly else DIRECTION_ONLY if every_longer else NOT_SUPPORTED,
            f"median geodesic length{_at_eps(r)}: WAE-GAN {base:.3g}; {numbers}. Rule: every AWAE-GAN's median "
            "1.00-1.25x the WAE-GAN's ('slightly').",
            f"{n_longer} of {len(ratios)} AWAE-GANs longer, by {spread} the WAE-GAN's median"
            + ("" if slightly or not every_longer else " (more than 'slightly' for some)"),
        )
    ]
    if len(ratios) >= 2:
        ms = sorted(ratios)
        rho = float(np.corrcoef(np.argsort(np.argsort(ms)), np.argsort(np.argsort([ratios[m] for m in ms])))[0, 1])
        out.append(
            ClaimCheck(
                counter,
                SUPPORTED if rho < 0 else NOT_SUPPORTED,
                f"Spearman correlation of chart count with the median length ratio over {ms}: {rho:+.2f}. Rule: "
                "negative (more charts, shorter geodesics).",
                f"geodesics {'shorter' if rho < 0 else 'longer' if rho > 0 else 'no shorter'} with more charts "
                f"(Spearman {rho:+.2f} over {len(ms)} models)",
            )
        )
    else:
        out.append(ClaimCheck(counter, NOT_CHECKED, "needs at least two AWAE-GANs"))
    dia = {m.charts: _diameter(m) for m in atlases}
    base_dia = _diameter(wae)
    n_larger = sum(v > base_dia for v in dia.values())
    out.append(
        ClaimCheck(
            diameter,
            SUPPORTED if n_larger == len(dia) else NOT_SUPPORTED,
            f"diameter (hops){_at_eps(r)}: WAE-GAN {base_dia}; "
            + ", ".join(f"{m} charts {v}" for m, v in dia.items())
            + ". Rule: every AWAE-GAN's larger.",
            f"{n_larger} of {len(dia)} AWAE-GAN diameters larger ({min(dia.values())}-{max(dia.values())} hops vs "
            f"{base_dia})",
        )
    )
    return out


def check_interpolations(r: ReproductionResult) -> ClaimCheck:
    """Fig. 3b: interpolation quality comparable to the WAE-GAN's (the strips' distance to the nearest test point
    within 1.25x of the WAE-GAN's)."""
    claim = "Fig. 3b: interpolation quality comparable to the WAE-GAN's, despite chart transitions."
    wae = r.model(1)
    shown = [m for m in _atlases(r) if m.strip_distance_to_data is not None]
    if wae is None or wae.strip_distance_to_data is None or not shown:
        return ClaimCheck(claim, NOT_CHECKED, "needs the Fig. 3b strips of the WAE-GAN and a multi-chart model")
    other = shown[-1]
    assert other.strip_distance_to_data is not None
    ratio = other.strip_distance_to_data / wae.strip_distance_to_data
    return ClaimCheck(
        claim,
        SUPPORTED if ratio <= COMPARABLE_DISTANCE else NOT_SUPPORTED,
        f"mean distance of the Fig. 3b decodings to their nearest test point: WAE-GAN "
        f"{wae.strip_distance_to_data:.3g}, {other.charts} charts {other.strip_distance_to_data:.3g} ({ratio:.2f}x; "
        f"mean chart changes per path {other.geodesics.mean_chart_changes:.2f}). Rule: at most "
        f"{COMPARABLE_DISTANCE}x (a proxy for quality; judge the images too).",
        f"the {other.charts}-chart strips {ratio:.2f}x the WAE-GAN's distance to the data",
    )


def run_size(r: ReproductionResult) -> str:
    """The size the numbers were measured at: preset, training points, epochs and the WAE-GAN's parameters."""
    s = r.settings
    wae = r.model(1) or (r.models[0] if r.models else None)
    params = (
        f", {wae.parameters:,} parameters ({'WAE-GAN' if wae.charts == 1 else f'{wae.charts} charts'})" if wae else ""
    )
    epochs = f", {wae.training.epochs} epoch{'s' if wae.training.epochs != 1 else ''}" if wae else ""
    return f"{s.preset} preset, {r.n_train:,} training points{epochs}{params}"


def check_claims(r: ReproductionResult) -> list[ClaimCheck]:
    """Every claim of ``table1.md``, in its order, checked against ``r`` (each finding ends with the run's size)."""
    checks = [
        check_reconstruction(r),
        check_charts_per_class(r),
        check_confidence(r),
        *check_lengths(r),
        check_interpolations(r),
    ]
    size = run_size(r)
    return [ClaimCheck(c.claim, c.verdict, c.evidence, f"{c.finding}, at {size}" if c.finding else "") for c in checks]
