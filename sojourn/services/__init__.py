"""What the API, the CLI and the activities ask for, one module per use case: contacts, events,
journeys and direct enrollment, segment enrollments, runs, previews, segments, tag rules,
triggers, engagement (tracking, provider webhooks, unsubscribe, LINE follows), schedules,
batched sends, health. Services own the use cases and raise `sojourn.errors`; routes and
activities only adapt them."""
