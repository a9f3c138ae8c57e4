"""Exploration (issue 11): a box's short side between two walls counts as a line.

A box around a small digit, small in its crop, has sides shorter than LINE_RUN of the ink's
scale once the walls' thick corners are left out of their thin pixels, so the box closes in
on the digit from two sides only and nothing goes. Importing this module patches
``lines._LineJudge`` (for exploration only): a candidate shorter than LINE_RUN, at least
SHORT_MIN of the scale, whose two ends each meet a different off-centre perpendicular line
(within the judge's reach) is a line too.
"""

import numpy as np

from digitkit.vision.preprocess import lines as L

SHORT_MIN = 0.15
_init = L._LineJudge.__init__


def _with_short_sides(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if SHORT_MIN >= L.LINE_RUN:
        return
    fit = self.fit
    length = fit.a1 - fit.a0
    short = (
        ~self.line
        & (fit.count > 0)
        & (length >= SHORT_MIN * self.size)
        & (fit.count >= L.LINE_FILL * length)
    )
    if not short.any():
        return
    wall = self.line & ~self.central
    reach = self.reach[fit.owner]
    s, v = np.flatnonzero(short), np.flatnonzero(wall)
    same = (fit.owner[s][:, None] == fit.owner[v][None, :]) & (
        fit.horiz[s][:, None] != fit.horiz[v][None, :]
    )
    r = reach[s][:, None]
    # the wall's across-span near the short line's end, and its along-span over its position
    spans = (fit.a0[s][:, None] + 0 * v, fit.a1[s][:, None] + 0 * v)
    over = (self.pos[s][:, None] >= fit.a0[v][None, :] - r) & (
        self.pos[s][:, None] <= fit.a1[v][None, :] + r
    )
    ends = [
        same & over & (end >= self.p0c[v][None, :] - r) & (end <= self.p1c[v][None, :] + r)
        for end in spans
    ]
    both = ends[0].any(axis=1) & ends[1].any(axis=1)
    both &= ~(ends[0] & ends[1]).all(axis=1) | (ends[0].sum(axis=1) + ends[1].sum(axis=1) > 1)
    self.line = self.line.copy()
    self.line[s[both]] = True


L._LineJudge.__init__ = _with_short_sides
