"""Rock-paper-scissors over pairs of digits: a small relational task with concept labels.

Each example is two 8x8 digit images (scikit-learn's bundled ``load_digits``, no download),
entity ``a`` then entity ``b``. A digit ``d`` plays the gesture ``d mod 3``: 0, 3, 6, 9 are
rock, 1, 4, 7 paper, 2, 5, 8 scissors. Paper beats rock, scissors beats paper, rock beats
scissors, i.e. ``a`` beats ``b`` iff ``(g(a) - g(b)) mod 3 == 1``. The label is "win", "lose"
or "tie" from ``a``'s side (ties are a class; ``ties="drop"`` keeps only decided games). The
concept labels are each digit's gesture, one-hot.

Images are split into train and test first, and pairs are drawn within a split, so no test
image is ever seen in training.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch
from sklxai.utils import check_positive_int

GESTURES = ["rock", "paper", "scissors"]


def make_rps_digits(n_pairs=2000, *, subset="train", ties="class", test_size=0.3,
                    random_state=0):
    """Pairs of digit images labelled by who wins rock-paper-scissors (digit mod 3).

    Parameters
    ----------
    n_pairs : int, default=2000
        Examples to draw (pairs of distinct images, drawn with replacement across pairs).
    subset : {"train", "test"}, default="train"
        Which images the pairs are drawn from (a fixed stratified split of the 1797 digits).
    ties : {"class", "drop"}, default="class"
        ``"class"``: three labels, "lose", "tie", "win". ``"drop"``: pairs of equal gestures
        are redrawn, leaving "lose" and "win".
    test_size : float, default=0.3
        Fraction of the images in the test subset.
    random_state : int, default=0
        Seeds the image split (shared by both subsets) and the pair draw (``subset``
        specific, so train and test pairs differ).

    Returns
    -------
    sklearn.utils.Bunch
        ``data``: (n_pairs, 128) pixel values in [0, 1], entity ``a`` in columns 0-63, ``b``
        in 64-127; ``target``: (n_pairs,) str labels; ``concepts``: (n_pairs, 2, 3) one-hot
        gestures; ``digits``: (n_pairs, 2) digit classes; ``concept_names`` (the gestures),
        ``entity_names`` (``["a", "b"]``), ``target_names``.

    Examples
    --------
    >>> from sklxai_rcbm.datasets import make_rps_digits
    >>> data = make_rps_digits(5, random_state=0)
    >>> data.data.shape, data.concepts.shape, set(data.target) <= {"lose", "tie", "win"}
    ((5, 128), (5, 2, 3), True)
    """
    n_pairs = check_positive_int(n_pairs, "n_pairs")
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test'; got {subset!r}.")
    if ties not in ("class", "drop"):
        raise ValueError(f"ties must be 'class' or 'drop'; got {ties!r}.")
    digits = load_digits()
    images, labels = digits.data / 16.0, digits.target
    split = train_test_split(images, labels, test_size=test_size, stratify=labels,
                             random_state=random_state)
    X_img, d_img = (split[0], split[2]) if subset == "train" else (split[1], split[3])
    rng = np.random.RandomState([random_state, 0 if subset == "train" else 1])
    a = rng.randint(len(d_img), size=n_pairs)
    b = rng.randint(len(d_img), size=n_pairs)
    redraw = _redraw_mask(a, b, d_img, ties)
    while redraw.any():  # distinct images, and (ties="drop") distinct gestures
        b[redraw] = rng.randint(len(d_img), size=int(redraw.sum()))
        redraw = _redraw_mask(a, b, d_img, ties)
    digit_pairs = np.stack([d_img[a], d_img[b]], axis=1)
    gestures = digit_pairs % 3
    outcome = (gestures[:, 0] - gestures[:, 1]) % 3
    target = np.array(["tie", "win", "lose"], dtype=object)[outcome].astype(str)
    concepts = np.eye(3)[gestures]
    return Bunch(data=np.concatenate([X_img[a], X_img[b]], axis=1), target=target,
                 concepts=concepts, digits=digit_pairs, concept_names=list(GESTURES),
                 entity_names=["a", "b"],
                 target_names=["lose", "win"] if ties == "drop" else ["lose", "tie", "win"])


def _redraw_mask(a, b, d_img, ties):
    mask = a == b
    if ties == "drop":
        mask |= (d_img[a] % 3) == (d_img[b] % 3)
    return mask
