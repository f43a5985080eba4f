#!/usr/bin/env python3
"""Writes a synthetic schema document (shaped like schema/src/document.rs's SchemaDocument)
to stdout: N commands with M parameters each, for the start-up benchmark of a large API.

  synth_schema.py [--commands 300] [--args 10] [--api-level 1.2]

One of the commands is `power-status`, so that `igor power-status --help` can be timed
against the same command in the real schema. The parameters mix every kind the client maps
(strings, bounded integers, flags, enums through $defs, arrays, nullable values), so the
clap tree built from it is representative.

The fingerprint follows schema/src/fingerprint.rs: `sha256:` + hex SHA-256 of the canonical
JSON of the document without its "fingerprint" key (object keys sorted at every depth,
compact separators, arrays as given, non-ASCII kept). No floats are used: serde_json and
Python print them differently.
"""
import argparse
import hashlib
import json
import sys


def fingerprint(doc):
    body = {k: v for k, v in doc.items() if k != "fingerprint"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def param(i, j):
    """The j-th parameter (j >= 1) of command i: cycles through the kinds."""
    kind = j % 7
    doc = f"Parameter {j} of command {i}: what it does, in one sentence long enough to wrap."
    if kind == 0:
        return {"type": "string", "description": doc, "maxLength": 64}
    if kind == 1:
        return {"type": "integer", "format": "uint16", "minimum": 1, "maximum": 65535,
                "default": 623, "description": doc}
    if kind == 2:
        return {"type": "boolean", "default": False, "description": doc}
    if kind == 3:
        return {"$ref": "#/$defs/Mode", "description": doc}
    if kind == 4:
        return {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65533},
                "maxItems": 256, "description": doc}
    if kind == 5:
        return {"type": ["integer", "null"], "minimum": 1, "maximum": 255, "description": doc}
    return {"type": ["string", "null"], "description": doc}


def command(i, name, nargs, level):
    props = {"machine": {"type": "string", "description": "Machine name.",
                         "x-igor-positional": 0}}
    for j in range(1, nargs):
        props[f"option_{j:02d}"] = param(i, j)
    params = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {"Mode": {"oneOf": [
            {"const": m, "type": "string", "description": f"Mode {m}."}
            for m in ("fast", "safe", "slow", "off")]}},
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": ["machine"],
    }
    output = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"machine": {"type": "string"}, "state": {"type": "string"}},
        "required": ["machine", "state"],
    }
    return {
        "name": name,
        "version": 1,
        "full_name": f"{name}/1",
        "doc": f"Synthetic command {i}: does one thing to a machine\n\n"
               f"A longer description of command {i}, as a real command would have.",
        "topic": f"topic-{i % 30:02d}",
        "since": level,
        "access": "viewer",
        "params": params,
        "output": output,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=300)
    ap.add_argument("--args", type=int, default=10)
    ap.add_argument("--api-level", default="1.2")
    a = ap.parse_args()
    names = ["power-status"] + [f"synth-{i:03d}" for i in range(1, a.commands)]
    commands = sorted((command(i, n, a.args, a.api_level) for i, n in enumerate(names)),
                      key=lambda c: (c["name"], c["version"]))
    doc = {
        "format_version": 1,
        "api_level": a.api_level,
        "topics": [{"name": f"topic-{t:02d}", "doc": f"Synthetic topic {t}."} for t in range(30)],
        "classes": [],
        "commands": commands,
    }
    doc["fingerprint"] = fingerprint(doc)
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
