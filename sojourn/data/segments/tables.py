"""The tables a segment filter reads, as SQLAlchemy Core tables."""

from __future__ import annotations

from sojourn.data.models import Contact, ContactTag, EngagementEvent, Event, Message
from sojourn.data.predictions import ContactPrediction

contacts_table = Contact.__table__
events_table = Event.__table__
tags_table = ContactTag.__table__
messages_table = Message.__table__
engagement_table = EngagementEvent.__table__
predictions_table = ContactPrediction.__table__
