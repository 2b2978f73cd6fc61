"""RelationalCBMClassifier: the R-CBM as a scikit-learn classifier trained through skorch.

What lives here: parameter and data validation, training (a skorch ``NeuralNet`` around
:class:`sklxai_rcbm.module.RelationalCBMModule` with the loss of :mod:`sklxai_rcbm.loss`),
prediction, concept prediction, interventions and the concept-level explanation. The network
itself is in :mod:`sklxai_rcbm.module`.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from sklxai import Explanation
from sklxai.utils import check_positive_int, check_target, resolve_device, seed_from
from sklxai.utils import param_validation as pv
from skorch import NeuralNet

from sklxai_rcbm.loss import ConceptBottleneckLoss, pack_targets
from sklxai_rcbm.module import RelationalCBMModule, conjunction_pairs, ordered_pairs

_NAMES = "None or a list of distinct str"


class RelationalCBMClassifier(ClassifierMixin, BaseEstimator):
    """Relational concept bottleneck model (R-CBM) for rows made of a fixed set of entities.

    Barbiero et al., "Relational Concept Bottleneck Models" (NeurIPS 2024). Each row of ``X``
    holds ``n_entities`` entities as equal, consecutive blocks of columns (e.g. two 8x8 digit
    images, 64 columns each). A shared atom encoder predicts the unary concepts of every
    entity, ``c(e)``, and the relation concepts of every ordered pair, ``r(e_i, e_j)``; the
    task head sees only these grounded atoms (probabilities), so a prediction is explained by
    the atoms and the head's weights, and can be corrected by setting atoms to their true
    values (:meth:`intervene`).

    Concept supervision is a fit parameter: ``fit(X, y, concepts=C, relation_concepts=R)``
    with ``C`` of shape (n_samples, n_entities, n_concepts) and ``R`` of shape (n_samples,
    n_entities, n_entities, n_relations), values in [0, 1] and NaN for an unknown label (the
    diagonal ``R[:, i, i]`` is ignored). Both are sliced along the first axis like ``X``, so
    they pass through scikit-learn's cross-validation as routed fit parameters. Plain
    ``fit(X, y)`` works when ``n_concepts`` (and/or ``n_relations``) is given: the atoms are
    then learned from the task alone (a bottleneck without concept supervision).

    Parameters
    ----------
    n_entities : int, default=2
        Entities per row. ``X`` must have a multiple of ``n_entities`` columns.
    n_concepts : int or None, default=None
        Unary concepts per entity. None: taken from ``concepts`` in ``fit`` (then required).
        An int must match ``concepts`` when both are given.
    n_relations : int or None, default=None
        Relation concepts per ordered pair. None: taken from ``relation_concepts`` in ``fit``,
        0 when it is not given. An int must match ``relation_concepts`` when both are given.
    head : {"rules", "linear"}, default="rules"
        Task head over the grounded atoms ``a``. ``"linear"``: ``logits = W a + b``; with no
        relations this is the flat CBM (a linear model of the concatenated entity concepts).
        ``"rules"``: ``W a + V (a_p a_q)_{p<q} + b``, a learned weight per class for every atom
        and every conjunction of two atoms (product t-norm): the relational head. Its size
        grows as the square of the number of atoms.
    concept_names, relation_names, entity_names : list of str or None, default=None
        Names used in atom names such as ``"rock(a)"`` and ``"beats(a,b)"``. None: ``c0, c1,
        ...``, ``r0, ...`` and ``e0, e1, ...``.
    hidden_size : int, default=64
        Hidden width of the entity and relation encoders.
    embedding_size : int, default=32
        Width of an entity embedding.
    concept_weight : float, default=1.0
        Weight of the concept and relation binary cross-entropy against the task
        cross-entropy (0: no concept supervision even when labels are given).
    max_epochs : int, default=30
        Training epochs (Adam).
    batch_size : int, default=64
        Training and inference batch size.
    lr : float, default=0.01
        Adam learning rate.
    device : str or torch.device, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"auto"`` (CUDA when available) or a torch device.
    random_state : int, RandomState or None, default=None
        Seeds the weight initialisation and the batch order (the global torch RNG is left as
        it was).
    verbose : int, default=0
        skorch's per-epoch log when > 0.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Columns of ``X``.
    feature_names_in_ : ndarray of str
        Column names, when ``X`` was a DataFrame with string column names.
    n_entity_features_ : int
        Columns per entity (``n_features_in_ // n_entities``).
    n_concepts_, n_relations_ : int
        Unary concepts per entity and relations per ordered pair.
    concept_names_, relation_names_, entity_names_ : list of str
    atom_names_ : list of str
        The grounded atoms, in the order of explanations: every entity's unary concepts
        (entity-major), then every ordered pair's relations (pairs ``(0, 1), (0, 2), ...,
        (1, 0), ...``).
    term_names_ : list of str
        The head's inputs: the atoms, then (``"rules"``) the conjunctions ``"p & q"``.
    concepts_supervised_, relations_supervised_ : bool
        Whether concept (relation) labels were given to ``fit``.
    net_ : skorch.NeuralNet
        The trained network (``net_.module_`` is a :class:`RelationalCBMModule`;
        ``net_.history`` the training log).

    See Also
    --------
    sklxai_rcbm.datasets.make_rps_digits : the relational digits task of the benchmark.

    Notes
    -----
    Differences from the paper and its Keras code: the entity count per row is fixed (no
    knowledge graph, no aggregation of several groundings of one task atom), and the
    ``"rules"`` head enumerates every two-atom conjunction with a linear weight instead of
    the paper's neural rule selection (R-DCR). See the plugin README.

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai_rcbm import RelationalCBMClassifier
    >>> rng = np.random.RandomState(0)
    >>> bits = rng.randint(0, 2, size=(200, 2))            # one hidden bit per entity
    >>> X = np.repeat(bits, 3, axis=1) + 0.1 * rng.randn(200, 6)
    >>> y = bits[:, 0] ^ bits[:, 1]                         # a relational task: XOR
    >>> model = RelationalCBMClassifier(max_epochs=40, hidden_size=16, embedding_size=8, lr=0.03,
    ...                                 concept_names=["on"], entity_names=["a", "b"],
    ...                                 random_state=0)
    >>> model = model.fit(X, y, concepts=bits[:, :, None])
    >>> model.atom_names_
    ['on(a)', 'on(b)']
    >>> float(model.score(X, y)) > 0.9
    True
    >>> model.predict_concepts(X[:3])[0].shape             # (rows, entities, concepts)
    (3, 2, 1)
    >>> exp = model.explain(X[:3])                          # values (rows, atoms, classes)
    >>> exp.values.shape, bool(exp.efficiency_gap < 1e-4)
    ((3, 2, 2), True)
    """

    _parameter_constraints = {
        "n_entities": pv.positive_int(),
        "n_concepts": pv.positive_int(minimum=0, allow_none=True),
        "n_relations": pv.positive_int(minimum=0, allow_none=True),
        "head": pv.options("rules", "linear"),
        "concept_names": pv.unchecked(_NAMES),
        "relation_names": pv.unchecked(_NAMES),
        "entity_names": pv.unchecked(_NAMES),
        "hidden_size": pv.positive_int(),
        "embedding_size": pv.positive_int(),
        "concept_weight": pv.real_in(0, np.inf, inclusive=(True, False)),
        "max_epochs": pv.positive_int(),
        "batch_size": pv.positive_int(),
        "lr": pv.real_in(0, np.inf),
        "device": pv.device(),
        "random_state": pv.unchecked("None, int or RandomState"),
        "verbose": pv.positive_int(minimum=0),
    }

    def __init__(self, *, n_entities=2, n_concepts=None, n_relations=None, head="rules",
                 concept_names=None, relation_names=None, entity_names=None, hidden_size=64,
                 embedding_size=32, concept_weight=1.0, max_epochs=30, batch_size=64, lr=0.01,
                 device="cpu", random_state=None, verbose=0):
        self.n_entities = n_entities
        self.n_concepts = n_concepts
        self.n_relations = n_relations
        self.head = head
        self.concept_names = concept_names
        self.relation_names = relation_names
        self.entity_names = entity_names
        self.hidden_size = hidden_size
        self.embedding_size = embedding_size
        self.concept_weight = concept_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, concepts=None, relation_concepts=None):
        """Train the atom encoders and the task head jointly.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_entities * n_entity_features)
            One row per example; entity ``i`` is columns ``i * n_entity_features`` to
            ``(i + 1) * n_entity_features - 1``.
        y : array-like of shape (n_samples,)
            Task labels (at least two classes).
        concepts : array-like of shape (n_samples, n_entities, n_concepts), default=None
            Unary concept labels in [0, 1]; NaN where unknown. Required unless
            ``n_concepts`` or ``n_relations`` is set.
        relation_concepts : array-like of shape (n_samples, n_entities, n_entities, \
n_relations), default=None
            Relation labels: ``[s, i, j, r]`` is relation ``r`` from entity ``i`` to entity
            ``j``; NaN where unknown; the diagonal is ignored.

        Returns
        -------
        self : RelationalCBMClassifier

        Raises
        ------
        ValueError
            Invalid parameters, non-finite ``X``, fewer than two classes, columns that do not
            split into ``n_entities`` blocks, labels of the wrong shape or outside [0, 1], or
            no concept labels and no ``n_concepts``/``n_relations``.
        """
        pv.validate_params(self)
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), y_numeric=False)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes, but the data "
                f"contains only one class: {self.classes_[0]!r}.")
        n, d = X.shape
        E = self.n_entities
        if d % E:
            raise ValueError(
                f"X has {d} feature(s) (n_features = {d}), which do not split into "
                f"n_entities={E} equal blocks; each entity must have the same number of "
                "columns, laid out one entity after the other.")
        self.n_entity_features_ = d // E
        pairs = ordered_pairs(E)
        C_lab = self._concept_labels(concepts, n)
        R_lab = self._relation_labels(relation_concepts, n, pairs)
        self.n_concepts_, self.n_relations_ = C_lab.shape[2], R_lab.shape[2]
        self.concepts_supervised_ = concepts is not None
        self.relations_supervised_ = relation_concepts is not None
        if self.n_concepts_ + (self.n_relations_ if pairs else 0) == 0:
            raise ValueError(
                "The model has no concept atoms: give concepts (or n_concepts >= 1), or, with "
                "n_entities >= 2, relation_concepts (or n_relations >= 1).")
        self._set_names(pairs)

        seed = seed_from(self.random_state)
        self.net_ = NeuralNet(
            RelationalCBMModule,
            module__n_entities=E,
            module__n_entity_features=self.n_entity_features_,
            module__n_concepts=self.n_concepts_,
            module__n_relations=self.n_relations_,
            module__n_classes=len(self.classes_),
            module__hidden_size=self.hidden_size,
            module__embedding_size=self.embedding_size,
            module__head=self.head,
            module__dtype=torch.float64,
            criterion=ConceptBottleneckLoss,
            criterion__n_concept_labels=E * self.n_concepts_,
            criterion__concept_weight=float(self.concept_weight),
            optimizer=torch.optim.Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=None,
            device=resolve_device(self.device),
            verbose=self.verbose,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net_.fit(X.astype(np.float64), pack_targets(y_idx, C_lab, R_lab))
        return self

    def _concept_labels(self, concepts, n):
        """Unary labels as float (n, n_entities, n_concepts), NaN = unknown."""
        E = self.n_entities
        if concepts is None:
            if self.n_concepts is None and self.n_relations is None:
                raise ValueError(
                    f"{type(self).__name__}.fit needs concept labels: call "
                    f"fit(X, y, concepts=C) with C of shape (n_samples, n_entities={E}, "
                    "n_concepts), or set n_concepts (and/or n_relations) to train the atoms "
                    "from the task alone, without concept supervision.")
            return np.full((n, E, self.n_concepts or 0), np.nan)
        labels = _labels(concepts, "concepts", (n, E), "(n_samples, n_entities, n_concepts)")
        if self.n_concepts is not None and labels.shape[2] != self.n_concepts:
            raise ValueError(f"concepts has {labels.shape[2]} concept(s) per entity but "
                             f"n_concepts={self.n_concepts}.")
        return labels

    def _relation_labels(self, relation_concepts, n, pairs):
        """Relation labels of the ordered pairs, float (n, n_pairs, n_relations)."""
        E = self.n_entities
        if relation_concepts is None:
            return np.full((n, len(pairs), self.n_relations or 0), np.nan)
        labels = _labels(relation_concepts, "relation_concepts", (n, E, E),
                         "(n_samples, n_entities, n_entities, n_relations)")
        if self.n_relations is not None and labels.shape[3] != self.n_relations:
            raise ValueError(f"relation_concepts has {labels.shape[3]} relation(s) per pair "
                             f"but n_relations={self.n_relations}.")
        if not pairs:
            return labels.reshape(n, 0, labels.shape[3])
        index = np.asarray(pairs)
        return labels[:, index[:, 0], index[:, 1]]

    def _set_names(self, pairs):
        self.concept_names_ = _names(self.concept_names, "concept_names", self.n_concepts_, "c")
        self.relation_names_ = _names(self.relation_names, "relation_names", self.n_relations_,
                                      "r")
        self.entity_names_ = _names(self.entity_names, "entity_names", self.n_entities, "e")
        ent = self.entity_names_
        atoms = [f"{c}({e})" for e in ent for c in self.concept_names_]
        atoms += [f"{r}({ent[i]},{ent[j]})" for i, j in pairs for r in self.relation_names_]
        self.atom_names_ = atoms
        conj = conjunction_pairs(len(atoms)) if self.head == "rules" else []
        self.term_names_ = atoms + [f"{atoms[p]} & {atoms[q]}" for p, q in conj]

    # ------------------------------------------------------------------ inference
    def _run(self, X, concepts=None, relation_concepts=None):
        """Validated rows through the network, in batches; interventions applied."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        n = X.shape[0]
        E, pairs = self.n_entities, ordered_pairs(self.n_entities)
        c_set = self._intervention(concepts, "concepts", (n, E, self.n_concepts_))
        r_set = self._intervention(relation_concepts, "relation_concepts",
                                   (n, E, E, self.n_relations_))
        if r_set is not None:
            index = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
            r_set = r_set[:, index[:, 0], index[:, 1]]
        module, device = self.net_.module_, self.net_.device
        module.eval()
        outs = {"logits": [], "concepts": [], "relations": [], "atoms": []}
        with torch.no_grad():
            for start in range(0, n, self.batch_size):
                rows = slice(start, start + self.batch_size)
                xb = torch.as_tensor(X[rows], dtype=torch.float64, device=device)
                c_logit, r_logit = module.encode(xb)
                cb = None if c_set is None else _tensor(c_set[rows], device)
                rb = None if r_set is None else _tensor(r_set[rows], device)
                atoms = module.atoms(c_logit, r_logit, cb, rb)
                outs["logits"].append(module.head(module.terms(atoms)))
                outs["concepts"].append(torch.sigmoid(c_logit))
                outs["relations"].append(torch.sigmoid(r_logit))
                outs["atoms"].append(atoms)
        return {k: torch.cat(v).cpu().numpy() for k, v in outs.items()}

    def _intervention(self, values, name, shape):
        """An intervention array checked against ``shape``; NaN keeps the prediction."""
        if values is None:
            return None
        arr = _labels(values, name, shape[:-1], "(" + ", ".join(map(str, shape)) + ")")
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape} (rows of X, then what "
                             f"predict_concepts returns); got {arr.shape}.")
        return arr

    def predict_proba(self, X):
        """Class probabilities (softmax of the head's logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return _softmax(self._run(X)["logits"])

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        logits = self._run(X)["logits"]
        return self.classes_[np.argmax(logits, axis=1)]

    def predict_concepts(self, X):
        """Predicted concept and relation probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        concepts : ndarray of shape (n_samples, n_entities, n_concepts_)
            ``concepts[s, e, c]``: probability that concept ``c`` holds for entity ``e``.
        relations : ndarray of shape (n_samples, n_entities, n_entities, n_relations_)
            ``relations[s, i, j, r]``: probability of relation ``r`` from entity ``i`` to
            ``j``; NaN on the diagonal (no atom is predicted for an entity with itself).
        """
        out = self._run(X)
        n, E = out["concepts"].shape[0], self.n_entities
        relations = np.full((n, E, E, self.n_relations_), np.nan)
        for p, (i, j) in enumerate(ordered_pairs(E)):
            relations[:, i, j] = out["relations"][:, p]
        return out["concepts"], relations

    def intervene_proba(self, X, concepts=None, relation_concepts=None):
        """Class probabilities after setting concepts and relations to given values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
        concepts : array-like of shape (n_samples, n_entities, n_concepts_), default=None
            The value each unary atom is set to, in [0, 1] (typically the true label); NaN
            keeps the model's prediction. None: no intervention on concepts.
        relation_concepts : array-like of shape (n_samples, n_entities, n_entities, \
n_relations_), default=None
            The same for relation atoms (the diagonal is ignored).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return _softmax(self._run(X, concepts, relation_concepts)["logits"])

    def intervene(self, X, concepts=None, relation_concepts=None):
        """Predicted labels after setting concepts and relations to given values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
        concepts : array-like of shape (n_samples, n_entities, n_concepts_), default=None
            See :meth:`intervene_proba`; NaN keeps the prediction.
        relation_concepts : array-like of shape (n_samples, n_entities, n_entities, \
n_relations_), default=None
            See :meth:`intervene_proba`.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        logits = self._run(X, concepts, relation_concepts)["logits"]
        return self.classes_[np.argmax(logits, axis=1)]

    # ------------------------------------------------------------------ explanation
    @property
    def head_weights_(self):
        """ndarray of shape (n_classes, n_terms): the head's weight of every term per class."""
        return self.net_.module_.head.weight.detach().double().cpu().numpy()

    @property
    def head_bias_(self):
        """ndarray of shape (n_classes,): the head's bias per class."""
        return self.net_.module_.head.bias.detach().double().cpu().numpy()

    def head_rules(self, n_terms=5):
        """The head's strongest terms for each class: its global explanation.

        Parameters
        ----------
        n_terms : int, default=5
            Terms listed per class, by decreasing weight (the terms that most raise the
            class's logit when true).

        Returns
        -------
        dict
            Class label -> list of ``(term name, weight)``; a term is an atom such as
            ``"rock(a)"`` or (``head="rules"``) a conjunction such as
            ``"paper(a) & rock(b)"``.
        """
        check_is_fitted(self)
        n_terms = check_positive_int(n_terms, "n_terms")
        W = self.head_weights_
        rules = {}
        for k, label in enumerate(self.classes_):
            order = np.argsort(-W[k], kind="stable")[:n_terms]
            rules[label.item() if hasattr(label, "item") else label] = [
                (self.term_names_[t], float(W[k, t])) for t in order]
        return rules

    def explain(self, X, target=None, concepts=None, relation_concepts=None):
        """Concept-level attributions of each decision: Shapley values of the head's logits.

        The head is a polynomial of degree at most 2 in the atoms ``a``; against the all-false
        baseline (every atom 0) its Shapley values are exact and closed-form: atom ``p``
        receives ``W[k, p] a_p`` plus half of every conjunction term ``V[k, pq] a_p a_q`` it
        takes part in. So ``values.sum(axis=1) + base_values == logits`` exactly, a positive
        value is evidence for the class, and an atom that is false (0) gets 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
        target : None, int, class label or array of int, default=None
            None: every class (values (n, n_atoms, n_classes)). An int is a class position, a
            label is looked up in ``classes_``, an array gives one position per row: values
            (n, n_atoms).
        concepts, relation_concepts : array-like or None, default=None
            Interventions, as in :meth:`intervene`: the explanation is then that of the
            intervened prediction.

        Returns
        -------
        sklxai.Explanation
            ``values`` (n, n_atoms[, n_classes]); ``base_values``: the head's bias;
            ``data``: the atoms' values (n, n_atoms); ``feature_names``: ``atom_names_``;
            ``output_names``: the classes; ``output``: the logits; ``method="rcbm"``.
        """
        out = self._run(X, concepts, relation_concepts)
        atoms, logits = out["atoms"], out["logits"]
        n, m = atoms.shape
        W = self.head_weights_
        bias = self.head_bias_
        values = atoms[:, :, None] * W[:, :m].T[None]
        conj = np.asarray(conjunction_pairs(m) if self.head == "rules" else [],
                          dtype=np.int64).reshape(-1, 2)
        if len(conj):
            share = 0.5 * (atoms[:, conj[:, 0]] * atoms[:, conj[:, 1]])[:, :, None] \
                * W[:, m:].T[None]                                   # (n, T, k)
            np.add.at(values, (slice(None), conj[:, 0]), share)
            np.add.at(values, (slice(None), conj[:, 1]), share)
        base = np.broadcast_to(bias, logits.shape).copy()
        names = [c.item() if hasattr(c, "item") else c for c in self.classes_]
        exp = Explanation(values, base, atoms, self.atom_names_, output_names=names,
                          output=logits, method="rcbm")
        idx = check_target(target, len(names), n, output_names=names)
        if idx is None:
            return exp
        if np.ndim(idx) == 0:
            return exp.select_output(int(idx))
        rows = np.arange(n)
        return Explanation(values[rows, :, idx], base[rows, idx], atoms, self.atom_names_,
                           output_names=None, output=logits[rows, idx], method="rcbm")


