"""A request's parameters, and the error answers a method gives."""

from __future__ import annotations

import json
from typing import Any

from sandbox.model import JSON


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": code, "description": ...}``.

    ``malformed`` marks errors caused by a request the bot should never have made (bad
    parameters, text too long, unparsable HTML...); those are also recorded as violations.
    """

    def __init__(
        self,
        code: int,
        description: str,
        parameters: JSON | None = None,
        *,
        malformed: bool = False,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters
        self.malformed = malformed

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad(message: str, *, malformed: bool = False) -> ApiError:
    return ApiError(400, f"Bad Request: {message}", malformed=malformed)


def malformed(message: str) -> ApiError:
    return bad(message, malformed=True)


class Params:
    """Request parameters from a query string, a form, multipart or a JSON body.

    Form values are strings (PTB JSON-encodes non-string values), JSON values are native.
    """

    def __init__(self, values: JSON, files: dict[str, tuple[str, bytes, str]] | None = None):
        self.values = values
        self.files = files or {}

    def names(self) -> set[str]:
        return set(self.values) | set(self.files)

    def has(self, name: str) -> bool:
        return name in self.values and self.values[name] is not None

    def get_str(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def get_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise malformed(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise malformed(f'field "{name}" must be of type Integer') from None

    def get_bool(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        raise malformed(f'field "{name}" must be of type Boolean')

    def get_json(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise malformed(f"can't parse {name} JSON object") from None
        return value

    def chat_id(self, name: str = "chat_id") -> int | str:
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("@"):
            return value
        number = self.get_int(name)
        if number is None:
            raise bad("chat_id is empty")
        return number
