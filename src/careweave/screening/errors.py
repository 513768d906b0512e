"""Screening errors: answers that cannot be scored under the rules of ``clinical-spec.md`` §1."""

from __future__ import annotations

from careweave.core.errors import FieldError, InvalidInput


class InvalidAnswers(InvalidInput):
    """The answers cannot be scored. ``fields`` names every offending item (``answers[3]``) or keyword."""

    code = "screening.invalid_answers"

    def __init__(
        self, message: str = "The screening answers are not valid.", *, fields: list[FieldError] | None = None
    ) -> None:
        super().__init__(message, fields=fields)
