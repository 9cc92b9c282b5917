"""The contact-list enrollment workflow's interface: a direct enrollment too big to answer
inline, accepted durably and worked through in chunks; its per-contact results are a query."""

from dataclasses import dataclass, field

ENROLL_CONTACTS_ACTIVITY = "enroll_contacts"
CONTACT_RESULTS_QUERY = "contact_results"


def contacts_enrollment_workflow_id(journey_id: str, enrollment_id: str) -> str:
    return f"contacts-enrollment/{journey_id}/{enrollment_id}"


@dataclass(kw_only=True)
class ContactsEnrollmentInput:
    journey_id: str
    enrollment_id: str
    task_queue: str  # where the journey runs are started
    contacts: list[str]  # external ids, each once, in the caller's order
    chunk_size: int = 100  # contacts per activity


@dataclass(kw_only=True)
class EnrollContacts:
    journey_id: str
    task_queue: str
    contacts: list[str]


@dataclass(kw_only=True)
class ContactResult:
    contact: str
    status: str  # started | existing | not_found | failed
    workflow_id: str | None = None
    run_id: str | None = None
    version: int | None = None
    error: str | None = None


@dataclass(kw_only=True)
class EnrolledContacts:
    version: int | None
    results: list[ContactResult] = field(default_factory=list)


@dataclass(kw_only=True)
class ContactsEnrollmentState:
    journey_id: str
    enrollment_id: str
    status: str  # running | completed
    total: int
    version: int | None
    results: list[ContactResult] = field(default_factory=list)
