"""Diagnosis (seed 10543): how many 64 px photos come out of the stack and per-image paths as
the same 28x28 image, and each path read with and without its alternative readings."""
import copy

import numpy as np
from photos import photo_sets

from digitkit.vision.preprocess import pipeline
from digitkit.vision.recognize import Recognizer

n = 1000
rec = Recognizer.load("default")
for style_name, photos, y in photo_sets(("pattern", "boxed"), n=n):
    grey = photos.astype(np.float32) / 255
    st = pipeline.to_mnist_batch(grey)
    pipeline.SMALL_SIDE = 47
    pi = [pipeline.to_mnist_grey(g) for g in grey]
    pipeline.SMALL_SIDE = 64
    def acc(pre, keep_alts):
        pre = [copy.deepcopy(p) for p in pre]
        read = np.full(n, -1)
        for i, p in enumerate(pre):
            if p.blank: continue
            if not keep_alts: p.alternatives, p.band = [], None
            r = rec.reader_for(p.drawn, p.large)
            pr = r._read([p])[0]
            pd = r._prediction(pr, None, p.drawn)
            read[i] = -1 if pd.digit is None else pd.digit
        return 100 * (read == y).mean()
    same = sum(1 for i in range(n) if not st[i].blank and not pi[i].blank and np.abs(st[i].image - pi[i].image).max() < 1e-4)
    print(style_name, "identical main images", same, "| stack: main", acc(st, False), "all", acc(st, True), "| per-image: main", acc(pi, False), "all", acc(pi, True),
          "| alternatives per image st/pi", np.mean([len(p.alternatives) for p in st if not p.blank]), np.mean([len(p.alternatives) for p in pi if not p.blank]), flush=True)
