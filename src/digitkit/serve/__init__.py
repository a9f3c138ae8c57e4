"""The web front end: a FastAPI app with a REST API and a drawing page (``digitkit serve``).

Everything it recognizes goes through :class:`digitkit.vision.recognize.Recognizer`; this package
only moves bytes between HTTP and that API, with limits on what a client may send.
"""

from digitkit.serve.app import create_app

__all__ = ["create_app"]
