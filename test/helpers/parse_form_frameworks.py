#!/usr/bin/env python3
"""Reads a raw-mode POST (multipart/form-data) the way a Django and a Flask (werkzeug) app do, then
reads the `email` field each framework gives the app as a MIME message, with Python's email package.

Usage: parse_form_frameworks.py '<Content-Type header value>' < body
Prints JSON: {"django": reading, "werkzeug": reading}, where a reading is
{"replacement_chars": count of U+FFFD in `email`, "subject": ..., "parts": [{"type", "charset",
"text" (decoded text of a text/* part) or "sha256" (of another part's decoded bytes)}]}.
"""
import hashlib
import io
import json
import sys
from email import message_from_string, policy

import django
from django.conf import settings

settings.configure(DEFAULT_CHARSET="utf-8")
django.setup()

from django.http.multipartparser import MultiPartParser  # noqa: E402
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler  # noqa: E402
from werkzeug.formparser import parse_form_data  # noqa: E402


def with_django(content_type: str, body: bytes) -> str:
    meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
    handlers = [MemoryFileUploadHandler(), TemporaryFileUploadHandler()]
    post, _files = MultiPartParser(meta, io.BytesIO(body), handlers, "utf-8").parse()
    return post["email"]


def with_werkzeug(content_type: str, body: bytes) -> str:
    environ = {
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    _stream, form, _files = parse_form_data(environ)
    return form["email"]


def reading(email_field: str) -> dict:
    message = message_from_string(email_field, policy=policy.default)
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        entry = {"type": part.get_content_type(), "charset": part.get_content_charset()}
        if part.get_content_maintype() == "text":
            entry["text"] = part.get_content()
        else:
            entry["sha256"] = hashlib.sha256(part.get_payload(decode=True)).hexdigest()
        parts.append(entry)
    return {"replacement_chars": email_field.count("\ufffd"), "subject": str(message["subject"]), "parts": parts}


def main() -> None:
    content_type = sys.argv[1]
    body = sys.stdin.buffer.read()
    json.dump({
        "django": reading(with_django(content_type, body)),
        "werkzeug": reading(with_werkzeug(content_type, body)),
    }, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