def _labels(values, name, lead, expected):
    """A float array of labels with leading shape ``lead``, values in [0, 1] or NaN."""
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape {expected}; "
                         f"could not convert it to float ({exc}).") from exc
    if arr.ndim != len(lead) + 1 or arr.shape[:len(lead)] != tuple(lead):
        want = "(" + ", ".join(map(str, lead)) + ", ...)"
        raise ValueError(f"{name} must have shape {expected}, i.e. {want}; got {arr.shape}.")
    known = arr[~np.isnan(arr)]
    if known.size and (known.min() < 0 or known.max() > 1):
        raise ValueError(f"{name} must hold values in [0, 1] (NaN for unknown); got values "
                         f"in [{known.min()}, {known.max()}].")
    return arr


def _names(names, param, count, prefix):
    if names is None:
        return [f"{prefix}{i}" for i in range(count)]
    if isinstance(names, str) or not all(isinstance(s, str) for s in names):
        raise TypeError(f"{param} must be a list of str; got {names!r}.")
    names = list(names)
    if len(names) != count or len(set(names)) != count:
        raise ValueError(f"{param} must hold {count} distinct names; got {names!r}.")
    return names


def _tensor(values, device):
    return torch.as_tensor(values, dtype=torch.float64, device=device)


def _softmax(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
