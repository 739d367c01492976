#!/usr/bin/env python3
"""Reads a multipart/form-data body the way a Python app using only the standard library would.

Usage: parse_form.py '<Content-Type header value>' < body
Prints JSON: {"fields": {name: text}, "files": {name: {"filename", "type", "size", "sha256"}}}.
parse_form.py --batch reads frames (4-byte big-endian length + Content-Type, 4-byte length + body)
until end of input and prints one JSON line per frame (one interpreter start for many bodies).

The body is parsed with email.parser (policy HTTP, the modern API; the legacy compat32 policy
shows raw UTF-8 header bytes as surrogates) after a Content-Type header line, which is how
multipart/form-data is read since the cgi module was deprecated. Text fields are decoded as UTF-8
strictly, so a field that is not valid UTF-8 fails loudly instead of being patched up.
"""
import hashlib
import json
import sys
from email import policy
from email.parser import BytesParser


def read_form(content_type: str, body: bytes) -> dict:
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("ascii") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise SystemExit("not a multipart body")
    fields: dict = {}
    files: dict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        if filename is not None:
            files[name] = {
                "filename": filename,
                "type": part.get_content_type(),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        else:
            fields[name] = data.decode("utf-8", errors="strict")
    return {"fields": fields, "files": files}


def main() -> None:
    if sys.argv[1] != "--batch":
        json.dump(read_form(sys.argv[1], sys.stdin.buffer.read()), sys.stdout, ensure_ascii=False)
        return
    stream = sys.stdin.buffer
    while True:
        size = stream.read(4)
        if not size:
            break
        content_type = stream.read(int.from_bytes(size, "big")).decode("ascii")
        body = stream.read(int.from_bytes(stream.read(4), "big"))
        sys.stdout.write(json.dumps(read_form(content_type, body), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
