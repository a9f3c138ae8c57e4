"""Training: named recipes, learning-rate schedules, callbacks (torch-free) and the torch loop.

``recipes``, ``schedules`` and ``callbacks`` import no torch, so the NumPy engine shares them.
"""
