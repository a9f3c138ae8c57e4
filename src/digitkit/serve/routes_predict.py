"""The recognition routes: ``POST /api/predict`` (one digit) and ``/api/predict/number``.

A request's body becomes image bytes (``parsing``; JSON and base64 in a thread), its format is
checked by its magic bytes (415 otherwise), and the bytes go to the recognizer in the
inference pool (``inference``), within a time budget and only while the client is still there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from digitkit.serve.errors import error_response
from digitkit.serve.inference import (
    CLIENT_CLOSED_REQUEST,
    ClientGone,
    Limits,
    Recognizers,
    preview_grid,
    within_budget,
)
from digitkit.serve.parsing import check_image_bytes, read_image_request
from digitkit.serve.schemas import NumberOut, PredictionOut, error_docs, image_body_schema

__all__ = ["MODEL_QUERY", "add_predict_routes", "preview_grid"]

#: A work function: what to do with the recognizer and the image bytes of one request.
Work = Callable[[Any, bytes], dict[str, Any]]

MODEL_QUERY = Query(None, max_length=200, description="model name from GET /api/models")


def add_predict_routes(app: FastAPI, models: Recognizers, limits: Limits) -> None:
    """Register the two recognition routes, served by ``models`` within ``limits``."""

    @app.post(
        "/api/predict",
        response_model=None,
        openapi_extra=image_body_schema(),
        responses={200: {"model": PredictionOut}, **error_docs(413, 415, 422, 503)},
        summary="Recognize one digit",
    )
    async def predict(
        request: Request,
        model: str | None = MODEL_QUERY,
        preview: bool = Query(False, description="add the 28x28 model input"),
        drawing: bool = Query(
            False,
            description="the image is a drawing on a plain canvas (the page's): nothing in it"
            " is taken for a printed line or box, and strokes may reach its edges",
        ),
    ) -> JSONResponse:
        """Recognize a single digit; ``digit`` is null when the image is blank."""
        return await _infer(request, models, limits, model, preview, None, drawing)

    @app.post(
        "/api/predict/number",
        response_model=None,
        openapi_extra=image_body_schema(),
        responses={200: {"model": NumberOut}, **error_docs(413, 415, 422, 503)},
        summary="Read a number of several digits",
    )
    async def predict_number(request: Request, model: str | None = MODEL_QUERY) -> JSONResponse:
        """Segment the image into digits and recognize each, left to right."""
        return await _infer(request, models, limits, model, False, _read_number)


def _read_number(recognizer: Any, data: bytes) -> dict[str, Any]:
    return recognizer.predict_number(data).to_dict()


async def _infer(
    request: Request,
    models: Recognizers,
    limits: Limits,
    model: str | None,
    preview: bool,
    work: Work | None,
    drawing: bool = False,
) -> JSONResponse:
    """Parse, queue and run one request; ``work`` None means a single-digit predict (with
    its ``preview`` when asked; ``drawing``: the image is a canvas's drawing)."""
    await request.body()  # read first: from here on, receive() only reports a disconnect
    try:
        out = await within_budget(
            _answer(request, models, model, preview, work, drawing),
            request.receive,
            limits.request_timeout_s,
        )
    except ClientGone:  # nobody is listening; logs and metrics still see the request
        return error_response(
            CLIENT_CLOSED_REQUEST, "client_closed_request", "the client disconnected"
        )
    return JSONResponse(out)


async def _answer(
    request: Request,
    models: Recognizers,
    model: str | None,
    preview: bool,
    work: Work | None,
    drawing: bool,
) -> dict[str, Any]:
    """The answer to one request: its image read, checked and recognized by the chosen model."""
    req = await read_image_request(request, model)
    label = models.resolve(req.model)
    check_image_bytes(req.data)

    # A digit goes to models.predict (batched when small), its preview from the same
    # preprocessing; a number runs as a job of its own.
    if work is None:
        out = await models.predict(label, req.data, preview, drawing)
    else:
        out = await models.run(label, lambda recognizer: work(recognizer, req.data), req.data)
    out["model"] = label
    if req.filename:
        out["file"] = req.filename
    return out
