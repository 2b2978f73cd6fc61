"""The one memory budget: how many bytes the temporaries of one chunk of work may take.

Every place in sklxai that cuts work into chunks for memory's sake (rows of a tree explainer's
pass, a game's deduplicated triples, the leaves of a table build, the rows of a metric's model
call) asks :func:`chunk_size` how many items fit, so one setting governs them all:

- on the CPU, scikit-learn's ``working_memory`` (in MiB; 1024 by default), set as for
  scikit-learn itself: ``sklearn.set_config(working_memory=256)`` or, for a block of code,
  ``with sklearn.config_context(working_memory=256): ...``;
- on CUDA, a share (:data:`CUDA_SHARE`) of the memory ``torch.cuda.mem_get_info`` reports free
  on the device, capped by the device's ``working_memory`` when one is set in the same way.

What it does not govern: ``batch_size`` (the model rows of one model call, a parameter of every
explainer), the row blocks of the sampling Shapley explainers that carry their own random seed
(fixed, so that values never depend on the machine), and block sizes chosen to fit the CPU's
caches, not its memory. Chunking never changes a value: only speed and peak memory.

Examples
--------
>>> import sklearn
>>> from sklxai.utils.memory import chunk_size, memory_budget
>>> with sklearn.config_context(working_memory=64):
...     memory_budget("cpu") == 64 * 2**20, chunk_size(8 * 1000, "cpu")
(True, 8388)
"""

import sklearn
import torch

#: the share of a CUDA device's free memory one chunk may take
CUDA_SHARE = 0.25


def memory_budget(device="cpu"):
    """Bytes the temporaries of one chunk may take on ``device``.

    Parameters
    ----------
    device : str or torch.device
        Where the chunk's tensors live.

    Returns
    -------
    int
        scikit-learn's ``working_memory`` (MiB) in bytes on the CPU; on CUDA,
        :data:`CUDA_SHARE` of the free device memory, at most that.
    """
    working = int(sklearn.get_config()["working_memory"] * 2**20)
    device = torch.device(device)
    if device.type != "cuda":
        return max(working, 1)
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, min(int(free * CUDA_SHARE), working))


def chunk_size(bytes_per_item, device="cpu", *, maximum=None):
    """Items (rows, leaves, triples) per chunk whose temporaries fit :func:`memory_budget`.

    Parameters
    ----------
    bytes_per_item : int or float
        What one item's temporaries take, in bytes (at least 1 is assumed).
    device : str or torch.device
    maximum : int or None
        An upper bound (the number of items there are, for example).

    Returns
    -------
    int
        At least 1, at most ``maximum``.
    """
    items = max(1, int(memory_budget(device) // max(bytes_per_item, 1)))
    return items if maximum is None else max(1, min(items, int(maximum)))


def element_budget(device="cpu", itemsize=8):
    """:func:`memory_budget` in elements of ``itemsize`` bytes (float64 / int64 by default)."""
    return max(1, memory_budget(device) // itemsize)
