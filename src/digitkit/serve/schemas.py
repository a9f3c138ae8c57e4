"""OpenAPI models of the REST API: documentation and schemathesis (handlers return dicts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from digitkit.serve.parsing import IMAGE_MEDIA_TYPES

# A 28x28 greyscale PNG of a handwritten 7 (350 bytes): the request example of the API docs,
# so "Try it out" in /docs answers 200 with a digit. Drawn with the tests' SEVEN strokes
# (tests/serve/serve_helpers.py) and downscaled; the shipped model reads it as 7.
EXAMPLE_PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAABJUlEQVR42o2SvUoDQRSFz52NRTb+FBJIH0GQ2FmI"
    "T2Dlc4iViJUgFj5BHiLaWYjpfZUgioKJiBKWzMw9FslmZscVPN3lm+/OLY4Qf6cRDwQg0SwEAKpQRBYvFDAS4CJe"
    "mWXJWmJ6Olodu+JbmeW52eTWdRMCgKTjMD3lgY5kA4Dh/tFTnreyNoB3N31ka3d+GH/l3uCMjiTnUJXqnbPW2lmx"
    "g/Vn9QGGWN6iFFOo3vVMKabQcRDEBKovumajFBNo2QeuaFkD1X90TGfitQ46XgL9pViBXl/WTLdYihXoeAwMylOr"
    "0OuoKXvOsw5aXgB34ccYqn52ZHumGqAJNZCbV56s+LhEQfzqZe1JLIa1jkPgPP4xgqrjw4O3ikj5Z6nTSie9TfMD"
    "W2Xb0TurSP4AAAAASUVORK5CYII="
)
EXAMPLE_DATA_URL = "data:image/png;base64," + EXAMPLE_PNG_BASE64


class PredictJSON(BaseModel):
    """JSON body of the predict endpoints."""

    image: str = Field(
        description="the image as a data URL: data:image/png;base64,...",
        examples=[EXAMPLE_DATA_URL],
    )
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
        None, description="28x28 grey levels 0..255 the model saw (with ?preview=true)"
    )


class NumberOut(BaseModel):
    """A multi-digit number: its text and one prediction per digit."""

    model_config = ConfigDict(extra="allow")
    text: str
    digits: list[dict[str, Any]]
    model: str
    file: str | None = None


class ModelInfo(BaseModel):
    """One offered model, described for people (a menu entry) and programs."""

    name: str = Field(description="the value of the `model` parameter")
    label: str = Field(
        description="a readable name, e.g. 'Default: 2-model ensemble, "
        "99.63% on MNIST test' or 'CNN medium (MNIST, seed 1), "
        "99.59%'"
    )
    accuracy: float | None = Field(
        None,
        description="accuracy on the MNIST test set (0..1), from the model's card; null if unknown",
    )
    default: bool = Field(False, description="the model used when a request names none")


class ModelsOut(BaseModel):
    """Models a client may choose by name."""

    default: str
    models: list[str]
    details: list[ModelInfo] = Field(
        default_factory=list, description="the default first, then the others of `models`"
    )


class ErrorOut(BaseModel):
    """Every error response."""

    detail: str
    code: str


def image_body_schema() -> dict[str, Any]:
    """requestBody of the predict routes: a route reads the Request itself so that one path
    accepts multipart, JSON and raw image bodies; this tells OpenAPI clients about all three."""
    binary = {"type": "string", "format": "binary"}
    # JSON first: Swagger UI opens on the first type, and its example runs as it is.
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": PredictJSON.model_json_schema(),
                    "example": {"image": EXAMPLE_DATA_URL},
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": binary},
                    }
                },
                **{mime: {"schema": binary} for mime in IMAGE_MEDIA_TYPES.values()},
            },
        }
    }


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entries documenting these error statuses."""
    return {s: {"model": ErrorOut} for s in statuses}
