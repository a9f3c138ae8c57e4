"""A server process for the hardening tests: the fake recognizer behind the real uvicorn
settings of ``digitkit serve``. Usage: fake_server.py PORT [PREDICT_DELAY_S] [HEADER_TIMEOUT_S]
"""

from __future__ import annotations

import sys
import time

import uvicorn
from serve_helpers import FakeModels, FakeRecognizer

from digitkit.serve.app import create_app
from digitkit.serve.logs import log_config
from digitkit.serve.security import allowed_host_names
from digitkit.serve.server import ServerSettings


class SlowRecognizer(FakeRecognizer):
    """Takes ``delay`` seconds per prediction: a request stays in flight long enough to be
    caught by a SIGTERM."""

    delay = 0.0

    def predict(self, image, drawing=False):
        time.sleep(self.delay)
        return super().predict(image, drawing)

    def predict_batch(self, images, drawing=False):
        time.sleep(self.delay)
        return [super(SlowRecognizer, self).predict(i, drawing) for i in images]


def main() -> None:
    port = int(sys.argv[1])
    SlowRecognizer.delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    header_timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    models = FakeModels()
    app = create_app(
        lambda name: SlowRecognizer(name=name or "default"),
        models.list,
        allowed_hosts=allowed_host_names("127.0.0.1"),
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=log_config("warning"),
        access_log=False,
        **ServerSettings(header_timeout_s=header_timeout).uvicorn_options(),
    )


if __name__ == "__main__":
    main()
