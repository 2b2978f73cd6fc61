"""The joint R-CBM training loss: task cross-entropy plus masked concept and relation BCE.

skorch passes one target tensor per batch, so the classifier packs the task label and every
concept and relation label of a row into one float row (:func:`pack_targets`); NaN marks an
unlabelled atom, which the concept terms skip.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def pack_targets(y, concepts, relations):
    """One float64 row per sample: the class index, then concept labels, then relation labels.

    Parameters
    ----------
    y : ndarray of shape (n,)
        Class indices.
    concepts : ndarray of shape (n, n_entities, n_concepts)
        Labels in {0, 1}, NaN where unknown.
    relations : ndarray of shape (n, n_pairs, n_relations)
        Labels in {0, 1}, NaN where unknown.

    Returns
    -------
    ndarray of shape (n, 1 + n_entities * n_concepts + n_pairs * n_relations), float64

    Examples
    --------
    >>> import numpy as np
    >>> pack_targets(np.array([2]), np.ones((1, 2, 1)), np.full((1, 2, 1), np.nan))
    array([[ 2.,  1.,  1., nan, nan]])
    """
    n = len(y)
    return np.concatenate(
        [np.asarray(y, dtype=np.float64)[:, None], concepts.reshape(n, -1),
         relations.reshape(n, -1)], axis=1).astype(np.float64)


def _masked_bce(logits, labels):
    """Mean binary cross-entropy over the labelled (non-NaN) entries; 0 when there are none."""
    mask = ~torch.isnan(labels)
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[mask], labels[mask])


class ConceptBottleneckLoss(nn.Module):
    """``CE(task) + concept_weight * (BCE(concepts) + BCE(relations))`` on packed targets.

    Parameters
    ----------
    n_concept_labels : int
        ``n_entities * n_concepts``: the packed concept columns after the class column.
    concept_weight : float
        Weight of the concept and relation terms (0: the task loss alone).

    Examples
    --------
    >>> import torch
    >>> loss = ConceptBottleneckLoss(n_concept_labels=2, concept_weight=1.0)
    >>> out = (torch.zeros(1, 3), torch.zeros(1, 2, 1), torch.zeros(1, 2, 1))
    >>> y = torch.tensor([[0.0, 1.0, 0.0, float("nan"), float("nan")]])
    >>> round(float(loss(out, y)), 4)  # log(3) + log(2)
    1.7918
    """

    def __init__(self, n_concept_labels, concept_weight):
        super().__init__()
        self.n_concept_labels = n_concept_labels
        self.concept_weight = concept_weight

    def forward(self, outputs, target):
        """The loss of one batch.

        Parameters
        ----------
        outputs : tuple of Tensor
            ``(logits, concept_logits, relation_logits)`` from the module.
        target : Tensor of shape (n, 1 + n_concept_labels + n_relation_labels)
            Packed by :func:`pack_targets`.

        Returns
        -------
        Tensor
            A scalar.
        """
        logits, concept_logits, relation_logits = outputs
        n = logits.shape[0]
        loss = F.cross_entropy(logits, target[:, 0].long())
        if self.concept_weight > 0:
            split = 1 + self.n_concept_labels
            loss = loss + self.concept_weight * (
                _masked_bce(concept_logits.reshape(n, -1), target[:, 1:split])
                + _masked_bce(relation_logits.reshape(n, -1), target[:, split:]))
        return loss
