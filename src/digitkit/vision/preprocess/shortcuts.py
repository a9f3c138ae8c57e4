"""The switch of preprocessing's exact shortcuts (a clean canvas's answers found without the
general computation: a noise floor without sorting, block maxima without block sums, the
line search on the ink's box, components labelled from a few links per run instead of three
per pixel). Each gives what the computation it skips gives, bit for bit;
tests/vision/test_canvas_paths.py and benchmarks/bench_canvas.py turn them off to compare.
(The decoder's own switch: ``digitkit.vision.imageio.SHORTCUTS``.)"""

ON = True
