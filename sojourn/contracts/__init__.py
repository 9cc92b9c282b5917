"""What workflows, activities and their callers agree on: names, inputs and outputs, pure
dataclasses shared by the API, the services, the worker and the workflows.

Each type only ever grows by defaulted fields, so recorded histories still decode; names are
strings stored in histories and must never change.

Modules here do not use `from __future__ import annotations`: Temporal's converter calls
`typing.get_type_hints` on every dataclass it decodes (each payload, each nested step), and
string annotations are evaluated anew each time (2.4 times the cost of decoding a send request).
"""
