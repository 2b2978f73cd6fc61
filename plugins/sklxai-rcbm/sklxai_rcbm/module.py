"""The R-CBM network: atom encoders for entities and ordered pairs, grounding, and a task head.

A row holds ``n_entities`` equal blocks of features, one per entity. The network

1. embeds every entity with one shared MLP (the entity encoder);
2. predicts each entity's unary concept atoms ``c(e)`` from its embedding (the unary atom
   encoder, shared by all entities);
3. predicts each ordered pair's relation atoms ``r(e_i, e_j)`` from the two embeddings (the
   relation atom encoder, shared by all pairs);
4. grounds the task on every atom of the row (unary atoms of all entities, then relation
   atoms of all ordered pairs) and maps them to one logit per class with the task head:
   ``"linear"`` (``W a + b``) or ``"rules"`` (``W a + V (a_p a_q)_{p<q} + b``: every
   conjunction of two atoms, in the product t-norm, is a rule with a learned weight per class).

Only the head sees the atoms, so interventions (setting atoms to given values) act on the task
prediction exactly as in a concept bottleneck. The loss lives in :mod:`sklxai_rcbm.loss`; the
scikit-learn estimator in :mod:`sklxai_rcbm.classifier`.
"""

import itertools

import torch
from torch import nn


def ordered_pairs(n_entities):
    """The ordered pairs ``(i, j)``, ``i != j``, of ``n_entities`` entities, row-major.

    Parameters
    ----------
    n_entities : int

    Returns
    -------
    list of tuple of int
        ``n_entities * (n_entities - 1)`` pairs: (0, 1), (0, 2), ..., (1, 0), (1, 2), ...

    Examples
    --------
    >>> ordered_pairs(3)
    [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    """
    return [(i, j) for i in range(n_entities) for j in range(n_entities) if i != j]


def conjunction_pairs(n_atoms):
    """The atom index pairs ``(p, q)``, ``p < q``, of the ``"rules"`` head's conjunctions.

    Parameters
    ----------
    n_atoms : int

    Returns
    -------
    list of tuple of int
        ``n_atoms * (n_atoms - 1) / 2`` pairs in lexicographic order.

    Examples
    --------
    >>> conjunction_pairs(3)
    [(0, 1), (0, 2), (1, 2)]
    """
    return list(itertools.combinations(range(n_atoms), 2))


