"""The journey language: definitions, filters, durations, local times, templates, links and
validation. Pure: only the standard library, pydantic, jinja2 and yaml, so workflows may
import it through the sandbox."""
