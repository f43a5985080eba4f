"""Loaded by the Python of the REST fuzzing test (tests/it/rest.rs puts this folder on
PYTHONPATH): a work-around for a CPython 3.11 bug, nothing of igor's.

hypothesis describes the lambdas of its strategies by parsing their source with `ast`. On
CPython 3.11 (Debian 12's, and 3.11.7 here) that parse can fail with SystemError "AST
constructor recursion depth mismatch" (CPython gh-106905) when it runs deep in
schemathesis' generators, and the crash ends the whole operation's fuzzing. The description
is only a label for reports: on that error it is left unknown, as hypothesis itself does
for a lambda whose source it cannot find.
"""
try:
    from hypothesis.internal import lambda_sources

    _describe = lambda_sources._lambda_description

    def _lambda_description(f, *args, **kwargs):
        try:
            return _describe(f, *args, **kwargs)
        except SystemError:
            return "lambda: <unknown>"

    lambda_sources._lambda_description = _lambda_description
except Exception:  # another hypothesis: nothing to mend
    pass