class RelationalCBMModule(nn.Module):
    """Atom encoders and a task head over the grounded atoms of a fixed set of entities.

    Parameters
    ----------
    n_entities : int
        Entities per row; the input's columns are ``n_entities`` equal blocks.
    n_entity_features : int
        Features of one entity (the block width).
    n_concepts : int
        Unary concept atoms per entity (may be 0 when ``n_relations > 0``).
    n_relations : int
        Relation atoms per ordered pair of entities (0: none).
    n_classes : int
        Task outputs (logits).
    hidden_size : int
        Width of the hidden layer of the entity and relation encoders.
    embedding_size : int
        Width of an entity embedding.
    head : {"linear", "rules"}
        The task head (see the module docstring).
    dtype : torch.dtype, default=torch.float32
        Dtype of the parameters.

    Attributes
    ----------
    n_atoms : int
        ``n_entities * n_concepts + len(ordered_pairs(n_entities)) * n_relations``.
    n_terms : int
        Inputs of the head: the atoms, then (``"rules"``) their pairwise conjunctions.

    Examples
    --------
    >>> import torch
    >>> net = RelationalCBMModule(2, 4, 3, 1, 3, hidden_size=8, embedding_size=4, head="rules")
    >>> logits, concept_logits, relation_logits = net(torch.zeros(5, 8))
    >>> logits.shape, concept_logits.shape, relation_logits.shape
    (torch.Size([5, 3]), torch.Size([5, 2, 3]), torch.Size([5, 2, 1]))
    >>> net.n_atoms, net.n_terms
    (8, 36)
    """

    def __init__(self, n_entities, n_entity_features, n_concepts, n_relations, n_classes,
                 hidden_size, embedding_size, head, dtype=torch.float32):
        super().__init__()
        self.n_entities = n_entities
        self.n_entity_features = n_entity_features
        self.n_concepts = n_concepts
        self.n_relations = n_relations
        self.head_kind = head
        pairs = ordered_pairs(n_entities)
        self.n_pairs = len(pairs)
        self.entity_encoder = nn.Sequential(
            nn.Linear(n_entity_features, hidden_size), nn.LeakyReLU(),
            nn.Linear(hidden_size, embedding_size), nn.LeakyReLU(),
        )
        # Encoders of an empty atom set are left out (None): nothing to predict.
        self.concept_encoder = nn.Linear(embedding_size, n_concepts) if n_concepts else None
        self.relation_encoder = nn.Sequential(
            nn.Linear(2 * embedding_size, hidden_size), nn.LeakyReLU(),
            nn.Linear(hidden_size, n_relations),
        ) if n_relations and self.n_pairs else None
        self.register_buffer("pair_index", torch.tensor(pairs, dtype=torch.long).reshape(-1, 2))
        self.n_atoms = n_entities * n_concepts + self.n_pairs * n_relations
        conj = conjunction_pairs(self.n_atoms) if head == "rules" else []
        self.register_buffer("conj_index", torch.tensor(conj, dtype=torch.long).reshape(-1, 2))
        self.n_terms = self.n_atoms + len(conj)
        self.head = nn.Linear(self.n_terms, n_classes)
        self.to(dtype)

    def encode(self, X):
        """Concept and relation logits of every entity and ordered pair.

        Parameters
        ----------
        X : Tensor of shape (n, n_entities * n_entity_features)

        Returns
        -------
        concept_logits : Tensor of shape (n, n_entities, n_concepts)
        relation_logits : Tensor of shape (n, n_pairs, n_relations)
        """
        n = X.shape[0]
        emb = self.entity_encoder(X.reshape(n, self.n_entities, self.n_entity_features))
        if self.concept_encoder is None:
            concept_logits = emb.new_zeros(n, self.n_entities, 0)
        else:
            concept_logits = self.concept_encoder(emb)
        if self.relation_encoder is None:
            return concept_logits, emb.new_zeros(n, self.n_pairs, self.n_relations)
        left = emb[:, self.pair_index[:, 0]]
        right = emb[:, self.pair_index[:, 1]]
        relation_logits = self.relation_encoder(torch.cat([left, right], dim=-1))
        return concept_logits, relation_logits

    def terms(self, atoms):
        """The head's inputs: the atoms, then (``"rules"``) ``a_p * a_q`` for every p < q.

        Parameters
        ----------
        atoms : Tensor of shape (n, n_atoms)

        Returns
        -------
        Tensor of shape (n, n_terms)
        """
        if self.conj_index.shape[0] == 0:
            return atoms
        conj = atoms[:, self.conj_index[:, 0]] * atoms[:, self.conj_index[:, 1]]
        return torch.cat([atoms, conj], dim=1)

    def atoms(self, concept_logits, relation_logits, concepts=None, relations=None):
        """Ground atoms (probabilities), with optional interventions.

        Parameters
        ----------
        concept_logits : Tensor of shape (n, n_entities, n_concepts)
        relation_logits : Tensor of shape (n, n_pairs, n_relations)
        concepts, relations : Tensor of the same shapes, or None
            Intervened values; NaN entries keep the predicted probability.

        Returns
        -------
        Tensor of shape (n, n_atoms)
            Unary atoms entity-major, then relation atoms pair-major.
        """
        c = torch.sigmoid(concept_logits)
        r = torch.sigmoid(relation_logits)
        if concepts is not None:
            c = torch.where(torch.isnan(concepts), c, concepts)
        if relations is not None:
            r = torch.where(torch.isnan(relations), r, relations)
        n = c.shape[0]
        return torch.cat([c.reshape(n, -1), r.reshape(n, -1)], dim=1)

    def forward(self, X):
        """Task logits and the atom logits that the concept losses supervise.

        Parameters
        ----------
        X : Tensor of shape (n, n_entities * n_entity_features)

        Returns
        -------
        logits : Tensor of shape (n, n_classes)
        concept_logits : Tensor of shape (n, n_entities, n_concepts)
        relation_logits : Tensor of shape (n, n_pairs, n_relations)
        """
        concept_logits, relation_logits = self.encode(X)
        logits = self.head(self.terms(self.atoms(concept_logits, relation_logits)))
        return logits, concept_logits, relation_logits
