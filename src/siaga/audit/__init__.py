"""Collectors for ``siaga audit``: each turns what it inspects into ``siaga.domain.audit.Finding``s."""
