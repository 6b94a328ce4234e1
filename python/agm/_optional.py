"""Optional dependencies: one message that says how to install a missing module (agm's pip extra, if any)."""

from __future__ import annotations

#: The PyPI package of each optional module, and the pip extra of agm that installs it (None: a dependency of agm
#: itself, missing only from an environment installed without dependencies).
PACKAGES: dict[str, tuple[str, str | None]] = {
    "sklearn": ("scikit-learn", "sklearn"),
    "networkx": ("networkx", None),
}


def missing_extra(module: str, needed_by: str) -> ModuleNotFoundError:
    """The error to raise (``from`` the ImportError) when ``module`` is not installed.

    Args:
        module: the import name ("sklearn", "networkx").
        needed_by: what needs it, e.g. "agm.estimators" or "GeodesicGraph.to_networkx()".

    Returns:
        A ModuleNotFoundError whose message names the package and how to install it (agm's extra where it has
        one), with ``name`` set to ``module``.
    """
    package, extra = PACKAGES[module]
    how = f"pip install 'agm[{extra}]' (or pip install {package})" if extra else f"pip install {package}"
    return ModuleNotFoundError(f"{needed_by} needs {package}, which is not installed: {how}", name=module)
