"""The siaga.yaml language: models, loader with file:line errors, durations, JSON Schema.

Load a spec with ``load_spec(path)`` or ``parse_spec(text)``; both raise ``SpecError`` listing every issue.
"""

from siaga.spec.calendar import Recurrence, parse_recurrence, validate_cron
from siaga.spec.channels import (
    AppriseChannel,
    Channel,
    EmailChannel,
    PagerDutyChannel,
    Secret,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from siaga.spec.durations import Duration, format_duration, parse_duration
from siaga.spec.errors import SpecError, SpecIssue
from siaga.spec.loader import load_spec, parse_spec
from siaga.spec.models import (
    Escalation,
    MaintenanceWindow,
    Person,
    Project,
    Route,
    Schedule,
    Service,
    Severity,
    Spec,
    Step,
)

__all__ = [
    "AppriseChannel",
    "Channel",
    "Duration",
    "EmailChannel",
    "Escalation",
    "MaintenanceWindow",
    "PagerDutyChannel",
    "Person",
    "Project",
    "Recurrence",
    "Route",
    "Schedule",
    "Secret",
    "Service",
    "Severity",
    "SlackChannel",
    "Spec",
    "SpecError",
    "SpecIssue",
    "Step",
    "TelegramChannel",
    "WebhookChannel",
    "format_duration",
    "load_spec",
    "parse_duration",
    "parse_recurrence",
    "parse_spec",
    "validate_cron",
]
