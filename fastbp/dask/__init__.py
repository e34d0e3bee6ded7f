"""One fastbp network trained data-parallel on a Dask cluster.

``from fastbp.dask import MLPClassifier, MLPRegressor``: fastbp's estimators
whose ``fit`` takes dask arrays and trains on the current
``distributed.Client``, each block of rows on the worker that holds it
(see ``fastbp/dask/_trainer.py``). Needs the ``dask`` extra
(``pip install "fastbp[dask]"``); ``import fastbp`` alone never imports
dask.
"""

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "fastbp.dask needs dask[array] and distributed: "
        'pip install "fastbp[dask]"') from exc

from ._trainer import DEFAULT_LOCAL_BATCHES, MLPClassifier, MLPRegressor

__all__ = ["DEFAULT_LOCAL_BATCHES", "MLPClassifier", "MLPRegressor"]
