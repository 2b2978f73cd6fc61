"""Data sets bundled with sklxai and their loaders.

Everything here ships inside the package (``sklxai/datasets/data/``, gzip-compressed,
with its license file next to it); nothing is downloaded at run time. Loaders return
``(X, y)`` like scikit-learn's ``load_*`` functions. Synthetic data generators and
sklearn's own bundled data sets (digits, breast cancer, ...) do not live here.
"""

from ._adult import ADULT_CATEGORICAL, ADULT_COLUMNS, ADULT_NUMERIC, load_adult

__all__ = ["ADULT_CATEGORICAL", "ADULT_COLUMNS", "ADULT_NUMERIC", "load_adult"]
