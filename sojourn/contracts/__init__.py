"""What workflows, activities and their callers agree on: names, inputs and outputs, pure
dataclasses shared by the API, the services, the worker and the (sandboxed) workflows.

Each type only ever grows by defaulted fields, so recorded histories still decode; names are
strings stored in histories and must never change.
"""
