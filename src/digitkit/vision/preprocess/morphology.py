"""Binary morphology on stacks of masks: square dilation, and the run-length operations of
the printed-line search on bit-packed rows (64 pixels per operation): shifts, openings by a
segment (long runs), reach in doubling steps, per-image dilation radii; and a grey opening
by a square (the paper's level under a shadow)."""

from __future__ import annotations

import numpy as np


def _dilate(mask: np.ndarray, r: int = 1) -> np.ndarray:
    """Square max filter of radius ``r`` over the last two axes (separable shifts)."""
    out = mask
    for axis in (-1, -2):
        acc = out.copy()
        for d in range(1, r + 1):
            lo = [slice(None)] * out.ndim
            hi = [slice(None)] * out.ndim
            lo[axis], hi[axis] = slice(d, None), slice(None, -d)
            np.maximum(acc[tuple(lo)], out[tuple(hi)], out=acc[tuple(lo)])
            np.maximum(acc[tuple(hi)], out[tuple(lo)], out=acc[tuple(hi)])
        out = acc
    return out


_U64 = np.dtype("<u8")


def _pack(mask: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N, H, ceil(W / 64)) little-endian uint64 words, pixel x at bit
    x % 64 of word x // 64: the line morphology below works on 64 pixels per operation."""
    n, h, w = mask.shape
    nw = -(-w // 64)
    if w % 64:
        mask = np.concatenate([mask, np.zeros((n, h, nw * 64 - w), bool)], axis=2)
    # packbits keeps its input's memory order: a Fortran-ordered mask (a transposed or
    # column-major image) would give words that cannot be viewed as uint64.
    return np.ascontiguousarray(np.packbits(mask, axis=2, bitorder="little")).view(_U64)


def _unpack(words: np.ndarray, w: int) -> np.ndarray:
    """Inverse of :func:`_pack`."""
    raw = np.ascontiguousarray(words).view(np.uint8)
    return np.unpackbits(raw, axis=2, count=w, bitorder="little").view(bool)


def _shift_x(a: np.ndarray, s: int) -> np.ndarray:
    """Packed rows shifted so that ``out[x] = a[x + s]`` (zeros shifted in)."""
    nw = a.shape[-1]
    q, r = divmod(abs(s), 64)
    if s == 0:
        return a.copy()
    out = np.zeros_like(a)
    if q >= nw:
        return out
    up, down = np.uint64(r), np.uint64(64 - r)
    if s > 0:  # towards lower x: bits move down, the next word's low bits fill in
        src, dst = a[..., q:], out[..., : nw - q]
        if r == 0:
            dst[...] = src
        else:
            dst[...] = src >> up
            dst[..., :-1] |= src[..., 1:] << down
    else:
        src, dst = a[..., : nw - q], out[..., q:]
        if r == 0:
            dst[...] = src
        else:
            dst[...] = src << up
            dst[..., 1:] |= src[..., :-1] >> down
    return out


def _shift_y(a: np.ndarray, s: int) -> np.ndarray:
    """Rows shifted so that ``out[y] = a[y + s]`` (zeros shifted in)."""
    h = a.shape[1]
    out = np.zeros_like(a)
    if abs(s) < h:
        if s >= 0:
            out[:, : h - s] = a[:, s:]
        else:
            out[:, -s:] = a[:, : h + s]
    return out


def _long_runs(a: np.ndarray, length: int, shift) -> np.ndarray:
    """Packed pixels lying in a run of at least ``length`` along ``shift``'s axis: an opening
    by a segment, as erosion then dilation in doubling steps (log2(length) operations)."""
    eroded, k = a, 1
    while k < length:  # eroded[x]: the run covers x .. x + k - 1
        s = min(k, length - k)
        eroded = eroded & shift(eroded, s)
        k += s
    out, k = eroded, 1
    while k < length:
        s = min(k, length - k)
        out = out | shift(out, -s)
        k += s
    return out


def _reach(a: np.ndarray, d: int, shift, sign: int) -> np.ndarray:
    """Packed pixels with a set pixel 1..d steps away in one direction along ``shift``'s
    axis (``sign`` +1: towards higher indices), in doubling steps."""
    out, cover = shift(a, sign), 1
    while cover < d:
        step = min(cover, d - cover)
        out = out | shift(out, sign * step)
        cover += step
    return out


def _dilate_each(mask: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """:func:`_dilate` of a stack (N, H, W) with a radius per image, on packed words (one
    pass per distinct radius)."""
    p = _pack(mask)
    out = np.empty_like(p)
    for r in np.unique(radius):  # a loop over the few radii
        i = np.flatnonzero(radius == r)
        q = p[i]
        if r > 0:
            q = q | _reach(q, int(r), _shift_x, 1) | _reach(q, int(r), _shift_x, -1)
            q = q | _reach(q, int(r), _shift_y, 1) | _reach(q, int(r), _shift_y, -1)
        out[i] = q
    return _unpack(out, mask.shape[2])


def _thin_both_ways(mask: np.ndarray, thick: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (N, H, W) in no run longer than ``thick`` (per image), across or
    down: what is left of a line's corner once the lines are gone."""
    p = _pack(mask)
    out = np.zeros_like(p)
    for t in np.unique(thick):  # one pass per distinct thickness
        i = np.flatnonzero(thick == t)
        q = p[i]
        out[i] = q & ~_long_runs(q, int(t) + 1, _shift_x) & ~_long_runs(q, int(t) + 1, _shift_y)
    return _unpack(out, mask.shape[2])


def _between_first_and_last(mask: np.ndarray, axis: int) -> np.ndarray:
    """Pixels of a stack (N, H, W) at or after the first and at or before the last set pixel
    of their row (``axis`` 2) or column (``axis`` 1): the logical-or accumulations forwards
    and backwards, from two argmax scans (NumPy's boolean accumulate is several times
    slower)."""
    size = mask.shape[axis]
    first = np.expand_dims(np.argmax(mask, axis=axis), axis)
    last = size - 1 - np.expand_dims(np.argmax(np.flip(mask, axis=axis), axis=axis), axis)
    shape = [1, 1, 1]
    shape[axis] = size
    position = np.arange(size).reshape(shape)
    # argmax of an empty row is 0 both ways, which would span the whole row: any() clears it.
    inside = (position >= first) & (position <= last)
    return inside & np.expand_dims(mask.any(axis=axis), axis)


def _dilate_each_axis(mask: np.ndarray, radius: np.ndarray, axis: int) -> np.ndarray:
    """Dilate a stack (N, H, W) along one axis (1 or 2) by a radius per image: one pass per
    distinct radius, each reaching forwards and backwards in doubling steps, so a wide band
    costs log2(radius) steps, not radius."""
    out = mask.copy()
    size = mask.shape[axis]
    for r in np.unique(radius):  # a loop over the few radii
        # Shifts as long as the axis move nothing in: a band wider than a strip stops there.
        reach = min(int(r), size - 1)
        if reach <= 0:
            continue
        i = np.flatnonzero(radius == r)
        sub = mask[i]
        out[i] = sub | _reach_along(sub, reach, axis, 1) | _reach_along(sub, reach, axis, -1)
    return out


def _reach_along(mask: np.ndarray, d: int, axis: int, sign: int) -> np.ndarray:
    """Pixels with a set pixel 1..d steps before them along ``axis`` (``sign`` +1: looking
    towards lower indices, -1: higher), in doubling steps. Marks only ever move one way, so
    nothing that falls off the image's edge was needed (unlike growing a two-sided window)."""

    def shifted(a: np.ndarray, step: int) -> np.ndarray:
        out = np.zeros_like(a)
        src = [slice(None)] * a.ndim
        dst = [slice(None)] * a.ndim
        if sign > 0:
            src[axis], dst[axis] = slice(None, -step), slice(step, None)
        else:
            src[axis], dst[axis] = slice(step, None), slice(None, -step)
        out[tuple(dst)] = a[tuple(src)]
        return out

    out, cover = shifted(mask, 1), 1
    while cover < d:
        step = min(cover, d - cover)
        out |= shifted(out, step)
        cover += step
    return out


def running_extreme(
    a: np.ndarray, size: int, axis: int, op: np.ufunc, reflected: bool = False
) -> np.ndarray:
    """``op`` (np.minimum or np.maximum) of ``a`` over a window of ``size`` along ``axis``,
    centred (an even window reaches one further ahead than behind, or behind when
    ``reflected``), in doubling steps: log2(size) passes whatever the window."""
    fill = np.inf if op is np.minimum else -np.inf
    lead = size // 2 if reflected else (size - 1) // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (lead, size - 1 - lead)
    x = np.pad(a, pad, constant_values=fill)
    span = 1
    while span < size:
        step = min(span, size - span)
        head = [slice(None)] * a.ndim
        tail = [slice(None)] * a.ndim
        head[axis] = slice(0, x.shape[axis] - step)
        tail[axis] = slice(step, None)
        x = op(x[tuple(head)], x[tuple(tail)])
        span += step
    keep = [slice(None)] * a.ndim
    keep[axis] = slice(0, a.shape[axis])
    return x[tuple(keep)]


def grey_opening(a: np.ndarray, size: int) -> np.ndarray:
    """Grey opening of a stack (N, H, W) by a size x size square: what is left where the
    square fits under the surface (large areas, at their level), without what it does not
    fit in (strokes narrower than the square)."""
    low = running_extreme(running_extreme(a, size, 1, np.minimum), size, 2, np.minimum)
    # The maximum over the reflected window: an opening leaves any shape the square fits in
    # exactly as it was, an even square included.
    high = running_extreme(low, size, 1, np.maximum, reflected=True)
    return running_extreme(high, size, 2, np.maximum, reflected=True)
