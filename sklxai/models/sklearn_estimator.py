"""Adapter for any scikit-learn estimator or Pipeline (the generic path, on CPU)."""

import warnings

import numpy as np
import torch

from sklxai.models._base import ModelAdapter


class SklearnAdapter(ModelAdapter):
    """A fitted scikit-learn estimator called on CPU in batches.

    Outputs are ``predict_proba`` for classifiers that have it, else ``decision_function``, else
    ``predict``. When the estimator was fitted on a DataFrame, rows are passed back as a
    DataFrame with the same column names, so scikit-learn raises no feature-name warnings.

    Parameters
    ----------
    estimator : fitted scikit-learn estimator
    method : {"auto", "predict_proba", "decision_function", "predict"}
        Which method gives the explained outputs.
    decoder : fitted :class:`~sklxai.models.tabular.TabularEncoder` or None
        When given, input rows are codes of raw columns: each batch is decoded with
        ``decoder.inverse_transform`` (a DataFrame with the raw columns and dtypes) before the
        estimator is called. Use it for a Pipeline fitted on a raw DataFrame.
    """

    input_dtype = torch.float64
    default_batch_size = 2**14

    def __init__(self, estimator, *, method="auto", decoder=None):
        self.estimator = estimator
        self.decoder = decoder
        if method == "auto":
            for method in ("predict_proba", "decision_function", "predict"):
                if hasattr(estimator, method):
                    break
        if not hasattr(estimator, method):
            raise ValueError(
                f"method={method!r}: {type(estimator).__name__} has no such method."
            )
        self.method = method
        self._fn = getattr(estimator, method)
        self.device = torch.device("cpu")
        self.is_classifier = method == "predict_proba"
        classes = getattr(estimator, "classes_", None)
        self.output_names = (
            list(classes) if classes is not None and method != "predict" else None
        )
        if method == "decision_function" and classes is not None and len(classes) == 2:
            # binary decision_function is one score, for the positive class classes_[1]
            self.output_names = [classes[1]]
        names = getattr(estimator, "feature_names_in_", None)
        self._columns = None if names is None else list(names)

    def forward(self, X):
        arr = X.detach().cpu().double().numpy()
        if self.decoder is not None:
            arr = self.decoder.inverse_transform(arr)
        elif self._columns is not None:
            import pandas as pd

            arr = pd.DataFrame(arr, columns=self._columns)
        with warnings.catch_warnings():
            # the estimator sees exactly the features it was fitted on
            warnings.filterwarnings("ignore", message=".*feature names.*", category=UserWarning)
            out = np.asarray(self._fn(arr), dtype=np.float64)
        return torch.from_numpy(np.ascontiguousarray(out))
