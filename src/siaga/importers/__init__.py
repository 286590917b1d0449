"""Importers: existing Prometheus rule files and Alertmanager configs as sections of ``siaga.yaml``.

Each importer is a pure function of parsed YAML (plus the file name, for messages) returning an
``ImportResult``: the spec fragment and the report of what could not be mapped, which ``${ENV_VAR}``
placeholders stand in for secrets, and notes. ``merge_into_spec`` puts a fragment into a spec's text.
"""

from siaga.importers.alertmanager import import_alertmanager
from siaga.importers.merge import MergeOutcome, dump_yaml, merge_into_spec
from siaga.importers.prometheus_rules import import_prometheus_rules
from siaga.importers.report import ImportResult, Note, Placeholder, SourceError, Unmapped, format_report
from siaga.importers.source import read_yaml

__all__ = [
    "ImportResult",
    "MergeOutcome",
    "Note",
    "Placeholder",
    "SourceError",
    "Unmapped",
    "dump_yaml",
    "format_report",
    "import_alertmanager",
    "import_prometheus_rules",
    "merge_into_spec",
    "read_yaml",
]
