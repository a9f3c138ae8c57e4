"""Vision: from image files and strokes to recognized digits and numbers.

- ``imageio``: decoding image files (alpha, greyscale)
- ``preprocess``: any image to the centred 28x28 input (a package, one step a module)
- ``segment``: splitting a line of digits into single digits
- ``numbers``: the CTC number reader
- ``recognize``: the ``Recognizer``, the entry point for recognizing images
"""
