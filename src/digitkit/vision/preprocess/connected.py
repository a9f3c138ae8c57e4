"""Connected components of ink: labelling (vectorized union-find, over whole stacks) and
per-component statistics (area, mass, strong pixels, bounding box)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitkit.vision.preprocess import shortcuts
from digitkit.vision.preprocess.ink import STRONG


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 8-connected components of a boolean mask (H, W) or stack (N, H, W).

    Returns (labels of the mask's shape, 0 = background and 1..k, k). Components never cross
    images of a stack. Vectorized union-find over horizontal runs: every round hooks each root
    to the smallest root it touches, then compresses paths by pointer jumping; rounds grow
    logarithmically, with no per-pixel Python loop.
    """
    m = mask[None] if mask.ndim == 2 else mask
    nimg, h, w = m.shape
    # One zero column right of every row and one zero row under every image: in the flat
    # index space a neighbour is then a constant offset away and never wraps around.
    padded = np.zeros((nimg, h + 1, w + 1), bool)
    padded[:, :h, :w] = m
    flat = padded.reshape(-1)
    idx = np.flatnonzero(flat)
    n = idx.size
    if n == 0:
        return np.zeros(mask.shape, np.int32), 0
    # Nodes are horizontal runs of ink, not pixels: a run is connected by construction, so
    # there are fewer nodes and shorter chains to compress (30 % faster, measured). A pixel
    # starts a run when the pixel left of it is background (the padding column ends rows).
    starts = ~flat[idx - 1]
    run = np.cumsum(starts, dtype=np.int32) - 1
    nr = int(run[-1]) + 1
    node = np.zeros(flat.size + w + 2, np.int32)  # room for the last pixel's neighbours
    node[idx] = run
    ink_at = np.concatenate([flat, np.zeros(w + 2, bool)])
    us, vs = [], []
    for d, links in zip((w, w + 1, w + 2), _run_links(ink_at, idx, starts, w), strict=True):
        # Gathers over the ink pixels only: far cheaper than scanning the whole stack.
        has = np.flatnonzero(links)  # south-west, south, south-east
        us.append(run[has])
        vs.append(node[idx[has] + d])
    u = np.concatenate(us)
    v = np.concatenate(vs)
    parent = np.arange(nr, dtype=np.int32)
    while u.size:
        pu, pv = parent[u], parent[v]
        apart = pu != pv
        if not apart.any():
            break
        u, v, pu, pv = u[apart], v[apart], pu[apart], pv[apart]
        # Hook each larger root under the smallest root it touches. A minimum, not a plain
        # assignment (one arbitrary write wins): a root touched by many others (a ruled line
        # under thousands of strokes, with the largest index) would hook one of them a round,
        # thousands of rounds; with the minimum all of them hook in a few. Every write points
        # to a smaller index, so no cycle can form.
        np.minimum.at(parent, np.maximum(pu, pv), np.minimum(pu, pv))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    roots = parent == np.arange(nr, dtype=np.int32)
    comp_id = np.cumsum(roots, dtype=np.int32)  # 1..k at the roots
    labels = np.zeros(flat.size, np.int32)
    labels[idx] = comp_id[parent[run]]
    labels = labels.reshape(nimg, h + 1, w + 1)[:, :h, :w].reshape(mask.shape)
    return np.ascontiguousarray(labels), int(comp_id[-1])


def _run_links(
    ink_at: np.ndarray, idx: np.ndarray, starts: np.ndarray, w: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which ink pixels ``idx`` (of rows w + 1 wide, ``starts`` marking where runs begin)
    link their run to the run south-west, south and south-east of them.

    Every link gives the same components: two runs of adjacent rows touch (8-connected)
    exactly when their columns overlap, where the later of their first columns is a run's
    start above or below, or when one ends diagonally next to the other's start. So with
    the shortcuts on only those pixels link (four or so a run instead of three a pixel, a
    tenth of the links of a drawn digit), and since the labels number the components by
    their first run, whatever links join them, the labels are the same."""
    south = ink_at[idx + w + 1]
    if not shortcuts.ON:
        return ink_at[idx + w], south, ink_at[idx + w + 2]
    start_at = np.zeros(ink_at.size, bool)
    start_at[idx[starts]] = True
    ends = ~ink_at[idx + 1]
    return (
        starts & ink_at[idx + w],
        south & (starts | start_at[idx + w + 1]),
        ends & ink_at[idx + w + 2],
    )


@dataclass
class Components:
    """Per-component statistics of a labelled 2-D ink image (index k-1 for label k)."""

    labels: np.ndarray
    area: np.ndarray  # pixels
    mass: np.ndarray  # summed ink
    strong: np.ndarray  # strong pixels
    box: np.ndarray  # (k, 4) x0, y0, x1, y1 (exclusive)

    def __len__(self) -> int:
        return len(self.area)


def components(
    ink: np.ndarray, low: float, strong: float = STRONG, mass: np.ndarray | None = None
) -> Components:
    """Connected components of ``ink > low`` in a 2-D ink image, with their statistics
    (``mass`` sums ``mass`` instead of ``ink`` when given: block sums of a reduced image)."""
    labels, k = label_components(ink > low)
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs] - 1
    area = np.bincount(lab, minlength=k)
    mass = np.bincount(lab, weights=(ink if mass is None else mass)[ys, xs], minlength=k)
    strong_n = np.bincount(lab, weights=(ink[ys, xs] >= strong), minlength=k)
    box = np.empty((k, 4), np.int64)
    # np.nonzero walks in raster order, so a component's first and last pixels give its top
    # and bottom rows; the same walk over the transpose gives its left and right columns.
    order = np.arange(lab.size)
    first, last = np.empty(k, np.int64), np.empty(k, np.int64)
    first[lab[::-1]] = order[::-1]
    last[lab] = order
    box[:, 1], box[:, 3] = ys[first], ys[last] + 1
    xt, _ = np.nonzero(labels.T)
    lab_t = labels.T[xt, _] - 1
    first[lab_t[::-1]] = order[::-1]
    last[lab_t] = order
    box[:, 0], box[:, 2] = xt[first], xt[last] + 1
    return Components(labels, area, mass, strong_n, box)
