"""``GET /api/models``: the models a client may choose, and the one used when none is named."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from digitkit.serve.catalog import describe_models
from digitkit.serve.inference import Recognizers
from digitkit.serve.schemas import ModelsOut

__all__ = ["add_model_routes"]


def add_model_routes(app: FastAPI, models: Recognizers) -> None:
    """Register ``GET /api/models``, listing the names ``models`` offers."""

    @app.get("/api/models", response_model=ModelsOut, summary="Models a client may choose")
    async def list_models() -> ModelsOut:
        """Names accepted by the ``model`` parameter, and the one used when none is given;
        ``details`` labels each for a menu, with its MNIST test accuracy."""
        names = models.names()
        details = await asyncio.to_thread(describe_models, names, models.default_label)
        return ModelsOut(default=models.default_label, models=names, details=details)
