"""Writes to scheduled assessments and responses. Import the submodule you need:
``scheduling`` (calendar), ``submission`` (answers, corrections, drafts), ``links``, ``sweep``."""
