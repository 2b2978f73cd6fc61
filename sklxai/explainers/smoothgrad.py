"""SmoothGrad: any gradient explainer's values averaged over noisy copies of each row."""

import io
from importlib.metadata import entry_points

import numpy as np
import torch
from sklearn.base import clone

from sklxai.base import BaseExplainer
from sklxai.explainers.gradient import GradientExplainer, _sizing_outputs
from sklxai.utils import param_validation as pv
from sklxai.utils.memory import chunk_size
from sklxai.utils.persistence import read_state, write_state
from sklxai.utils.validation import seed_from

_KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")
_GROUP = "sklxai.explainers"


class SmoothGrad(BaseExplainer):
    """SmoothGrad (Smilkov et al., 2017): a gradient explainer's values averaged over noisy
    copies of each row; also SmoothGrad-squared and VarGrad (Adebayo et al., 2018).

    For a row x, ``n_samples`` copies ``x + eps_s`` with Gaussian noise of standard deviation
    ``sigma = noise * (max(x) - min(x))`` (the paper's noise level, relative to the row's own
    range: over all pixels of an image) are explained by ``explainer`` for the output
    explained at x itself (``explainer``'s ``target``, or the output predicted at x); then

    - ``kind="smoothgrad"``: the mean of the copies' values;
    - ``kind="smoothgrad_sq"``: the mean of their squares;
    - ``kind="vargrad"``: their variance (mean of squares less the squared mean).

    ``explainer`` is cloned and fitted at ``fit`` (``explainer_``): its model, background,
    target, baseline and device are the smoothed explanations'. The copies of many rows are
    explained in one call to the wrapped explainer, as many rows at once as the memory budget
    allows (:mod:`sklxai.utils.memory`), which batches its own points on the device.

    Parameters
    ----------
    explainer : GradientExplainer
        The explainer to smooth, unfitted or fitted (it is cloned): IntegratedGradients,
        Saliency, InputXGradient, GradientSHAP, or a plugin's gradient explainer.
    n_samples : int
        Noisy copies per row (default 50, the paper's).
    noise : float
        The noise's standard deviation relative to each row's range, max - min (default
        0.15, within the paper's recommended 10-20%). 0: no noise (the wrapped explainer's
        values for ``smoothgrad``).
    kind : {"smoothgrad", "smoothgrad_sq", "vargrad"}
        How the copies' values are combined (above).
    random_state : None, int or RandomState
        Seeds the noise; with an int, values are reproducible.

    Attributes
    ----------
    explainer_ : GradientExplainer
        The fitted clone of ``explainer``.
    model_, adapter_, prepared_, background_, n_outputs_, output_names_, n_features_in_
        ``explainer_``'s (see :class:`~sklxai.base.BaseExplainer`).

    Notes
    -----
    ``output`` is the explained output at x (without noise) and ``base_values`` the mean of
    the wrapped explainer's base values over the copies (its f(baseline) for a fixed
    baseline). Row r's noise comes from its own generator, seeded by ``(seed, r)``, drawn in
    float32 (several times faster than float64 draws; noise needs no more digits); a random
    wrapped explainer (GradientSHAP) draws its own samples per call, for the copies of the
    rows one call holds.

    captum's ``NoiseTunnel`` (``nt_type`` "smoothgrad", "smoothgrad_sq", "vargrad") takes
    ``stdevs`` as an absolute standard deviation, the same for every row, draws the noise from
    torch's global random state and needs a target; shap has no SmoothGrad (its
    ``GradientExplainer`` adds ``local_smoothing`` noise of an absolute standard deviation).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.explainers.saliency import Saliency
    >>> from sklxai.explainers.smoothgrad import SmoothGrad
    >>> lin = torch.nn.Linear(3, 1).double()
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> sg = SmoothGrad(Saliency(lin, device="cpu"), n_samples=10, random_state=0).fit(X)
    >>> np.allclose(sg.explain(X[:2]).values, np.abs(lin.weight.detach().numpy()))
    True
    """

    _parameter_constraints = {
        "explainer": pv.unchecked("a GradientExplainer (checked at fit)"),
        "n_samples": pv.positive_int(),
        "noise": pv.real_in(0, float("inf"), inclusive=(True, False)),
        "kind": pv.options(*_KINDS),
        "random_state": pv.unchecked("None, int or RandomState"),
    }

    def __init__(self, explainer, *, n_samples=50, noise=0.15, kind="smoothgrad",
                 random_state=None):
        self.explainer = explainer
        self.n_samples = n_samples
        self.noise = noise
        self.kind = kind
        self.random_state = random_state

    @property
    def model(self):
        """The wrapped explainer's model."""
        return self.explainer.model

    @property
    def target(self):
        """The wrapped explainer's ``target`` (``set_params(explainer__target=...)`` changes
        it without fitting again, as ``target`` does for other explainers)."""
        return self.explainer.target

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Fit a clone of ``explainer`` on ``X`` (see :meth:`BaseExplainer.fit`).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features), or images
        y : array-like or None
            Only used to fit an unfitted model.

        Returns
        -------
        self : SmoothGrad
        """
        pv.validate_params(self)
        if not isinstance(self.explainer, GradientExplainer):
            raise TypeError(
                f"explainer must be a gradient explainer (a GradientExplainer such as "
                f"Saliency(model) or IntegratedGradients(model)); got "
                f"{type(self.explainer).__name__}. Wrap the model in one first.")
        inner = clone(self.explainer).fit(X, y)
        if inner.baseline_.ndim == 2:  # the copies are more rows than the baseline has
            raise ValueError(
                "explainer has one baseline row per explained row; SmoothGrad explains noisy "
                "copies of each row, so give the wrapped explainer a single baseline row (d,) "
                "or image, or 'zeros' / 'mean'.")
        self._adopt(inner)
        self._seed = int(np.random.RandomState(seed_from(self.random_state)).randint(2**31 - 1))
        return self

    def _adopt(self, inner):
        """Take the fitted wrapped explainer and its fitted attributes."""
        self.explainer_ = inner
        for name in ("prepared_", "model_", "adapter_", "background_", "n_outputs_",
                     "output_names_", "n_features_in_"):
            setattr(self, name, getattr(inner, name))
        if hasattr(inner, "feature_names_in_"):
            self.feature_names_in_ = inner.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # ------------------------------------------------------------------ explain
    def _n_explained_outputs(self):
        return 1

    def _explain_target(self, X, target):
        """The copies' values combined by ``kind``; one output per row, as the wrapped
        explainer's (the one explained at x, or predicted there)."""
        inner = self.explainer_
        X = np.array(X, copy=True)  # a view (reversed rows) is no tensor: a fresh copy is
        n = X.shape[0]
        S = self.n_samples
        fx = _sizing_outputs(inner, self._model_rows(X))  # sizes the inner passes too
        if target is None:
            rows_t = np.argmax(fx, axis=1)
            names = [self.output_names_[0]] if self.n_outputs_ == 1 else None
        elif np.ndim(target) == 0:
            rows_t, names = np.full(n, target, dtype=np.int64), [self.output_names_[target]]
        else:
            rows_t, names = np.asarray(target, dtype=np.int64), None
        try:
            total, squares, base = self._copies(inner, X, rows_t)
        finally:  # the pass size measured for this call (_sizing_outputs) goes with it
            inner.__dict__.pop("_row_bytes", None)
        mean, mean_sq = total / S, squares / S
        values = {"smoothgrad": mean, "smoothgrad_sq": mean_sq,
                  "vargrad": np.maximum(mean_sq - mean**2, 0.0)}[self.kind]
        return values, base, fx[np.arange(n), rows_t], names

    def _copies(self, inner, X, rows_t):
        """Sums over each row's noisy copies of the wrapped explainer's values and of their
        squares (n, d), and the mean of the copies' base values (n,)."""
        n, d = X.shape
        S = self.n_samples
        sigma = self.noise * (X.max(axis=1) - X.min(axis=1))
        total, squares, base = np.zeros((n, d)), np.zeros((n, d)), np.zeros(n)
        rows_per_call = chunk_size(4 * 8 * d * S, "cpu", maximum=n)
        for start in range(0, n, rows_per_call):
            rows = np.arange(start, min(start + rows_per_call, n))
            noisy = np.concatenate([X[r] + sigma[r] * self._row_noise(r, d) for r in rows])
            r = np.repeat(rows, S)
            # the copies' own outputs are not needed: no forward pass for them
            values, b = inner._explain_targets(inner._model_rows(noisy), rows_t[r], None)[:2]
            values = np.asarray(values).reshape(len(r), d)
            total[rows] = values.reshape(len(rows), S, d).sum(axis=1)
            squares[rows] = (values**2).reshape(len(rows), S, d).sum(axis=1)
            base[rows] = np.asarray(b).reshape(len(rows), S).mean(axis=1)
        return total, squares, base

    def _row_noise(self, row, d):
        """Standard normal noise (n_samples, d) of explained row ``row``."""
        return np.random.default_rng([self._seed, row]).standard_normal(
            (self.n_samples, d), dtype=np.float32)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted SmoothGrad, its wrapped explainer included, without pickle.

        The wrapped explainer must be a registered one (an entry point of
        ``sklxai.explainers``); see :meth:`BaseExplainer.save`.

        Parameters
        ----------
        path : str or path-like
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        inner = self.explainer_
        name = _registered_name(type(inner))
        buffer = io.BytesIO()
        inner.save(buffer)
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "explainer"}
        meta = {"class": type(self).__name__, "params": params, "explainer": name}
        write_state(path, meta, {
            "explainer": torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8),
            "seed": torch.tensor(self._seed)})

    @classmethod
    def load(cls, path, model, *, device="auto", **params):
        """Load a SmoothGrad written by :meth:`save`, for ``model`` (the same fitted model).

        Parameters
        ----------
        path : str or path-like
        model : the fitted model the wrapped explainer was fitted for
        device : "auto", "cpu", "cuda" or torch.device
            Where the wrapped explainer runs.
        **params
            Overrides of SmoothGrad's own parameters (``n_samples``, ``noise``, ``kind``).

        Returns
        -------
        explainer : SmoothGrad
            Fitted; it gives the same values as the saved one.
        """
        meta, tensors = read_state(path, cls.__name__)
        found = [ep for ep in entry_points(group=_GROUP) if ep.name == meta["explainer"]]
        if not found:
            raise ValueError(
                f"{path} wraps the explainer registered as {meta['explainer']!r}, which is not "
                "installed; install the plugin that provides it.")
        buffer = io.BytesIO(tensors["explainer"].numpy().tobytes())
        inner = found[0].load().load(buffer, model, device=device)
        est = cls(clone(inner), **{**meta["params"], **params})
        pv.validate_params(est)
        est._adopt(inner)
        est._seed = int(tensors["seed"])
        return est


def _registered_name(explainer_class):
    """The entry-point name under which ``explainer_class`` is registered."""
    target = f"{explainer_class.__module__}:{explainer_class.__qualname__}"
    for ep in entry_points(group=_GROUP):
        if ep.value == target:
            return ep.name
    raise ValueError(
        f"save() stores SmoothGrad around a registered explainer; {explainer_class.__name__} "
        f"is not registered under the entry points {_GROUP!r}. Use joblib.dump (a pickle: "
        "load only files you trust).")
