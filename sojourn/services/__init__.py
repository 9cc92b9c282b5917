"""What the API, the CLI and the activities ask for: journeys and enrollment, triggers,
engagement, schedules. Services own the use cases; routes and activities only adapt them."""
