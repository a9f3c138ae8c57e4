"""OpenAPI models of the REST API: documentation and schemathesis (handlers return dicts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from digitkit.serve.parsing import IMAGE_MEDIA_TYPES


class PredictJSON(BaseModel):
    """JSON body of the predict endpoints."""

    image: str = Field(description="the image as a data URL: data:image/png;base64,...",
                       examples=["data:image/png;base64,iVBORw0KGgo="])
    model: str | None = Field(None, description="a name from GET /api/models")


class PredictionOut(BaseModel):
    """One recognized digit (docs/architecture.md, prediction JSON)."""

    model_config = ConfigDict(extra="allow")
    digit: int | None = Field(description="the digit, or null when blank/unrecognizable")
    confidence: float
    probabilities: list[float]
    uncertain: bool = False
    reason: str | None = None
    model: str
    file: str | None = None
    preview: list[list[int]] | None = Field(
        None, description="28x28 grey levels 0..255 the model saw (with ?preview=true)")


class NumberOut(BaseModel):
    """A multi-digit number: its text and one prediction per digit."""

    model_config = ConfigDict(extra="allow")
    text: str
    digits: list[dict[str, Any]]
    model: str
    file: str | None = None


class ModelsOut(BaseModel):
    """Models a client may choose by name."""

    default: str
    models: list[str]


class ErrorOut(BaseModel):
    """Every error response."""

    detail: str
    code: str


def image_body_schema() -> dict[str, Any]:
    """requestBody of the predict routes: a route reads the Request itself so that one path
    accepts multipart, JSON and raw image bodies; this tells OpenAPI clients about all three."""
    binary = {"type": "string", "format": "binary"}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": binary}}},
        "application/json": {"schema": PredictJSON.model_json_schema()},
        **{mime: {"schema": binary} for mime in IMAGE_MEDIA_TYPES.values()},
    }}}


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entries documenting these error statuses."""
    return {s: {"model": ErrorOut} for s in statuses}
