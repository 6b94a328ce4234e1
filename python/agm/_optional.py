"""Optional dependencies: one message that names the pip extra to install when a module is missing."""

from __future__ import annotations

#: The pip extra of agm that installs each optional module (``pip install "agm[EXTRA]"``).
EXTRAS: dict[str, tuple[str, str]] = {
    "sklearn": ("scikit-learn", "sklearn"),
    "networkx": ("networkx", "networkx"),
}


def missing_extra(module: str, needed_by: str) -> ModuleNotFoundError:
    """The error to raise (``from`` the ImportError) when optional ``module`` is not installed.

    Args:
        module: the import name ("sklearn", "networkx").
        needed_by: what needs it, e.g. "agm.estimators" or "GeodesicGraph.to_networkx()".

    Returns:
        A ModuleNotFoundError whose message names the package and agm's extra, with ``name`` set to ``module``.
    """
    package, extra = EXTRAS[module]
    return ModuleNotFoundError(
        f"{needed_by} needs {package}, which is not installed: pip install 'agm[{extra}]' (or pip install {package})",
        name=module,
    )
