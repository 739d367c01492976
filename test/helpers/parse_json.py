#!/usr/bin/env python3
"""Reads a JSON POST of mxhook (payload_format "json") the way a Python app using only the
standard library would: json.loads on the body (strictly UTF-8), base64-decoding each attachment.

Usage: parse_json.py < body
Prints JSON: {"fields": {name: value, without attachmentN}, "files": {name: {"filename", "type",
"size", "sha256"}}, "links": {name: download_url}}. An attachment whose size does not match its
decoded bytes, or whose base64 is not valid, fails loudly.
"""
import base64
import binascii
import hashlib
import json
import re
import sys


def main() -> None:
    body = json.loads(sys.stdin.buffer.read().decode("utf-8", errors="strict"))
    fields, files, links = {}, {}, {}
    for name, value in body.items():
        if not re.fullmatch(r"attachment[1-9][0-9]*", name):
            fields[name] = value
            continue
        if "download_url" in value:
            links[name] = value["download_url"]
            continue
        try:
            data = base64.b64decode(value["content"], validate=True)
        except binascii.Error as err:
            raise SystemExit(f"{name}: bad base64: {err}")
        if len(data) != value["size"]:
            raise SystemExit(f"{name}: size {value['size']} but {len(data)} bytes")
        files[name] = {"filename": value["filename"], "type": value["type"], "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    json.dump({"fields": fields, "files": files, "links": links}, sys.stdout, ensure_ascii=False)


main()
